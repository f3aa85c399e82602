// Package importer brings customer records from other systems into Kith: it
// streams a CSV file, maps its columns to identifiers and traits, turns each
// row into an identify event of its source and appends it to the event log,
// so that imported records go through the same identity resolution, traits
// with provenance and timeline as live events.
//
// A row's messageId is derived from its mapped, normalised content, so the
// log's (source, messageId) uniqueness makes importing the same rows again a
// no-op and an interrupted import safe to run again from the start.
package importer
