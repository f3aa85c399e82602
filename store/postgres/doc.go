// Package postgres is Kith's scale-out store: the same contracts as the
// embedded store (the event log, sources, keys, users, sessions, the audit
// trail and profile storage) kept in PostgreSQL, so that several kith nodes
// can share one database. It passes the contract suite in store/storetest.
//
// What SQLite got from its single writer, this package gets from the
// database: appends serialise on a transaction-level advisory lock so that
// seq order is commit order, a processor's transaction locks its cursor row,
// and profile changes lock the rows they touch (the order is written down at
// the top of profiles.go). Transactions that lose a deadlock or a
// serialization race are run again, a few times, inside the store.
package postgres
