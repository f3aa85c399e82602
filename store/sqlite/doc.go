// Package sqlite is Kith's embedded store: SQLite in WAL mode with
// synchronous=FULL, one write connection fed by a group-commit writer and a
// pool of read connections. It holds the event log too, so that a processor
// can commit its cursor in the same transaction as the changes it made.
package sqlite
