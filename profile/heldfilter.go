package profile

import (
	"context"
	"hash/maphash"
	"log/slog"
	"sync/atomic"

	"github.com/kithhq/kith"
)

// IdentifierScanner is optional for a Store: it reads every identifier
// some profile holds, once, to fill the processor's filter of held
// identifiers (the SQLite store has it).
type IdentifierScanner interface {
	ScanIdentifiers(ctx context.Context, fn func(kith.Identifier)) error
}

// heldFilter is a Bloom filter of the identifiers some profile holds, kept
// with the processor's cache (a single writer's). It answers "held by
// nobody" for most of an import's identifiers without a query: over a
// store of a million people, those probes of the identifiers' key were a
// tenth of an import's CPU. It can only err towards "maybe held", which
// costs the query it would have saved; an identifier it says nobody holds
// is never one a profile holds, because every link the processor makes is
// added before it commits and the rest were read from the store after the
// filter began taking them. An erased identifier stays in it, a false
// "maybe".
//
// Its size is fixed: 2^27 bits (16 MB) and four probes, about 1 false
// "maybe" in 200 at ten million identifiers.
type heldFilter struct {
	seed  maphash.Seed
	bits  []atomic.Uint64
	ready atomic.Bool // the store's identifiers are all in
}

const (
	heldFilterBits   = 1 << 27
	heldFilterProbes = 4
)

func newHeldFilter() *heldFilter {
	return &heldFilter{seed: maphash.MakeSeed(), bits: make([]atomic.Uint64, heldFilterBits/64)}
}

// positions are the bits of id: double hashing of one 64-bit hash.
func (f *heldFilter) positions(id kith.Identifier) [heldFilterProbes]uint64 {
	var h maphash.Hash
	h.SetSeed(f.seed)
	h.WriteString(id.Type)
	h.WriteByte(0)
	h.WriteString(id.Value)
	sum := h.Sum64()
	a, b := sum, sum>>32|1
	var out [heldFilterProbes]uint64
	for i := range out {
		out[i] = (a + uint64(i)*b) % heldFilterBits
	}
	return out
}

func (f *heldFilter) add(id kith.Identifier) {
	for _, p := range f.positions(id) {
		w := &f.bits[p/64]
		if bit := uint64(1) << (p % 64); w.Load()&bit == 0 {
			w.Or(bit)
		}
	}
}

// heldByNobody reports whether no profile holds id for certain: only once
// the store's identifiers are all in.
func (f *heldFilter) heldByNobody(id kith.Identifier) bool {
	if !f.ready.Load() {
		return false
	}
	for _, p := range f.positions(id) {
		if f.bits[p/64].Load()&(uint64(1)<<(p%64)) == 0 {
			return true
		}
	}
	return false
}

// fill reads the store's identifiers into the filter, then marks it ready;
// on an error it stays unready, and every identifier is looked up.
func (f *heldFilter) fill(ctx context.Context, s IdentifierScanner, log *slog.Logger) {
	if err := s.ScanIdentifiers(ctx, f.add); err != nil {
		if ctx.Err() == nil {
			log.Warn("profile processor: filter of held identifiers not filled; every new identifier is looked up", "err", err)
		}
		return
	}
	f.ready.Store(true)
}
