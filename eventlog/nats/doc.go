// Package nats is Kith's scale-out event log on NATS JetStream: the append
// side of kith.EventLog.
//
// Events go to one stream (KITH_EVENTS by default) under the subjects
// kith.events.<partition>. The partition is a stable hash of the person key
// (anonymousId if present, else userId), so one person's events stay in
// order. An Append becomes one message per partition it touches, published
// asynchronously; it returns only when every message is acknowledged, and
// the server must fsync before acknowledging (sync_interval: always), which
// Open checks. Each message carries a Nats-Msg-Id derived from its events'
// (source, messageId) pairs, so an identical retried request within the
// stream's duplicate window is not stored twice. Decode reads a message back
// for the consumers that follow the log.
//
// See docs/scale-out.md, "The NATS JetStream log".
package nats
