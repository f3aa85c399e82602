// Package kith holds Kith's vocabulary: the domain types that every part of the
// customer data platform speaks (events, sources, API keys), the small
// contracts between the parts, and the error codes. It imports only the
// standard library; every other package imports it.
package kith
