// Package http is Kith's HTTP edge: the Segment-compatible ingestion
// endpoints, the REST API and health and metrics. Handlers only translate:
// decode the request, call a domain service, encode the answer. The one
// table that maps error codes to statuses lives here.
package http
