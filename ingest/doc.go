// Package ingest turns Segment HTTP Tracking API requests into events: it
// parses single messages and batches as the real SDKs send them, validates
// each message, corrects client clock skew, fills in missing message ids, and
// appends the valid events to the event log before anything is acknowledged.
package ingest
