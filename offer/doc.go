// Package offer keeps promises on every channel: the offer catalog with its
// versions and honour policies, grants of an offer to one person through one
// channel, and redemption of a grant, once, on any channel that may redeem
// it. The rules live here; the store guards what must hold across nodes
// (budgets, the per-person limit, one redemption per grant) inside one
// transaction. Every grant, redemption and void is recorded in the audit log
// and announced on the person's timeline by a ledger event, queued in the
// store with the change and relayed to the event log.
package offer
