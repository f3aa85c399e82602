// Package matching recognises, as profiles change, people who are one
// person without a shared key: the same name with a typo, an old address,
// a birth date with two digits swapped. It keeps a blocking index of every
// current profile's person record (names, address, birth date from traits),
// scores a changed profile against its candidates with the match package's
// Fellegi–Sunter model, and acts on the probability: at or above the
// automatic threshold it merges the two through the event log (identity
// resolution's merge rules still hold: never across a unique conflict), in
// the review band it queues the pair for a data steward, below it does
// nothing. Households are never merged. A pair is decided once: a rejected
// pair and an undone merge are remembered and not proposed again.
package matching
