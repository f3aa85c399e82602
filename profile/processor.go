package profile

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/computed"
	"github.com/kithhq/kith/identity"
)

// Store is what the processor needs from the embedded or scale-out store.
type Store interface {
	kith.EventReader
	// Process runs fn in one transaction that also moves the named cursor
	// to seq, so the changes and the cursor commit together. A store may
	// run fn again after a conflict with another writer (a deadlock, a
	// serialisation failure): fn must not keep state from a failed attempt,
	// which is why the processor's cache is only for a single writer.
	Process(ctx context.Context, cursor string, seq int64, fn func(kith.ProfileTx) error) error
	// Update runs fn in one transaction without moving a cursor.
	Update(ctx context.Context, fn func(kith.ProfileTx) error) error
	// Cursor returns the named cursor's position (0 if never moved).
	Cursor(ctx context.Context, name string) (int64, error)
	// LastSeq returns the newest event's position in the log.
	LastSeq(ctx context.Context) (int64, error)
}

// Config configures processing.
type Config struct {
	Identity  identity.Config
	Intents   IntentConfig
	Purchases PurchaseConfig
	// LifecycleSource is the id of the source whose StageChangedEvent
	// events set a profile's stage ("" heeds none).
	LifecycleSource string
	// Computed is the computed traits folded into each profile (nil:
	// none); definitions may be added to it while the processor runs.
	Computed  *computed.Set
	BatchSize int // events per transaction at most (default 20,000)
	// Cache keeps the identity graph and profiles in memory between
	// batches. Only for a store this processor alone writes (embedded).
	Cache bool
	// CacheProfiles bounds the cache (default 500,000 profiles).
	CacheProfiles int
	// Node names this node among those sharing a partitioned store's
	// partitions (default: a random name per processor).
	Node string
	// LeaseTTL is how long a node holds the partitions it claimed
	// without claiming again: how long a dead node's partitions wait
	// before others take them (default 10 s). Claims run every third
	// of it.
	LeaseTTL time.Duration
}

// CursorName is the processor's cursor in the store; a partitioned store
// has one per partition, named CursorName.<partition>.
const CursorName = "profiles"

// wholeLog stands for "every partition" where a partition is expected: the
// log of a store that is not Partitioned.
const wholeLog = -1

func cursorName(part int) string {
	if part == wholeLog {
		return CursorName
	}
	return CursorName + "." + strconv.Itoa(part)
}

// Processor follows the event log and applies each event to its profile
// exactly once: the cursor moves in the same transaction as the changes.
type Processor struct {
	store  Store
	parts  Partitioned // nil unless the store is partitioned
	cfg    Config
	log    *slog.Logger
	wake   waker
	mu     sync.RWMutex // batches share it (one per partition); an undo has it alone
	now    func() time.Time
	onDone func(BatchDone)
	cache  *cache // nil unless Config.Cache

	heldMu sync.Mutex
	held   []int // the partitions this node processes now
}

// BatchDone describes a committed batch.
type BatchDone struct {
	Events int
	Merges int // profiles absorbed into others
	// Purchased lists the profiles that got an order in the batch.
	Purchased []string
	// Described lists the profiles whose events in the batch said
	// something of them (traits) or that absorbed another: what the
	// probabilistic matcher looks at again.
	Described []string
	// Changed lists every profile the batch wrote or absorbed into
	// another: what audiences look at again.
	Changed []string
	// Touched says, for each profile of Changed, what of it the batch may
	// have changed: "traits.NAME", "computed.NAME", "intents",
	// "purchases", "lifecycle", "channels", "events", "identifiers", or
	// "*" for anything (a new profile, a merge, one absorbed).
	Touched map[string]map[string]bool
	// Profiles holds the profiles of Changed as the batch left them, for
	// whoever evaluates them at once; they are shared: read, never change
	// them, and only until the callback returns.
	Profiles map[string]*kith.Profile
	Took     time.Duration
}

// NewProcessor returns a processor over store. onBatch, if set, is called
// after each committed batch.
func NewProcessor(store Store, cfg Config, log *slog.Logger, onBatch func(BatchDone)) *Processor {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 20000
	}
	if cfg.Intents.HalfLife <= 0 {
		cfg.Intents.HalfLife = 72 * time.Hour
	}
	if log == nil {
		log = slog.Default()
	}
	if cfg.Cache && cfg.CacheProfiles <= 0 {
		cfg.CacheProfiles = 500_000
	}
	if cfg.Purchases.Events == nil && cfg.Purchases.AmountFields == nil {
		cfg.Purchases = DefaultPurchaseConfig()
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = 10 * time.Second
	}
	if cfg.Node == "" {
		cfg.Node = NewID("node_")
	}
	p := &Processor{store: store, cfg: cfg, log: log, now: time.Now, onDone: onBatch}
	p.wake.ch = make(chan struct{})
	if ps, ok := store.(Partitioned); ok && ps.Partitions() > 0 {
		p.parts = ps
		p.cfg.Cache = false // several processors write the store
	}
	if p.cfg.Cache {
		p.cache = newCache(cfg.CacheProfiles)
	}
	return p
}

// Config returns the processor's configuration.
func (p *Processor) Config() Config { return p.cfg }

// Notify tells the processor that new events were appended.
func (p *Processor) Notify() {
	if p == nil {
		return
	}
	p.wake.notify()
}

// waker wakes every reader waiting for new events at once.
type waker struct {
	mu sync.Mutex
	ch chan struct{} // closed and replaced by notify
}

func (w *waker) wait() <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ch
}

func (w *waker) notify() {
	w.mu.Lock()
	close(w.ch)
	w.ch = make(chan struct{})
	w.mu.Unlock()
}

// Run processes events until ctx ends. Reading and decoding the next batch
// overlaps with applying the current one. A failing batch is retried after
// a pause from the cursor; it is never skipped. On a partitioned store the
// node processes the partitions it claims (see Partitioned), one
// goroutine each, and gives them back when ctx ends.
func (p *Processor) Run(ctx context.Context) error {
	if p.parts != nil {
		return p.runShared(ctx)
	}
	return p.follow(ctx, nil)
}

// follow applies the events of some partitions (nil: the whole log of a
// store that is not partitioned), in log order, until ctx ends.
func (p *Processor) follow(ctx context.Context, parts []int) error {
	backoff := 100 * time.Millisecond
	for ctx.Err() == nil {
		applied, err := p.pipeline(ctx, parts)
		if ctx.Err() != nil {
			return nil
		}
		if applied > 0 {
			backoff = 100 * time.Millisecond // it made progress: the failure is new
		}
		if errors.Is(err, errCursorMoved) {
			// Another node's processor applied the batch first (they take
			// turns on the cursor): not a failure; carry on from where it got.
			p.log.Debug("another processor moved the cursor; following it", "err", err)
			continue
		}
		p.log.Error("processing failed; retrying", "partitions", parts, "err", err, "retry_in", backoff)
		select {
		case <-time.After(backoff):
		case <-ctx.Done():
			return nil
		}
		backoff = min(2*backoff, 10*time.Second)
	}
	return nil
}

// linger is how long a reader of partitions waits after a small batch
// before it reads again: events trickle in, and a transaction for every
// few of them costs more than the wait.
const linger = 100 * time.Millisecond

// positions are cursors: the last event applied, per partition (or under
// wholeLog for a store that is not partitioned).
type positions map[int]int64

func (ps positions) clone() positions {
	out := make(positions, len(ps))
	for k, v := range ps {
		out[k] = v
	}
	return out
}

// readBatch is a batch of events read and decoded ahead of applying.
type readBatch struct {
	after   positions // the cursors the events follow
	moves   positions // where the batch leaves the cursors it moves
	events  []kith.Event
	decoded []decoded
	err     error
}

// cursors reads the committed cursors of parts (nil: the whole log).
func (p *Processor) cursors(ctx context.Context, parts []int) (positions, error) {
	if parts == nil {
		cur, err := p.store.Cursor(ctx, CursorName)
		return positions{wholeLog: cur}, err
	}
	out := positions{}
	for _, part := range parts {
		cur, err := p.store.Cursor(ctx, cursorName(part))
		if err != nil {
			return nil, err
		}
		out[part] = cur
	}
	return out, nil
}

// read returns up to limit events after pos, in log order, and where they
// leave the cursors.
func (p *Processor) read(ctx context.Context, pos positions, limit int) ([]kith.Event, positions, error) {
	if cur, ok := pos[wholeLog]; ok {
		evs, err := p.store.ReadEvents(ctx, cur, limit)
		if err != nil || len(evs) == 0 {
			return nil, nil, err
		}
		return evs, positions{wholeLog: evs[len(evs)-1].Seq}, nil
	}
	evs, parts, err := p.parts.ReadPartitions(ctx, pos, limit)
	if err != nil || len(evs) == 0 {
		return nil, nil, err
	}
	moves := positions{}
	for i := range evs {
		moves[parts[i]] = evs[i].Seq
	}
	return evs, moves, nil
}

// pipeline runs a reader that fetches and decodes batches after the
// cursors, and applies them in order, until an error or ctx ends.
func (p *Processor) pipeline(ctx context.Context, parts []int) (applied int, err error) {
	next, err := p.cursors(ctx, parts)
	if err != nil {
		return 0, err
	}
	rctx, cancel := context.WithCancel(ctx)
	batches := make(chan readBatch, 1)
	go func() {
		defer close(batches)
		for rctx.Err() == nil {
			woken := p.wake.wait() // before reading, so no notification falls between
			evs, moves, err := p.read(rctx, next, p.cfg.BatchSize)
			if err != nil {
				select {
				case batches <- readBatch{err: err}:
				case <-rctx.Done():
				}
				return
			}
			if len(evs) == 0 {
				select {
				case <-woken:
				case <-time.After(250 * time.Millisecond):
				case <-rctx.Done():
				}
				continue
			}
			b := readBatch{after: next, moves: moves, events: evs, decoded: p.decodeAll(evs)}
			select {
			case batches <- b:
			case <-rctx.Done():
				return
			}
			next = next.clone()
			for k, v := range moves {
				next[k] = v
			}
			if parts != nil && len(evs) < p.cfg.BatchSize/4 {
				select {
				case <-time.After(linger):
				case <-rctx.Done():
				}
			}
		}
	}()
	defer func() {
		cancel()
		for range batches { // let the reader finish
		}
	}()
	for b := range batches {
		if b.err != nil {
			return applied, b.err
		}
		if err := p.applyBatch(ctx, b.after, b.moves, b.events, b.decoded); err != nil {
			return applied, err
		}
		applied += len(b.events)
	}
	return applied, ctx.Err()
}

// Step reads, decodes and applies the next batch of events, if any, and
// returns how many: on a partitioned store, of every partition, whoever
// holds them. Tests and tools use it to process synchronously.
func (p *Processor) Step(ctx context.Context) (int, error) {
	var parts []int
	if p.parts != nil {
		parts = make([]int, p.parts.Partitions())
		for i := range parts {
			parts[i] = i
		}
	}
	pos, err := p.cursors(ctx, parts)
	if err != nil {
		return 0, err
	}
	evs, moves, err := p.read(ctx, pos, p.cfg.BatchSize)
	if err != nil || len(evs) == 0 {
		return 0, err
	}
	return len(evs), p.applyBatch(ctx, pos, moves, evs, p.decodeAll(evs))
}

// decoded is an event with what can be read from it alone, before it is
// resolved against the identity graph.
type decoded struct {
	msg      *message
	ids      []kith.Identifier
	warnings []string
}

func (p *Processor) decodeAll(evs []kith.Event) []decoded {
	out := make([]decoded, len(evs))
	for i := range evs {
		e := &evs[i]
		m, warnings := decode(e)
		ids, w := p.cfg.Identity.Extract(signals(e, m))
		out[i] = decoded{msg: m, ids: ids, warnings: append(warnings, w...)}
	}
	return out
}

// applyBatch applies decoded events, read after the cursors after, in one
// transaction that moves the cursors to moves. If a cursor is no longer
// where the batch began (another processor on the same store applied
// them), it applies nothing and returns ECONFLICT.
func (p *Processor) applyBatch(ctx context.Context, after, moves positions, evs []kith.Event, dec []decoded) error {
	if p.cache != nil {
		p.mu.Lock() // the cache has one writer
		defer p.mu.Unlock()
	} else {
		p.mu.RLock()
		defer p.mu.RUnlock()
	}
	names := make(map[string]int64, len(moves))
	for part, seq := range moves {
		names[cursorName(part)] = seq
	}
	var merges int
	var purchased, described, changed []string
	var touched map[string]map[string]bool
	var profiles map[string]*kith.Profile
	start := time.Now()
	if p.cache != nil {
		p.cache.trim()
		if sc, ok := p.store.(IdentifierScanner); ok && p.cache.filter == nil {
			// Filled beside the batches; used once full.
			p.cache.filter = newHeldFilter()
			go p.cache.filter.fill(ctx, sc, p.log)
		}
	}
	process := func(fn func(kith.ProfileTx) error) error {
		if len(names) == 1 && p.parts == nil {
			return p.store.Process(ctx, CursorName, moves[wholeLog], fn)
		}
		return p.parts.ProcessCursors(ctx, names, fn)
	}
	err := process(func(tx kith.ProfileTx) error {
		for part := range moves {
			name := cursorName(part)
			cur, err := tx.Cursor(ctx, name)
			if err != nil {
				return err
			}
			if cur != after[part] {
				return fmt.Errorf("%w: %w", errCursorMoved,
					kith.Errorf(kith.ECONFLICT, "cursor %s moved from %d to %d while the batch was read: another processor applied it", name, after[part], cur))
			}
		}
		if pl, ok := tx.(Preloader); ok {
			if err := pl.Preload(ctx, p.linking(evs, dec)); err != nil {
				return err
			}
		}
		b := p.newBatch(tx, nil)
		if b.pc != nil {
			// One query for every identifier of the batch the cache has
			// not seen, rather than one per event: most are new people's,
			// held by nobody, which the cache then remembers.
			if err := b.pc.preload(ctx, p.linking(evs, dec)); err != nil {
				return err
			}
		}
		for i := range evs {
			if err := b.apply(ctx, &evs[i], &dec[i]); err != nil {
				return fmt.Errorf("apply event %d (%s): %w", evs[i].Seq, evs[i].MessageID, err)
			}
		}
		merges, purchased, described, touched = b.merges, b.purchased, b.described, b.touched // of the attempt that commits
		changed = changed[:0]
		profiles = make(map[string]*kith.Profile, len(b.dirty))
		for id, written := range b.dirty {
			changed = append(changed, id) // written, or absorbed (false)
			if written {
				profiles[id] = b.cache[id]
			}
		}
		return b.flush(ctx)
	})
	if err != nil {
		if p.cache != nil {
			p.cache.reset() // it may hold what was rolled back
		}
		return err
	}
	if p.onDone != nil {
		p.onDone(BatchDone{Events: len(evs), Merges: merges, Purchased: purchased, Described: described, Changed: changed,
			Touched: touched, Profiles: profiles, Took: time.Since(start)})
	}
	return nil
}

// Preloader is optional for a store's kith.ProfileTx: applyBatch calls
// Preload with every linking identifier of a batch (and both readings of
// an alias's previousId) before it applies the batch's events, so that a
// store whose every read is a round trip (PostgreSQL) can read and lock
// them all at once. The identifiers are a hint: the store must still
// answer for any other. Preload runs inside fn, so a store that runs fn
// again gets it again. A store may rely on what applyBatch does after it:
// every existing profile it writes it has read first with Profile; a
// profile it puts without reading is new.
type Preloader interface {
	Preload(ctx context.Context, ids []kith.Identifier) error
}

// linking returns the identifiers applying evs may look up.
func (p *Processor) linking(evs []kith.Event, dec []decoded) []kith.Identifier {
	var out []kith.Identifier
	for i := range dec {
		for _, id := range dec[i].ids {
			if !p.cfg.Identity.Rule(id.Type).NoLink {
				out = append(out, id)
			}
		}
		if evs[i].Type == kith.TypeAlias && dec[i].msg != nil {
			if prev := rawString(dec[i].msg.PreviousID); prev != "" {
				out = append(out, kith.Identifier{Type: kith.IDUserID, Value: prev}, kith.Identifier{Type: kith.IDAnonymousID, Value: prev})
			}
		}
	}
	return out
}

// errCursorMoved: another processor (on another node) applied the batch
// this one read; they take turns on the cursor, and this one follows.
var errCursorMoved = errors.New("another processor moved the cursor")

// Lag is how far processing is behind the log.
type Lag struct {
	Cursor  int64         `json:"cursor"` // the lowest partition's, on a partitioned store
	LastSeq int64         `json:"last_seq"`
	Events  int64         `json:"events"`
	Age     time.Duration `json:"-"` // how long the oldest unprocessed event has waited
	// Partitions has each partition's lag, on a partitioned store.
	Partitions []PartitionLag `json:"partitions,omitempty"`
}

// PartitionLag is one partition's share of the lag.
type PartitionLag struct {
	Partition int           `json:"partition"`
	Node      string        `json:"node"` // holding its lease now; "" when none does
	Cursor    int64         `json:"cursor"`
	Events    int64         `json:"events"`
	Age       time.Duration `json:"-"`
}

// Lag measures how far processing is behind.
func (p *Processor) Lag(ctx context.Context) (Lag, error) {
	last, err := p.store.LastSeq(ctx)
	if err != nil {
		return Lag{}, err
	}
	if p.parts == nil {
		pl, err := p.partLag(ctx, wholeLog, last)
		return Lag{Cursor: pl.Cursor, LastSeq: last, Events: pl.Events, Age: pl.Age}, err
	}
	holders, err := p.parts.PartitionHolders(ctx)
	if err != nil {
		return Lag{}, err
	}
	l := Lag{LastSeq: last, Cursor: last}
	for part := range p.parts.Partitions() {
		pl, err := p.partLag(ctx, part, last)
		if err != nil {
			return l, err
		}
		if part < len(holders) {
			pl.Node = holders[part]
		}
		l.Partitions = append(l.Partitions, pl)
		l.Events += pl.Events
		l.Age = max(l.Age, pl.Age)
		l.Cursor = min(l.Cursor, pl.Cursor)
	}
	return l, nil
}

// Applied returns a position in the log up to which every event is
// applied: what follows the log behind the processor may read to it. On a
// partitioned store it is the lowest cursor of the partitions still
// behind (a partition with nothing to apply holds nothing back).
func (p *Processor) Applied(ctx context.Context) (int64, error) {
	l, err := p.Lag(ctx)
	if err != nil || p.parts == nil {
		return l.Cursor, err
	}
	applied := l.LastSeq
	for _, pl := range l.Partitions {
		if pl.Events > 0 {
			applied = min(applied, pl.Cursor)
		}
	}
	return applied, nil
}

func (p *Processor) partLag(ctx context.Context, part int, last int64) (PartitionLag, error) {
	pl := PartitionLag{Partition: part}
	var err error
	if pl.Cursor, err = p.store.Cursor(ctx, cursorName(part)); err != nil {
		return pl, err
	}
	if part == wholeLog {
		pl.Events = max(0, last-pl.Cursor)
	} else if pl.Events, err = p.parts.Backlog(ctx, part, pl.Cursor); err != nil {
		return pl, err
	}
	if pl.Events > 0 {
		var evs []kith.Event
		if part == wholeLog {
			evs, err = p.store.ReadEvents(ctx, pl.Cursor, 1)
		} else {
			evs, err = p.parts.ReadPartition(ctx, part, pl.Cursor, 1)
		}
		if err != nil {
			return pl, err
		}
		if len(evs) > 0 {
			pl.Age = max(0, p.now().Sub(evs[0].ReceivedAt))
		}
	}
	return pl, nil
}

// UndoMerge reverses one merge: the profiles of its cluster are rebuilt
// from their events as if it had never happened, and a do-not-link rule
// keeps the same evidence from joining them again.
func (p *Processor) UndoMerge(ctx context.Context, mergeID string) (*kith.Merge, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out *kith.Merge
	err := p.store.Update(ctx, func(tx kith.ProfileTx) error {
		m, err := tx.Merge(ctx, mergeID)
		if err != nil {
			return err
		}
		if !m.UndoneAt.IsZero() {
			return kith.Errorf(kith.ECONFLICT, "merge %s was already undone at %s", m.ID, m.UndoneAt.Format(time.RFC3339))
		}
		root, err := tx.Profile(ctx, m.Survivor)
		if err != nil {
			return err
		}
		rootID := root.ID
		if root.MergedInto != "" {
			rootID = root.MergedInto
		}
		cluster, err := tx.Cluster(ctx, rootID)
		if err != nil {
			return err
		}
		merges, err := tx.ClusterMerges(ctx, rootID)
		if err != nil {
			return err
		}
		events, err := tx.TimelineEvents(ctx, rootID)
		if err != nil {
			return err
		}
		now := p.now().UTC()
		if err := tx.AddDoNotLink(ctx, m.Survivor, m.Absorbed, m.ID, now); err != nil {
			return err
		}
		if err := tx.MarkMergeUndone(ctx, m.ID, now); err != nil {
			return err
		}
		ids := make([]string, len(cluster))
		reuse := &reuse{profiles: map[int64]string{}, merges: map[[2]string]string{}}
		for i, c := range cluster {
			ids[i] = c.ID
			reuse.profiles[c.CreatedSeq] = c.ID
		}
		for _, om := range merges {
			if om.ID != m.ID {
				reuse.merges[[2]string{om.Survivor, om.Absorbed}] = om.ID
			}
		}
		if err := tx.DeleteProfiles(ctx, ids); err != nil {
			return err
		}
		b := p.newBatch(tx, reuse)
		dec := p.decodeAll(events)
		for i := range events {
			if err := b.apply(ctx, &events[i], &dec[i]); err != nil {
				return fmt.Errorf("replay event %d: %w", events[i].Seq, err)
			}
		}
		if err := b.flush(ctx); err != nil {
			return err
		}
		m.UndoneAt = now
		out = m
		return nil
	})
	if p.cache != nil {
		p.cache.reset()      // the cluster was rebuilt outside the cache
		p.cache.filter = nil // and its links made outside the filter: filled again
	}
	return out, err
}

// Recompute rebuilds the named computed traits of the given profiles from
// their timelines, in one transaction, as the processor's one writer: how
// a newly defined trait is backfilled. Absorbed and unknown profiles are
// skipped. Those it rewrote are reported to the batch callback, touching
// the traits it rebuilt.
func (p *Processor) Recompute(ctx context.Context, ids, names []string) (int, error) {
	set := p.cfg.Computed
	if set == nil || len(ids) == 0 || len(names) == 0 {
		return 0, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	var done []string
	var profiles map[string]*kith.Profile
	err := p.store.Update(ctx, func(tx kith.ProfileTx) error {
		b := p.newBatch(tx, nil)
		done, profiles = done[:0], map[string]*kith.Profile{}
		for _, id := range ids {
			prof, err := b.tx.Profile(ctx, id)
			if kith.IsCode(err, kith.ENOTFOUND) {
				continue
			}
			if err != nil {
				return err
			}
			if prof.MergedInto != "" {
				continue
			}
			events, err := tx.TimelineEvents(ctx, id)
			if err != nil {
				return err
			}
			set.Recompute(prof, events, names)
			b.dirty[id] = true
			done, profiles[id] = append(done, id), prof
		}
		return b.flush(ctx)
	})
	if err != nil {
		if p.cache != nil {
			p.cache.reset()
		}
		return 0, err
	}
	if p.onDone != nil && len(done) > 0 {
		touched := make(map[string]map[string]bool, len(done))
		for _, id := range done {
			t := map[string]bool{}
			for _, n := range names {
				t["computed."+n] = true
			}
			touched[id] = t
		}
		p.onDone(BatchDone{Changed: done, Touched: touched, Profiles: profiles})
	}
	return len(done), nil
}

// reuse keeps ids stable when a cluster is rebuilt: a profile re-created
// by the same event, or a merge of the same two profiles, keeps its id.
type reuse struct {
	profiles map[int64]string
	merges   map[[2]string]string
}

// batch applies events inside one transaction, keeping the profiles it
// touched in memory and writing each back once at the end.
type batch struct {
	p     *Processor
	tx    kith.ProfileTx
	pc    *cachingTx // the processor's cache under tx; nil without one
	cache map[string]*kith.Profile
	dirty map[string]bool
	// unwritten holds the profiles created in this batch that have no row
	// yet (only with the processor's cache): each is written once, at the
	// end, unless something reads the row before (see writeNew).
	unwritten map[string]bool
	reuse     *reuse
	merges    int
	purchased []string // profiles that got an order, survivors of merges included later
	described []string // profiles told traits or absorbing others
	touched   map[string]map[string]bool
}

// touch notes that the batch may have changed what field of a profile.
func (b *batch) touch(id, field string) {
	t := b.touched[id]
	if t == nil {
		t = map[string]bool{}
		b.touched[id] = t
	}
	t[field] = true
}

func (p *Processor) newBatch(tx kith.ProfileTx, r *reuse) *batch {
	b := &batch{p: p, cache: map[string]*kith.Profile{}, dirty: map[string]bool{}, reuse: r, touched: map[string]map[string]bool{}}
	if p.cache != nil && r == nil {
		b.pc = &cachingTx{ProfileTx: tx, c: p.cache}
		b.unwritten = map[string]bool{}
		tx = b.pc
	}
	b.tx = &cachedTx{ProfileTx: tx, b: b}
	return b
}

// writeNew writes the rows of the profiles created in this batch and not
// written yet (all of them when ids is empty): what reads the profiles
// table in the store, a merge's update of the absorbed row or a
// do-not-link check, must find them there.
func (b *batch) writeNew(ctx context.Context, ids ...string) error {
	if len(ids) == 0 {
		for id := range b.unwritten {
			ids = append(ids, id)
		}
	}
	for _, id := range ids {
		if !b.unwritten[id] {
			continue
		}
		p := b.cache[id]
		p.SearchKeys = SearchKeys(p)
		if err := b.tx.PutProfile(ctx, p); err != nil {
			return err
		}
		delete(b.unwritten, id)
	}
	return nil
}

// cachedTx serves profiles this batch already holds from memory: their
// newest state is not written until flush.
type cachedTx struct {
	kith.ProfileTx
	b *batch
}

func (c *cachedTx) Profile(ctx context.Context, id string) (*kith.Profile, error) {
	if p, ok := c.b.cache[id]; ok {
		return p, nil
	}
	p, err := c.ProfileTx.Profile(ctx, id)
	if err != nil {
		return nil, err
	}
	c.b.cache[id] = p
	return p, nil
}

func (c *cachedTx) DoNotLink(ctx context.Context, a, b string) (bool, error) {
	if err := c.b.writeNew(ctx); err != nil {
		return false, err
	}
	return c.ProfileTx.DoNotLink(ctx, a, b)
}

func (b *batch) apply(ctx context.Context, e *kith.Event, d *decoded) error {
	if e.SourceID == kith.ErasedSource {
		return nil // what is left of an erased person's event: nothing
	}
	m, ids := d.msg, d.ids
	warnings := append([]string(nil), d.warnings...)
	if e.Type == kith.TypeAlias {
		if prev := rawString(m.PreviousID); prev != "" {
			id, err := b.previousID(ctx, prev)
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
	}
	plan, err := b.p.cfg.Identity.Resolve(ctx, b.tx, ids)
	if err != nil {
		return err
	}
	warnings = append(warnings, plan.Warnings...)
	var target *kith.Profile
	if plan.Target == "" {
		target = newProfile(b.newProfileID(e.Seq), e)
		b.cache[target.ID] = target
	} else if target, err = b.tx.Profile(ctx, plan.Target); err != nil {
		return err
	}
	b.dirty[target.ID] = true // and written again at the end of the batch
	if plan.Target == "" || len(plan.Absorb) > 0 {
		b.touch(target.ID, "*")
	}
	if plan.Target == "" {
		if b.unwritten != nil {
			// Written once, at the end of the batch, or before a merge or
			// a do-not-link check needs its row (writeNew).
			b.unwritten[target.ID] = true
			b.pc.created(target)
		} else if err := b.tx.PutProfile(ctx, target); err != nil {
			// Written at once: a merge later in this batch, or a
			// do-not-link check while an undo replays, must find the
			// profile's row.
			return err
		}
	}
	for _, a := range plan.Absorb {
		absorbed, err := b.tx.Profile(ctx, a)
		if err != nil {
			return err
		}
		if err := b.writeNew(ctx, a); err != nil {
			return err
		}
		b.p.cfg.Intents.absorb(target, absorbed)
		absorbCommerce(target, absorbed)
		computed.Absorb(target, absorbed)
		m := kith.Merge{ID: b.mergeID(target.ID, a), Survivor: target.ID, Absorbed: a, Seq: e.Seq,
			MessageID: e.MessageID, Reason: plan.Reasons[a], At: e.Timestamp}
		if err := b.tx.Absorb(ctx, m); err != nil {
			return err
		}
		absorbed.MergedInto = target.ID
		b.touch(a, "*")
		b.merges++
		b.dirty[a] = false
		delete(b.cache, a)
	}
	for _, id := range plan.Links {
		l := kith.Link{Identifier: id, ProfileID: target.ID, Seq: e.Seq, MessageID: e.MessageID, SourceID: e.SourceID, At: e.Timestamp}
		if err := b.tx.AddLink(ctx, l); err != nil {
			return err
		}
	}
	for _, c := range plan.Conflicts {
		c.Seq, c.MessageID, c.At = e.Seq, e.MessageID, e.Timestamp
		if !contains(c.Profiles, target.ID) {
			c.Profiles = append(c.Profiles, target.ID)
		}
		if err := b.tx.AddConflict(ctx, c); err != nil {
			return err
		}
	}
	if len(plan.Absorb) > 0 || m != nil && (len(m.Traits) > 0 || len(m.Context.Traits) > 0) {
		b.described = append(b.described, target.ID)
	}
	if len(plan.Links) > 0 {
		b.touch(target.ID, "identifiers")
	}
	b.touchFold(target, e, m, b.p.cfg.Intents.fold(target, e, m))
	if b.p.foldCommerce(target, e, m) {
		b.purchased = append(b.purchased, target.ID)
		b.touch(target.ID, "purchases")
	}
	return b.tx.AddTimeline(ctx, target.ID, e, warnings)
}

// touchFold notes what folding e may have changed of p, and folds it into
// p's computed traits.
func (b *batch) touchFold(p *kith.Profile, e *kith.Event, m *message, signalled bool) {
	b.touch(p.ID, "events")
	b.touch(p.ID, "channels")
	for _, traits := range []map[string]json.RawMessage{m.Context.Traits, identifyTraits(e, m)} {
		for name := range traits {
			b.touch(p.ID, "traits."+name)
		}
	}
	if signalled {
		b.touch(p.ID, "intents")
	}
	if e.Type == kith.TypeTrack && m.Event == StageChangedEvent {
		b.touch(p.ID, "lifecycle")
	}
	if !b.p.cfg.Computed.Empty() {
		b.p.cfg.Computed.Fold(p, e, m.Event, func(name string) { b.touch(p.ID, "computed."+name) })
	}
}

// previousID reads an alias call's previousId as the user id a profile
// holds, or else as an anonymous id.
func (b *batch) previousID(ctx context.Context, prev string) (kith.Identifier, error) {
	uid := kith.Identifier{Type: kith.IDUserID, Value: prev}
	found, err := b.tx.ProfilesFor(ctx, []kith.Identifier{uid})
	if err != nil {
		return uid, err
	}
	if len(found[uid]) > 0 {
		return uid, nil
	}
	return kith.Identifier{Type: kith.IDAnonymousID, Value: prev}, nil
}

func (b *batch) flush(ctx context.Context) error {
	for id, d := range b.dirty {
		if !d {
			continue
		}
		p := b.cache[id]
		p.SearchKeys = SearchKeys(p)
		if err := b.tx.PutProfile(ctx, p); err != nil {
			return err
		}
	}
	return nil
}

func (b *batch) newProfileID(seq int64) string {
	if b.reuse != nil {
		if id, ok := b.reuse.profiles[seq]; ok {
			return id
		}
	}
	return NewID("prf_")
}

func (b *batch) mergeID(survivor, absorbed string) string {
	if b.reuse != nil {
		if id, ok := b.reuse.merges[[2]string{survivor, absorbed}]; ok {
			return id
		}
	}
	return NewID("mrg_")
}

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewID returns a new id with a prefix: the time in milliseconds (6
// bytes) then 9 random bytes, so ids made later sort later. Profile ids are
// never derived from identifiers, so an id reveals nothing about the person
// but when it was made, which the profile says anyway.
//
// The time first is for the store: the profiles' primary key, the
// identifiers' index by profile and the timeline are all keyed by profile
// id, and new profiles' rows land at the end of each B-tree, in pages a
// batch has just written, rather than in a random page of each. Over a
// store larger than its page cache this is what keeps inserting new people
// from reading pages at random (docs/import.md).
func NewID(prefix string) string {
	var b [15]byte
	ms := uint64(time.Now().UnixMilli())
	for i := range 6 {
		b[i] = byte(ms >> (8 * (5 - i)))
	}
	rand.Read(b[6:])
	return prefix + idEncoding.EncodeToString(b[:])
}

func contains(ss []string, s string) bool {
	for _, x := range ss {
		if x == s {
			return true
		}
	}
	return false
}

// Erase removes a person's profiles from the identity graph as the
// processor's one writer, so no event of theirs is applied half-way
// through. then runs inside the same transaction with the log positions of
// their events, for the caller to remove the rest of them (the log's rows,
// primary data) before the profiles' removal commits: if then fails,
// nothing of the profiles is removed. A store may run the transaction
// again after a conflict, so then must be idempotent.
func (p *Processor) Erase(ctx context.Context, ids []string, then func(ctx context.Context, erased kith.ErasedProfiles) error) (kith.ErasedProfiles, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out kith.ErasedProfiles
	err := p.store.Update(ctx, func(tx kith.ProfileTx) error {
		var err error
		if out, err = tx.EraseProfiles(ctx, ids); err != nil {
			return err
		}
		if then != nil {
			return then(ctx, out)
		}
		return nil
	})
	if p.cache != nil {
		p.cache.reset() // the profiles were removed outside the cache
	}
	return out, err
}
