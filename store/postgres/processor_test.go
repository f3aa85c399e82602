package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/identity"
	"github.com/kithhq/kith/profile"
	"github.com/kithhq/kith/store/postgres"
)

// The profile processor, unchanged, on this store: the contract suite
// tests the store's methods one at a time; these run the resolver's real
// sequence of reads, locks and writes through them.

func newProcessor(db *postgres.DB) *profile.Processor {
	cfg := profile.Config{Identity: identity.DefaultConfig(), BatchSize: 25}
	return profile.NewProcessor(db, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
}

func track(n int, user, anon string, at time.Duration, payload string) kith.Event {
	ts := t0.Add(at)
	return kith.Event{MessageID: fmt.Sprintf("msg-%04d", n), Type: kith.TypeTrack, SourceID: "src_web", Channel: kith.KindWeb,
		UserID: user, AnonymousID: anon, Timestamp: ts, ReceivedAt: ts.Add(time.Second), Payload: []byte(payload)}
}

func holderOf(t *testing.T, db *postgres.DB, id kith.Identifier) *kith.Profile {
	t.Helper()
	ctx := context.Background()
	ids, err := db.ProfileIDsFor(ctx, id)
	if err != nil || len(ids) != 1 {
		t.Fatalf("ProfileIDsFor(%s) = %v, %v; want one profile", id, ids, err)
	}
	p, err := db.Profile(ctx, ids[0])
	if err != nil {
		t.Fatalf("Profile(%s): %v", ids[0], err)
	}
	return p
}

// drain steps p until it has caught up. Another processor may apply a
// batch first: that Step returns ECONFLICT and the next reads on.
func drain(t *testing.T, p *profile.Processor) {
	t.Helper()
	for range 10000 {
		n, err := p.Step(context.Background())
		if err != nil && !kith.IsCode(err, kith.ECONFLICT) {
			t.Errorf("Step: %v", err)
			return
		}
		if n == 0 && err == nil {
			return
		}
	}
	t.Errorf("Step never caught up")
}

// samePartition returns an anonymous id that starts with prefix and
// falls in the same partition as key: events of different people keep
// their order only within a partition.
func samePartition(t *testing.T, db *postgres.DB, key, prefix string) string {
	t.Helper()
	want := (kith.Event{AnonymousID: key}).Partition(db.Partitions())
	for i := range 1000 {
		id := fmt.Sprint(prefix, i)
		if (kith.Event{AnonymousID: id}).Partition(db.Partitions()) == want {
			return id
		}
	}
	t.Fatalf("no id with prefix %s in partition %d", prefix, want)
	return ""
}

func TestProcessorMergeAndUndo(t *testing.T) {
	ctx := context.Background()
	db := open(t, newSchema(t), postgres.Options{})
	p := newProcessor(db)
	// The second device is in the first's partition, so the events apply
	// in the order they were sent and the third merges two profiles.
	a5 := samePartition(t, db, "a4", "a5-")
	evs := []kith.Event{
		track(1, "", "a4", 9*time.Hour, `{"event":"Viewed"}`),
		track(2, "u3", a5, 10*time.Hour, `{"event":"Signed In"}`),
		track(3, "u3", "a4", 11*time.Hour, `{"event":"Quote Requested"}`),
	}
	if _, err := db.Append(ctx, evs); err != nil {
		t.Fatal(err)
	}
	drain(t, p)
	u3 := kith.Identifier{Type: kith.IDUserID, Value: "u3"}
	a4 := kith.Identifier{Type: kith.IDAnonymousID, Value: "a4"}
	merged := holderOf(t, db, u3)
	if holderOf(t, db, a4).ID != merged.ID || merged.Events != 3 {
		t.Fatalf("before the undo: want a4 and u3 on one profile of 3 events, got %+v", merged)
	}
	ms, err := db.Merges(ctx, merged.ID)
	if err != nil || len(ms) != 1 {
		t.Fatalf("Merges = %v, %v; want one", ms, err)
	}
	if _, err := p.UndoMerge(ctx, ms[0].ID); err != nil {
		t.Fatalf("UndoMerge: %v", err)
	}
	anon, user := holderOf(t, db, a4), holderOf(t, db, u3)
	if anon.ID == user.ID || anon.MergedInto != "" || user.MergedInto != "" || anon.Events+user.Events != 3 {
		t.Errorf("after the undo: a4 on %+v, u3 on %+v; want two current profiles sharing the 3 events", anon, user)
	}
	// The same evidence again does not join them: the do-not-link rule.
	if _, err := db.Append(ctx, []kith.Event{track(4, "u3", "a4", 12*time.Hour, `{"event":"Quote Requested"}`)}); err != nil {
		t.Fatal(err)
	}
	drain(t, p)
	if holderOf(t, db, a4).ID == holderOf(t, db, u3).ID {
		t.Errorf("a4 and u3 merged again after the undo")
	}
}

// Two nodes, each with its processor, follow one log of people who keep
// meeting (shared anonymous ids merge them): every event is applied once,
// on one current profile.
func TestTwoNodesProcessOneLog(t *testing.T) {
	ctx := context.Background()
	url := newSchema(t)
	nodes := []*postgres.DB{open(t, url, postgres.Options{}), open(t, url, postgres.Options{})}
	var evs []kith.Event
	for i := range 300 {
		// 20 people; person k's anonymous ids overlap person k+1's.
		k := i % 20
		evs = append(evs, track(i, fmt.Sprint("u", k), fmt.Sprintf("a%d-%d", (k+i/40)%20, i%3), time.Duration(i)*time.Minute, `{"event":"Viewed"}`))
	}
	var wg sync.WaitGroup
	for n, db := range nodes {
		wg.Go(func() {
			p := newProcessor(db)
			for i := n; i < len(evs); i += 2 * 10 {
				end := min(i+10, len(evs))
				// The nodes' ranges overlap (the second node resends most
				// of the first's events): each appends its own copy, as two
				// processes would, since Append sets Seq on what it is given.
				if _, err := db.Append(ctx, slices.Clone(evs[i:end])); err != nil {
					t.Errorf("node %d: Append: %v", n, err)
					return
				}
				drain(t, p)
			}
			drain(t, p)
		})
	}
	wg.Wait()
	for _, db := range nodes {
		drain(t, newProcessor(db))
	}
	stored, err := nodes[0].ReadEvents(ctx, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if lag, err := newProcessor(nodes[0]).Lag(ctx); err != nil || lag.Events != 0 {
		t.Errorf("lag after draining: %+v, %v; want none", lag, err)
	}
	seen := map[int64]string{}
	profiles := map[string]bool{}
	for _, e := range stored {
		ps, err := nodes[1].ProfileIDsFor(ctx, kith.Identifier{Type: kith.IDUserID, Value: e.UserID})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			profiles[p] = true
		}
	}
	total := 0
	for id := range profiles {
		p, err := nodes[1].Profile(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		if p.MergedInto != "" {
			t.Errorf("ProfileIDsFor returned %s, absorbed into %s", id, p.MergedInto)
			continue
		}
		tl, err := nodes[1].Timeline(ctx, id, nil, -1)
		if err != nil {
			t.Fatal(err)
		}
		if len(tl) != p.Events {
			t.Errorf("profile %s counts %d events, its timeline holds %d", id, p.Events, len(tl))
		}
		total += p.Events
		for _, e := range tl {
			if other, ok := seen[e.Seq]; ok {
				t.Errorf("event %d is on the timelines of %s and %s", e.Seq, other, id)
			}
			seen[e.Seq] = id
		}
	}
	if total != len(stored) || len(seen) != len(stored) {
		t.Errorf("current profiles hold %d events (%d distinct), the log %d", total, len(seen), len(stored))
	}
}

// Eight people, each seen with five anonymous ids and three e-mail
// addresses in random pairs; two nodes share the log's partitions (by
// anonymous id), so each person is assembled by both at once. Whatever the
// interleaving, the end is eight profiles, each holding its person's
// identifiers alone, with every event applied once.
func TestPartitionedProcessorsMergeOverlappingPeople(t *testing.T) {
	ctx := context.Background()
	url := newSchema(t)
	nodes := []*postgres.DB{open(t, url, postgres.Options{}), open(t, url, postgres.Options{})}
	const people, anons, emails, perPerson = 8, 5, 3, 30
	var evs []kith.Event
	n := 0
	for round := range perPerson {
		for g := range people {
			n++
			a := fmt.Sprintf("a%d-%d", g, (round*3+g)%anons)
			e := track(n, "", a, time.Duration(n)*time.Second, `{"event":"Viewed"}`)
			if round%2 == 1 {
				e.Type = kith.TypeIdentify
				e.Payload = fmt.Appendf(nil, `{"traits":{"email":"p%d-%d@example.com"}}`, g, (round*5+g)%emails)
			}
			evs = append(evs, e)
		}
	}
	if _, err := nodes[0].Append(ctx, evs); err != nil {
		t.Fatal(err)
	}
	runNodes(t, nodes, 0)
	total := 0
	for g := range people {
		var ids []kith.Identifier
		for a := range anons {
			ids = append(ids, kith.Identifier{Type: kith.IDAnonymousID, Value: fmt.Sprintf("a%d-%d", g, a)})
		}
		for e := range emails {
			ids = append(ids, kith.Identifier{Type: kith.IDEmail, Value: fmt.Sprintf("p%d-%d@example.com", g, e)})
		}
		p := holderOf(t, nodes[1], ids[0])
		if p.MergedInto != "" {
			t.Errorf("person %d: %s holds %s but was absorbed into %s", g, p.ID, ids[0], p.MergedInto)
		}
		for _, id := range ids[1:] {
			if q := holderOf(t, nodes[1], id); q.ID != p.ID {
				t.Errorf("person %d: %s on %s, %s on %s; want one profile", g, ids[0], p.ID, id, q.ID)
			}
		}
		links, err := nodes[1].Links(ctx, p.ID)
		if err != nil || len(links) != len(ids) {
			t.Errorf("person %d: profile %s holds %d identifiers (%v), want %d", g, p.ID, len(links), err, len(ids))
		}
		tl, err := nodes[1].Timeline(ctx, p.ID, nil, -1)
		if err != nil {
			t.Fatal(err)
		}
		if len(tl) != perPerson || p.Events != perPerson {
			t.Errorf("person %d: profile counts %d events, timeline holds %d; want %d", g, p.Events, len(tl), perPerson)
		}
		total += len(tl)
	}
	if total != len(evs) {
		t.Errorf("people hold %d events, the log %d", total, len(evs))
	}
}

// runNodes runs a processor on each node, sharing the partitions, until
// they have applied every event in the log and each node has held some
// partitions; ttl is their lease (0: a short one for tests).
func runNodes(t *testing.T, nodes []*postgres.DB, ttl time.Duration) []*profile.Processor {
	t.Helper()
	if ttl == 0 {
		ttl = 600 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var procs []*profile.Processor
	heldSome := make([]bool, len(nodes))
	for i, db := range nodes {
		cfg := profile.Config{Identity: identity.DefaultConfig(), BatchSize: 7, Node: fmt.Sprint("node-", i), LeaseTTL: ttl}
		p := profile.NewProcessor(db, cfg, slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
		procs = append(procs, p)
		wg.Go(func() { p.Run(ctx) })
	}
	defer func() {
		cancel()
		wg.Wait()
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		for i, p := range procs {
			heldSome[i] = heldSome[i] || len(p.Held()) > 0
		}
		lag, err := procs[0].Lag(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if lag.Events == 0 && !slices.Contains(heldSome, false) {
			return procs
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30 s: lag %+v; nodes that held partitions: %v", lag, heldSome)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// unbuffered hides Preload from the processor: every read and write of
// its transactions is a statement, as on a store without the overlay.
type unbuffered struct{ *postgres.DB }

type plainTx struct{ kith.ProfileTx }

func (s unbuffered) Process(ctx context.Context, cursor string, seq int64, fn func(kith.ProfileTx) error) error {
	return s.DB.Process(ctx, cursor, seq, func(tx kith.ProfileTx) error { return fn(plainTx{tx}) })
}

// The overlay (Preload, reads from memory, writes sent together) changes
// how a batch reaches the database, not what it decides: one log of
// people who meet, merge, alias and clash, processed with and without it,
// ends in the same profiles.
func TestPreloadedBatchesDecideAlike(t *testing.T) {
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	var evs []kith.Event
	for n := 1; n <= 400; n++ {
		g := rng.IntN(12)
		anon := fmt.Sprintf("a%d-%d", g, rng.IntN(4))
		if rng.IntN(10) == 0 {
			anon = fmt.Sprintf("shared-%d", rng.IntN(3)) // a shared device: clashes and merges
		}
		user := ""
		if rng.IntN(3) == 0 {
			user = fmt.Sprintf("u%d", g)
		}
		e := track(n, user, anon, time.Duration(n)*time.Second, `{"event":"Viewed"}`)
		switch rng.IntN(6) {
		case 0:
			e.Type = kith.TypeIdentify
			e.Payload = fmt.Appendf(nil, `{"traits":{"email":"p%d-%d@example.com","plan":"p%d"}}`, g, rng.IntN(2), n)
		case 1:
			e.Type, e.UserID = kith.TypeAlias, fmt.Sprintf("u%d", g)
			e.Payload = fmt.Appendf(nil, `{"previousId":"a%d-%d"}`, g, rng.IntN(4))
		}
		evs = append(evs, e)
	}
	type outcome struct {
		holders map[kith.Identifier][]int64 // by the CreatedSeq of each holder
		events  map[int64]int
		traits  map[int64]string
	}
	run := func(preload bool) outcome {
		db := open(t, newSchema(t), postgres.Options{})
		if _, err := db.Append(ctx, evs); err != nil {
			t.Fatal(err)
		}
		var s profile.Store = db
		if !preload {
			s = unbuffered{db}
		}
		p := profile.NewProcessor(s, profile.Config{Identity: identity.DefaultConfig(), BatchSize: 40},
			slog.New(slog.NewTextHandler(io.Discard, nil)), nil)
		drain(t, p)
		o := outcome{holders: map[kith.Identifier][]int64{}, events: map[int64]int{}, traits: map[int64]string{}}
		seen := map[string]bool{}
		for _, e := range evs {
			for _, id := range []kith.Identifier{{Type: kith.IDAnonymousID, Value: e.AnonymousID}, {Type: kith.IDUserID, Value: e.UserID}} {
				if id.Value == "" {
					continue
				}
				ps, err := db.ProfileIDsFor(ctx, id)
				if err != nil {
					t.Fatal(err)
				}
				for _, pid := range ps {
					pr, err := db.Profile(ctx, pid)
					if err != nil {
						t.Fatal(err)
					}
					o.holders[id] = append(o.holders[id], pr.CreatedSeq)
					if !seen[pid] {
						seen[pid] = true
						o.events[pr.CreatedSeq] = pr.Events
						b, _ := json.Marshal(pr.Traits)
						o.traits[pr.CreatedSeq] = string(b)
					}
				}
				slices.Sort(o.holders[id])
			}
		}
		return o
	}
	with, without := run(true), run(false)
	if diff := cmp.Diff(without, with, cmp.AllowUnexported(outcome{})); diff != "" {
		t.Errorf("with Preload, profiles differ (-without +with):\n%s", diff)
	}
}
