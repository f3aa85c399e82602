package profile

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/identity"
	"github.com/kithhq/kith/store/sqlite"
)

// The processor's tests run against the embedded store, the one it runs on.

func openStore(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatalf("sqlite.Open: %v", err)
	}
	t.Cleanup(func() {
		if err := db.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return db
}

// spec is an event to append: what it is, who sent it, when (after t0) and
// its payload beyond the ids.
type spec struct {
	typ        kith.EventType
	ch         kith.Kind
	user, anon string
	at         time.Duration
	payload    string
}

// events builds log events from specs; message ids start at first.
func events(first int, specs ...spec) []kith.Event {
	out := make([]kith.Event, len(specs))
	for i, s := range specs {
		ts := t0.Add(s.at)
		payload := s.payload
		if payload == "" {
			payload = "{}"
		}
		out[i] = kith.Event{
			MessageID: fmt.Sprintf("msg-%03d", first+i), Type: s.typ, SourceID: "src-" + string(s.ch), Channel: s.ch,
			UserID: s.user, AnonymousID: s.anon, Timestamp: ts, ReceivedAt: ts.Add(time.Second), Payload: []byte(payload),
		}
	}
	return out
}

// appendEvents appends events to the log and returns them with their Seq.
func appendEvents(t *testing.T, log kith.EventLog, evs []kith.Event) []kith.Event {
	t.Helper()
	evs = append([]kith.Event(nil), evs...)
	res, err := log.Append(context.Background(), evs)
	if err != nil {
		t.Fatalf("Append: %v", err)
	}
	if res.Appended != len(evs) {
		t.Fatalf("Append: %d appended, want %d", res.Appended, len(evs))
	}
	return evs
}

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func testConfig(cache bool, batch int) Config {
	return Config{Identity: identity.DefaultConfig(), Intents: testIntentConfig(), BatchSize: batch, Cache: cache}
}

// drain steps until the processor has caught up, and returns how many
// events it applied.
func drain(t *testing.T, p *Processor) int {
	t.Helper()
	total := 0
	for range 10000 {
		n, err := p.Step(context.Background())
		if err != nil {
			t.Fatalf("Step: %v", err)
		}
		if n == 0 {
			return total
		}
		total += n
	}
	t.Fatalf("Step never caught up")
	return 0
}

func cursorOf(t *testing.T, s Store) int64 {
	t.Helper()
	cur, err := s.Cursor(context.Background(), CursorName)
	if err != nil {
		t.Fatalf("Cursor: %v", err)
	}
	return cur
}

// holder returns the one current profile holding an identifier.
func holder(t *testing.T, r Reader, typ, value string) *kith.Profile {
	t.Helper()
	ctx := context.Background()
	ids, err := r.ProfileIDsFor(ctx, kith.Identifier{Type: typ, Value: value})
	if err != nil {
		t.Fatalf("ProfileIDsFor(%s:%s): %v", typ, value, err)
	}
	if len(ids) != 1 {
		t.Fatalf("ProfileIDsFor(%s:%s) = %v, want one profile", typ, value, ids)
	}
	p, err := r.Profile(ctx, ids[0])
	if err != nil {
		t.Fatalf("Profile(%s): %v", ids[0], err)
	}
	return p
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Snapshots: everything processing decided, with the random profile and
// merge ids replaced by names derived from the log ("p7": the profile the
// event at seq 7 created), so that two stores fed the same log compare.

type snapLink struct {
	Identifier kith.Identifier
	Seq        int64
	MessageID  string
}

type snapEvent struct {
	Seq      int64
	Warnings []string
}

type snapConflict struct {
	Seq      int64
	Profiles []string
	Reason   string
}

type snapProfile struct {
	Profile   kith.Profile
	Links     []snapLink
	Timeline  []snapEvent
	Conflicts []snapConflict
}

type snapMerge struct {
	Survivor, Absorbed string
	Seq                int64
	MessageID, Reason  string
	At                 time.Time
	Undone             bool
}

type snapshot struct {
	Profiles map[string]snapProfile
	Holders  map[string][]string // identifier → the current profiles holding it
	Merges   []snapMerge
}

// identifiersOf returns every identifier the events carry.
func identifiersOf(cfg identity.Config, evs []kith.Event) []kith.Identifier {
	seen := map[kith.Identifier]bool{}
	var out []kith.Identifier
	for i := range evs {
		m, _ := decode(&evs[i])
		ids, _ := cfg.Extract(signals(&evs[i], m))
		if prev := rawString(m.PreviousID); prev != "" {
			ids = append(ids, kith.Identifier{Type: kith.IDUserID, Value: prev}, kith.Identifier{Type: kith.IDAnonymousID, Value: prev})
		}
		for _, id := range ids {
			if !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
	}
	return out
}

// takeSnapshot reads every profile reachable from the events' identifiers
// through the profile API's reader.
func takeSnapshot(t *testing.T, r Reader, cfg identity.Config, evs []kith.Event) snapshot {
	t.Helper()
	ctx := context.Background()
	profiles := map[string]*kith.Profile{}
	var queue []string
	visit := func(id string) {
		if _, ok := profiles[id]; !ok {
			profiles[id] = nil
			queue = append(queue, id)
		}
	}
	holders := map[kith.Identifier][]string{}
	for _, id := range identifiersOf(cfg, evs) {
		ps, err := r.ProfileIDsFor(ctx, id)
		if err != nil {
			t.Fatalf("ProfileIDsFor(%s): %v", id, err)
		}
		if len(ps) > 0 {
			holders[id] = ps
		}
		for _, p := range ps {
			visit(p)
		}
	}
	merges := map[string]kith.Merge{}
	conflicts := map[string][]kith.Conflict{}
	for len(queue) > 0 {
		id := queue[0]
		queue = queue[1:]
		p, err := r.Profile(ctx, id)
		if kith.IsCode(err, kith.ENOTFOUND) {
			continue // named by a record, but deleted by an undo
		}
		if err != nil {
			t.Fatalf("Profile(%s): %v", id, err)
		}
		profiles[id] = p
		if p.MergedInto != "" {
			visit(p.MergedInto)
		}
		ms, err := r.Merges(ctx, id)
		if err != nil {
			t.Fatalf("Merges(%s): %v", id, err)
		}
		for _, m := range ms {
			merges[m.ID] = m
			visit(m.Survivor)
			visit(m.Absorbed)
		}
		cs, err := r.Conflicts(ctx, id)
		if err != nil {
			t.Fatalf("Conflicts(%s): %v", id, err)
		}
		conflicts[id] = cs
		for _, c := range cs {
			for _, q := range c.Profiles {
				visit(q)
			}
		}
	}
	// Name profiles by the event that created them.
	names := map[string]string{}
	var pairs []string
	for id, p := range profiles {
		name := "deleted"
		if p != nil {
			name = fmt.Sprintf("p%d", p.CreatedSeq)
			for other, n := range names {
				if n == name {
					t.Fatalf("profiles %s and %s were both created by event %d", id, other, p.CreatedSeq)
				}
			}
		}
		names[id] = name
		pairs = append(pairs, id, name)
	}
	rename := strings.NewReplacer(pairs...)
	s := snapshot{Profiles: map[string]snapProfile{}, Holders: map[string][]string{}}
	for id, p := range profiles {
		if p == nil {
			continue
		}
		sp := snapProfile{Profile: *p}
		sp.Profile.ID, sp.Profile.MergedInto = names[id], names[p.MergedInto]
		if p.MergedInto != "" {
			// An absorbed profile's document is what its last batch wrote:
			// nothing reads it (its id answers the survivor, an undo
			// replays events), and it depends on batch boundaries.
			sp.Profile = kith.Profile{ID: sp.Profile.ID, MergedInto: sp.Profile.MergedInto,
				CreatedSeq: p.CreatedSeq, CreatedAt: p.CreatedAt}
		}
		links, err := r.Links(ctx, id)
		if err != nil {
			t.Fatalf("Links(%s): %v", id, err)
		}
		for _, l := range links {
			sp.Links = append(sp.Links, snapLink{Identifier: l.Identifier, Seq: l.Seq, MessageID: l.MessageID})
		}
		tl, err := r.Timeline(ctx, id, nil, 1<<20)
		if err != nil {
			t.Fatalf("Timeline(%s): %v", id, err)
		}
		for _, e := range tl {
			sp.Timeline = append(sp.Timeline, snapEvent{Seq: e.Seq, Warnings: e.Warnings})
		}
		for _, c := range conflicts[id] {
			sc := snapConflict{Seq: c.Seq, Reason: rename.Replace(c.Reason)}
			for _, q := range c.Profiles {
				sc.Profiles = append(sc.Profiles, names[q])
			}
			sort.Strings(sc.Profiles)
			sp.Conflicts = append(sp.Conflicts, sc)
		}
		s.Profiles[names[id]] = sp
	}
	for id, ps := range holders {
		var ns []string
		for _, p := range ps {
			ns = append(ns, names[p])
		}
		sort.Strings(ns)
		s.Holders[id.String()] = ns
	}
	for _, m := range merges {
		s.Merges = append(s.Merges, snapMerge{Survivor: names[m.Survivor], Absorbed: names[m.Absorbed], Seq: m.Seq,
			MessageID: m.MessageID, Reason: rename.Replace(m.Reason), At: m.At, Undone: !m.UndoneAt.IsZero()})
	}
	sort.Slice(s.Merges, func(i, j int) bool {
		a, b := s.Merges[i], s.Merges[j]
		if a.Seq != b.Seq {
			return a.Seq < b.Seq
		}
		return a.Absorbed < b.Absorbed
	})
	return s
}

// sameJSON compares trait values by what they say.
func sameJSON(a, b json.RawMessage) bool {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return string(a) == string(b)
	}
	return cmp.Equal(va, vb)
}

var snapOpts = cmp.Options{cmp.Comparer(sameJSON), cmpopts.EquateEmpty(), approx}

// checkEachEventOnce checks that every event sits on exactly one current
// profile's timeline and is counted once.
func checkEachEventOnce(t *testing.T, s snapshot, evs []kith.Event) {
	t.Helper()
	where := map[int64][]string{}
	total := 0
	for name, p := range s.Profiles {
		if p.Profile.MergedInto != "" {
			if len(p.Timeline) > 0 {
				t.Errorf("absorbed profile %s still has %d events on its timeline", name, len(p.Timeline))
			}
			continue
		}
		total += p.Profile.Events
		if p.Profile.Events != len(p.Timeline) {
			t.Errorf("profile %s counts %d events, its timeline holds %d", name, p.Profile.Events, len(p.Timeline))
		}
		for _, e := range p.Timeline {
			where[e.Seq] = append(where[e.Seq], name)
		}
	}
	if total != len(evs) {
		t.Errorf("current profiles count %d events, the log holds %d", total, len(evs))
	}
	for _, e := range evs {
		if len(where[e.Seq]) != 1 {
			t.Errorf("event %d (%s) is on the timelines of %v, want exactly one", e.Seq, e.MessageID, where[e.Seq])
		}
	}
}

// story is the log of a few people across channels: anonymous browsing on
// two devices then a login (merge), a call-center call by phone, a second
// user id on a shared anonymous id (unique conflict), a device id shared by
// profiles that then merge, a late event with an older trait, an alias, and
// a merge that the test undoes (before the events of afterUndo).
var story = []spec{
	{kith.TypePage, kith.KindWeb, "", "a1", time.Hour, `{"properties":{"path":"/insurance/car/quote"},"context":{"device":{"id":"dev1"}}}`},
	{kith.TypePage, kith.KindWeb, "", "a2", 2 * time.Hour, `{"properties":{"path":"/mortgage/rates"},"context":{"device":{"id":"dev2"}}}`},
	{kith.TypeTrack, kith.KindApp, "", "a2", 30 * time.Minute, `{"event":"Quote Requested","properties":{"category":"Car Insurance"}}`},
	{kith.TypeIdentify, kith.KindWeb, "u1", "a1", 3 * time.Hour, `{"traits":{"email":" Ann@Example.com ","name":"Ann Lee","phone":"(415) 555-0199"}}`},
	{kith.TypeTrack, kith.KindWeb, "u1", "a2", 4 * time.Hour, `{"event":"Signed In"}`},
	{kith.TypeIdentify, kith.KindCallCenter, "", "cc-1", 5 * time.Hour, `{"context":{"traits":{"phone":"+1 415 555 0199","plan":"gold"}}}`},
	{kith.TypeIdentify, kith.KindWeb, "u2", "a1", 6 * time.Hour, `{"traits":{"first_name":"Bob"},"context":{"device":{"id":"dev1"}}}`},
	{kith.TypeTrack, kith.KindWeb, "", "a1", 7 * time.Hour, `{"event":"Viewed","properties":{"path":"/insurance/car"}}`},
	{kith.TypeIdentify, kith.KindApp, "", "a3", 2 * time.Hour, `{"traits":{"email":"bob@example.com","firstName":"Bob","lastName":"Stone"},"context":{"device":{"id":"dev1"}}}`},
	{kith.TypeIdentify, kith.KindApp, "u2", "", 8 * time.Hour, `{"traits":{"email":"BOB@example.com"}}`},
	{kith.TypeIdentify, kith.KindWeb, "u1", "", 90 * time.Minute, `{"traits":{"name":"Ann Lee-Smith","email":"not an address"}}`},
	{kith.TypePage, kith.KindWeb, "", "a4", 9 * time.Hour, `{"properties":{"url":"https://example.com/insurance/car/compare"}}`},
	{kith.TypeIdentify, kith.KindWeb, "u3", "a5", 10 * time.Hour, `{"traits":{"name":"Cy Young"}}`},
	{kith.TypeTrack, kith.KindWeb, "u3", "a4", 11 * time.Hour, `{"event":"Quote Requested"}`}, // merges a5's profile into a4's; undone
}

var afterUndo = []spec{
	{kith.TypeTrack, kith.KindWeb, "u3", "a4", 12 * time.Hour, `{"event":"Quote Requested"}`}, // the same evidence again
	{kith.TypePage, kith.KindWeb, "", "a1", 13 * time.Hour, `{"properties":{"path":"/insurance/car"}}`},
	{kith.TypeAlias, kith.KindWeb, "u9", "", 14 * time.Hour, `{"previousId":"a4"}`},
	{kith.TypeTrack, kith.KindApp, "u2", "a3", 15 * time.Hour, `{"event":"Viewed","properties":{"category":"Pet Food"}}`},
}

// mergeBy returns the merge recorded for the event at seq, found through
// the profile holding id.
func mergeBy(t *testing.T, r Reader, id kith.Identifier, seq int64) kith.Merge {
	t.Helper()
	p := holder(t, r, id.Type, id.Value)
	ms, err := r.Merges(context.Background(), p.ID)
	if err != nil {
		t.Fatalf("Merges(%s): %v", p.ID, err)
	}
	for _, m := range ms {
		if m.Seq == seq {
			return m
		}
	}
	t.Fatalf("no merge by event %d among the merges of %s: %+v", seq, p.ID, ms)
	return kith.Merge{}
}

// playStory processes the story, undoes its last merge, processes the
// events after it, and returns what the store ends with.
func playStory(t *testing.T, cfg Config) (snapshot, []kith.Event) {
	t.Helper()
	db := openStore(t)
	p := NewProcessor(db, cfg, quietLog(), nil)
	evs := appendEvents(t, db, events(1, story...))
	drain(t, p)
	m := mergeBy(t, db, kith.Identifier{Type: kith.IDAnonymousID, Value: "a4"}, evs[len(evs)-1].Seq)
	if _, err := p.UndoMerge(context.Background(), m.ID); err != nil {
		t.Fatalf("UndoMerge(%s): %v", m.ID, err)
	}
	evs = append(evs, appendEvents(t, db, events(len(evs)+1, afterUndo...))...)
	drain(t, p)
	if got, want := cursorOf(t, db), evs[len(evs)-1].Seq; got != want {
		t.Fatalf("cursor at %d after processing, want %d", got, want)
	}
	return takeSnapshot(t, db, cfg.Identity, evs), evs
}

func TestStoryOutcome(t *testing.T) {
	s, evs := playStory(t, testConfig(false, 1000))
	checkEachEventOnce(t, s, evs)
	holders := func(id string) []string { return s.Holders[id] }
	for _, tt := range []struct {
		id   string
		want []string
	}{
		// Two devices, then a login: one profile, created by the first event.
		{"user_id:u1", []string{"p1"}},
		{"anonymous_id:a2", []string{"p1"}},
		{"email:ann@example.com", []string{"p1"}},
		{"phone:+14155550199", []string{"p1"}},
		{"anonymous_id:cc-1", []string{"p1"}},
		// u2 on a1 conflicts with u1: a1 is held by both.
		{"anonymous_id:a1", []string{"p1", "p7"}},
		{"user_id:u2", []string{"p7"}},
		{"email:bob@example.com", []string{"p7"}},
		{"anonymous_id:a3", []string{"p7"}},
		// dev1 does not link, and survives the merge of p9 into p7 once.
		{"device_id:dev1", []string{"p1", "p7"}},
		// The undone merge stays undone with the same evidence again.
		{"anonymous_id:a4", []string{"p12"}},
		{"user_id:u9", []string{"p12"}},
		{"user_id:u3", []string{"p13"}},
		{"anonymous_id:a5", []string{"p13"}},
	} {
		if diff := cmp.Diff(tt.want, holders(tt.id)); diff != "" {
			t.Errorf("holders of %s (-want +got):\n%s", tt.id, diff)
		}
	}
	var merges []string
	for _, m := range s.Merges {
		merges = append(merges, fmt.Sprintf("%s<-%s@%d undone=%v", m.Survivor, m.Absorbed, m.Seq, m.Undone))
	}
	want := []string{"p1<-p2@5 undone=false", "p7<-p9@10 undone=false", "p12<-p13@14 undone=true"}
	if diff := cmp.Diff(want, merges); diff != "" {
		t.Errorf("merges (-want +got):\n%s", diff)
	}
	ann := s.Profiles["p1"].Profile
	if got := string(ann.Traits["name"].Value); got != `"Ann Lee"` {
		t.Errorf("p1 name = %s, want \"Ann Lee\": the late event said an older name", got)
	}
	bob := s.Profiles["p7"].Profile
	if got := DisplayName(&bob); got != "Bob Stone" {
		t.Errorf("p7 name = %q, want Bob Stone", got)
	}
	if diff := cmp.Diff([]string{"bob stone", "stone bob"}, s.Profiles["p7"].Profile.SearchKeys); diff != "" {
		t.Errorf("p7 search keys (-want +got):\n%s", diff)
	}
	if len(s.Profiles["p7"].Conflicts) == 0 {
		t.Errorf("p7 has no conflict recorded for u2 on u1's anonymous id")
	}
	if ann.Channels[kith.KindApp] == nil || ann.Channels[kith.KindCallCenter] == nil || ann.Channels[kith.KindWeb] == nil {
		t.Errorf("p1 channels = %v, want web, app and call_center", ann.Channels)
	}
}

// The cache only saves reads: with it or without, in small batches or one
// large one, with a cache that keeps trimming itself, the same log ends in
// the same profiles, identifiers, merges and timelines.
func TestCacheIsOnlyAnOptimisation(t *testing.T) {
	want, evs := playStory(t, testConfig(false, 1000))
	checkEachEventOnce(t, want, evs)
	for _, cfg := range []Config{
		testConfig(false, 1),
		testConfig(false, 4),
		testConfig(true, 1000),
		testConfig(true, 1),
		testConfig(true, 3),
		func() Config { c := testConfig(true, 2); c.CacheProfiles = 1; return c }(),
	} {
		t.Run(fmt.Sprintf("cache=%v,batch=%d,max=%d", cfg.Cache, cfg.BatchSize, cfg.CacheProfiles), func(t *testing.T) {
			got, _ := playStory(t, cfg)
			if diff := cmp.Diff(want, got, snapOpts); diff != "" {
				t.Errorf("differs from processing without a cache in one batch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestStepAppliesABatchAndMovesTheCursor(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	p := NewProcessor(db, testConfig(true, 3), quietLog(), nil)
	var specs []spec
	for i := range 5 {
		specs = append(specs, spec{kith.TypeTrack, kith.KindWeb, "u1", "", time.Duration(i) * time.Minute, `{"event":"Viewed"}`})
	}
	evs := appendEvents(t, db, events(1, specs...))
	for _, want := range []struct {
		n      int
		cursor int64
	}{{3, evs[2].Seq}, {2, evs[4].Seq}, {0, evs[4].Seq}} {
		n, err := p.Step(ctx)
		if err != nil {
			t.Fatalf("Step: %v", err)
		}
		if n != want.n {
			t.Errorf("Step applied %d events, want %d", n, want.n)
		}
		if got := cursorOf(t, db); got != want.cursor {
			t.Errorf("cursor after Step = %d, want %d", got, want.cursor)
		}
	}
	if got := holder(t, db, kith.IDUserID, "u1").Events; got != 5 {
		t.Errorf("profile counts %d events, want 5", got)
	}
}

func TestEventsAreAppliedOnce(t *testing.T) {
	ctx := context.Background()
	for _, cache := range []bool{false, true} {
		t.Run(fmt.Sprintf("cache=%v", cache), func(t *testing.T) {
			db := openStore(t)
			p := NewProcessor(db, testConfig(cache, 100), quietLog(), nil)
			evs := appendEvents(t, db, events(1, story...))
			if n := drain(t, p); n != len(evs) {
				t.Fatalf("applied %d events, want %d", n, len(evs))
			}
			want := takeSnapshot(t, db, p.cfg.Identity, evs)
			checkEachEventOnce(t, want, evs)

			// Step again, from this processor and from a restarted one.
			if n, err := p.Step(ctx); n != 0 || err != nil {
				t.Errorf("Step after catching up = %d, %v; want 0, nil", n, err)
			}
			restarted := NewProcessor(db, testConfig(cache, 100), quietLog(), nil)
			if n, err := restarted.Step(ctx); n != 0 || err != nil {
				t.Errorf("Step of a restarted processor = %d, %v; want 0, nil", n, err)
			}
			// The same batch handed over twice is refused the second time.
			if err := p.applyBatch(ctx, positions{wholeLog: 0}, positions{wholeLog: evs[len(evs)-1].Seq}, evs, p.decodeAll(evs)); !kith.IsCode(err, kith.ECONFLICT) {
				t.Errorf("applyBatch of events already applied: %v, want a conflict", err)
			}
			if diff := cmp.Diff(want, takeSnapshot(t, db, p.cfg.Identity, evs), snapOpts); diff != "" {
				t.Errorf("stepping again changed profiles (-before +after):\n%s", diff)
			}
		})
	}
}

func TestConcurrentStepsApplyEachEventOnce(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	p := NewProcessor(db, testConfig(true, 2), quietLog(), nil)
	evs := appendEvents(t, db, events(1, story...))
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				n, err := p.Step(ctx)
				if err != nil && !kith.IsCode(err, kith.ECONFLICT) { // overtaken by another Step: read again
					errs <- err
					return
				}
				if n == 0 && err == nil {
					return
				}
			}
			errs <- errors.New("never caught up")
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Errorf("Step: %v", err)
	}
	got := takeSnapshot(t, db, p.cfg.Identity, evs)
	checkEachEventOnce(t, got, evs)
	want := reference(t, story)
	if diff := cmp.Diff(want, got, snapOpts); diff != "" {
		t.Errorf("concurrent steps differ from one pass (-want +got):\n%s", diff)
	}
}

// Two processors over one store, as two nodes (or two servers started on
// one data directory) would run: the cursor is checked inside the batch's
// transaction, so a batch is applied by one of them only.
func TestTwoProcessorsApplyEachEventOnce(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	gated := &gatedStore{DB: db, entered: make(chan struct{}), release: make(chan struct{})}
	p1 := NewProcessor(gated, testConfig(false, 100), quietLog(), nil)
	p2 := NewProcessor(db, testConfig(false, 100), quietLog(), nil)
	evs := appendEvents(t, db, events(1, spec{kith.TypeTrack, kith.KindWeb, "u1", "", 0, `{"event":"Viewed"}`}))
	done := make(chan error, 1)
	go func() {
		_, err := p1.Step(ctx)
		done <- err
	}()
	var release sync.Once
	t.Cleanup(func() { release.Do(func() { close(gated.release) }); <-done })
	<-gated.entered // p1 checked the cursor and is about to commit
	if n, err := p2.Step(ctx); n != 1 || err != nil {
		t.Fatalf("second processor's Step = %d, %v; want 1, nil", n, err)
	}
	release.Do(func() { close(gated.release) })
	err := <-done
	done <- err // for the cleanup
	if got := holder(t, db, kith.IDUserID, "u1").Events; got != 1 {
		t.Errorf("two processors both applied event %d (profile counts %d events, first Step returned %v)", evs[0].Seq, got, err)
	}
	if !kith.IsCode(err, kith.ECONFLICT) {
		t.Errorf("the first processor's Step, overtaken by the second, returned %v; want a conflict", err)
	}
}

// gatedStore holds its first Process until released.
type gatedStore struct {
	*sqlite.DB
	once             sync.Once
	entered, release chan struct{}
}

func (s *gatedStore) Process(ctx context.Context, cursor string, seq int64, fn func(kith.ProfileTx) error) error {
	s.once.Do(func() {
		close(s.entered)
		<-s.release
	})
	return s.DB.Process(ctx, cursor, seq, fn)
}

var errInjected = errors.New("injected failure")

// failingStore fails the Process calls numbered in failOn (from 1) after
// fn has run, so the transaction rolls back what the batch wrote and the
// processor's cache holds state the store never committed.
type failingStore struct {
	*sqlite.DB
	failOn map[int32]bool
	calls  atomic.Int32
}

func (s *failingStore) Process(ctx context.Context, cursor string, seq int64, fn func(kith.ProfileTx) error) error {
	if !s.failOn[s.calls.Add(1)] {
		return s.DB.Process(ctx, cursor, seq, fn)
	}
	return s.DB.Process(ctx, cursor, seq, func(tx kith.ProfileTx) error {
		if err := fn(tx); err != nil {
			return err
		}
		return errInjected
	})
}

// reference returns what a processor that never fails ends with.
func reference(t *testing.T, specs []spec) snapshot {
	t.Helper()
	db := openStore(t)
	p := NewProcessor(db, testConfig(false, 1000), quietLog(), nil)
	evs := appendEvents(t, db, events(1, specs...))
	drain(t, p)
	return takeSnapshot(t, db, p.cfg.Identity, evs)
}

func TestFailedBatchIsRetriedFromTheCursor(t *testing.T) {
	ctx := context.Background()
	want := reference(t, story)
	for _, cache := range []bool{false, true} {
		t.Run(fmt.Sprintf("cache=%v", cache), func(t *testing.T) {
			s := &failingStore{DB: openStore(t), failOn: map[int32]bool{2: true}}
			p := NewProcessor(s, testConfig(cache, 5), quietLog(), nil)
			evs := appendEvents(t, s, events(1, story...))
			if n, err := p.Step(ctx); n != 5 || err != nil {
				t.Fatalf("first Step = %d, %v; want 5, nil", n, err)
			}
			// The second batch merges profiles of the first: it fails after
			// the cache saw the merge.
			if _, err := p.Step(ctx); !errors.Is(err, errInjected) {
				t.Fatalf("second Step: %v, want the injected failure", err)
			}
			if got, want := cursorOf(t, s), evs[4].Seq; got != want {
				t.Errorf("cursor after a failed batch = %d, want %d (unmoved)", got, want)
			}
			if n := drain(t, p); n != len(evs)-5 {
				t.Errorf("after the failure %d events applied, want %d", n, len(evs)-5)
			}
			got := takeSnapshot(t, s, p.cfg.Identity, evs)
			checkEachEventOnce(t, got, evs)
			if diff := cmp.Diff(want, got, snapOpts); diff != "" {
				t.Errorf("differs from a processor that never failed (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRunProcessesNewEventsAndStops(t *testing.T) {
	db := openStore(t)
	s := &failingStore{DB: db, failOn: map[int32]bool{1: true}} // Run retries the first batch
	p := NewProcessor(s, testConfig(true, 3), quietLog(), nil)
	before := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()

	var evs []kith.Event
	for round, part := range [][]spec{story[:5], story[5:11], story[11:]} {
		evs = append(evs, appendEvents(t, db, events(len(evs)+1, part...))...)
		if round > 0 {
			p.Notify()
		}
		last := evs[len(evs)-1].Seq
		waitFor(t, fmt.Sprintf("the cursor to reach %d", last), func() bool { return cursorOf(t, db) == last })
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run after cancel: %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after its context was cancelled")
	}
	waitFor(t, "Run's goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
	if got := s.calls.Load(); got < 2 {
		t.Errorf("%d Process calls, want the failed one retried", got)
	}
	got := takeSnapshot(t, db, p.cfg.Identity, evs)
	checkEachEventOnce(t, got, evs)
	if diff := cmp.Diff(reference(t, story), got, snapOpts); diff != "" {
		t.Errorf("differs from stepping through the log (-want +got):\n%s", diff)
	}
}

func TestLag(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	p := NewProcessor(db, testConfig(true, 2), quietLog(), nil)
	now := t0.Add(time.Hour)
	p.now = func() time.Time { return now }
	if got, err := p.Lag(ctx); err != nil || !cmp.Equal(got, Lag{}) {
		t.Errorf("Lag of an empty log = %+v, %v; want zero", got, err)
	}
	evs := events(1,
		spec{kith.TypeTrack, kith.KindWeb, "u1", "", 0, `{"event":"A"}`},
		spec{kith.TypeTrack, kith.KindWeb, "u1", "", 0, `{"event":"B"}`},
		spec{kith.TypeTrack, kith.KindWeb, "u1", "", 0, `{"event":"C"}`},
	)
	for i := range evs {
		evs[i].ReceivedAt = now.Add(-90*time.Second + time.Duration(i)*30*time.Second) // 90 s, 60 s, 30 s ago
	}
	evs = appendEvents(t, db, evs)
	last := evs[2].Seq
	steps := []Lag{
		{Cursor: 0, LastSeq: last, Events: 3, Age: 90 * time.Second},
		{Cursor: evs[1].Seq, LastSeq: last, Events: 1, Age: 30 * time.Second},
		{Cursor: last, LastSeq: last, Events: 0, Age: 0},
	}
	for i, want := range steps {
		got, err := p.Lag(ctx)
		if err != nil {
			t.Fatalf("Lag: %v", err)
		}
		if !cmp.Equal(got, want) {
			t.Errorf("Lag after %d steps = %+v, want %+v", i, got, want)
		}
		if _, err := p.Step(ctx); err != nil {
			t.Fatalf("Step: %v", err)
		}
	}
}

func TestUndoMerge(t *testing.T) {
	ctx := context.Background()
	for _, cache := range []bool{false, true} {
		t.Run(fmt.Sprintf("cache=%v", cache), func(t *testing.T) {
			db := openStore(t)
			p := NewProcessor(db, testConfig(cache, 100), quietLog(), nil)
			evs := appendEvents(t, db, events(1,
				spec{kith.TypePage, kith.KindWeb, "", "a4", 9 * time.Hour, `{"properties":{"path":"/insurance/car"}}`},
				spec{kith.TypeIdentify, kith.KindWeb, "u3", "a5", 10 * time.Hour, `{"traits":{"name":"Cy Young"}}`},
				spec{kith.TypeTrack, kith.KindApp, "u3", "a4", 11 * time.Hour, `{"event":"Quote Requested"}`},
			))
			drain(t, p)
			merged := holder(t, db, kith.IDUserID, "u3")
			if got := holder(t, db, kith.IDAnonymousID, "a5"); got.ID != merged.ID || merged.Events != 3 {
				t.Fatalf("before the undo: a5 on %s, u3 on %s with %d events; want one profile of 3", got.ID, merged.ID, merged.Events)
			}
			m := mergeBy(t, db, kith.Identifier{Type: kith.IDUserID, Value: "u3"}, evs[2].Seq)

			if _, err := p.UndoMerge(ctx, "mrg_unknown"); !kith.IsCode(err, kith.ENOTFOUND) {
				t.Errorf("UndoMerge of an unknown merge: %v, want %s", err, kith.ENOTFOUND)
			}
			undone, err := p.UndoMerge(ctx, m.ID)
			if err != nil {
				t.Fatalf("UndoMerge(%s): %v", m.ID, err)
			}
			if undone.ID != m.ID || undone.UndoneAt.IsZero() {
				t.Errorf("UndoMerge returned %+v, want merge %s marked undone", undone, m.ID)
			}
			if cache && p.cache.filter != nil {
				t.Error("the filter of held identifiers outlived an undo, whose links it did not see")
			}
			if _, err := p.UndoMerge(ctx, m.ID); !kith.IsCode(err, kith.ECONFLICT) {
				t.Errorf("second UndoMerge: %v, want %s", err, kith.ECONFLICT)
			}

			check := func(when string, anonEvents, userEvents int) {
				t.Helper()
				anon, user := holder(t, db, kith.IDAnonymousID, "a4"), holder(t, db, kith.IDUserID, "u3")
				if anon.ID == user.ID {
					t.Fatalf("%s: a4 and u3 are on one profile %s", when, anon.ID)
				}
				if anon.ID != m.Survivor || user.ID != m.Absorbed {
					t.Errorf("%s: a4 on %s, u3 on %s; want them back on %s and %s", when, anon.ID, user.ID, m.Survivor, m.Absorbed)
				}
				if anon.MergedInto != "" || user.MergedInto != "" {
					t.Errorf("%s: merged into %q and %q, want both current", when, anon.MergedInto, user.MergedInto)
				}
				if anon.Events != anonEvents || user.Events != userEvents {
					t.Errorf("%s: %d and %d events, want %d and %d", when, anon.Events, user.Events, anonEvents, userEvents)
				}
				if got := holder(t, db, kith.IDAnonymousID, "a5").ID; got != user.ID {
					t.Errorf("%s: a5 on %s, want %s", when, got, user.ID)
				}
				if anon.Intents["car insurance"] == nil || user.Intents["car insurance"] != nil {
					t.Errorf("%s: car insurance intent on a4's profile %v and u3's %v; want only a4's", when, anon.Intents, user.Intents)
				}
				ms, err := db.Merges(ctx, user.ID)
				if err != nil {
					t.Fatalf("Merges: %v", err)
				}
				for _, x := range ms {
					if x.UndoneAt.IsZero() {
						t.Errorf("%s: merge %s of %s into %s is in force", when, x.ID, x.Absorbed, x.Survivor)
					}
				}
			}
			// The event that merged them stays with u3, whose id decides first.
			check("after the undo", 1, 2)

			evs = append(evs, appendEvents(t, db, events(len(evs)+1,
				spec{kith.TypeTrack, kith.KindWeb, "u3", "a4", 12 * time.Hour, `{"event":"Quote Requested"}`},
				spec{kith.TypeTrack, kith.KindWeb, "", "a4", 13 * time.Hour, `{"event":"Viewed"}`},
			))...)
			drain(t, p)
			check("after the same evidence again", 2, 3)
			checkEachEventOnce(t, takeSnapshot(t, db, p.cfg.Identity, evs), evs)
		})
	}
}

// cachingTx must answer what the store answers, inside the transaction
// that changes the graph and in later ones.
func TestCachingTxAgreesWithStore(t *testing.T) {
	ctx := context.Background()
	id := func(typ, v string) kith.Identifier { return kith.Identifier{Type: typ, Value: v} }
	universe := []kith.Identifier{
		id(kith.IDAnonymousID, "a1"), id(kith.IDAnonymousID, "a2"), id(kith.IDAnonymousID, "a3"),
		id(kith.IDDeviceID, "dev1"), id(kith.IDEmail, "ann@example.com"), id(kith.IDUserID, "u1"),
		id(kith.IDUserID, "u2"), id(kith.IDUserID, "never"),
	}
	link := func(i kith.Identifier, p string, seq int64) kith.Link {
		return kith.Link{Identifier: i, ProfileID: p, Seq: seq, MessageID: fmt.Sprintf("msg-%d", seq), SourceID: "src", At: t0}
	}
	sortIDs := cmpopts.SortSlices(func(a, b kith.Identifier) bool { return a.String() < b.String() })
	sortStrings := cmpopts.SortSlices(func(a, b string) bool { return a < b })

	// compare checks the cache's answers against the store's, both read
	// inside tx.
	compare := func(t *testing.T, step string, c *cache, tx kith.ProfileTx, profiles []string) {
		t.Helper()
		ct := &cachingTx{ProfileTx: tx, c: c}
		want, err := tx.ProfilesFor(ctx, universe)
		if err != nil {
			t.Fatalf("%s: store ProfilesFor: %v", step, err)
		}
		got, err := ct.ProfilesFor(ctx, universe)
		if err != nil {
			t.Fatalf("%s: cached ProfilesFor: %v", step, err)
		}
		if diff := cmp.Diff(want, got, sortStrings, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("%s: ProfilesFor (-store +cache):\n%s", step, diff)
		}
		for _, p := range profiles {
			want, err := tx.Identifiers(ctx, p)
			if err != nil {
				t.Fatalf("%s: store Identifiers(%s): %v", step, p, err)
			}
			got, err := ct.Identifiers(ctx, p)
			if err != nil {
				t.Fatalf("%s: cached Identifiers(%s): %v", step, p, err)
			}
			if diff := cmp.Diff(want, got, sortIDs, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("%s: Identifiers(%s) (-store +cache):\n%s", step, p, diff)
			}
			wantP, err := tx.Profile(ctx, p)
			if err != nil {
				t.Fatalf("%s: store Profile(%s): %v", step, p, err)
			}
			gotP, err := ct.Profile(ctx, p)
			if err != nil {
				t.Fatalf("%s: cached Profile(%s): %v", step, p, err)
			}
			if diff := cmp.Diff(wantP, gotP, snapOpts); diff != "" {
				t.Errorf("%s: Profile(%s) (-store +cache):\n%s", step, p, diff)
			}
		}
	}

	for _, warm := range []bool{true, false} {
		t.Run(fmt.Sprintf("compared after every step=%v", warm), func(t *testing.T) {
			db := openStore(t)
			c := newCache(1000)
			var profiles []string
			err := db.Process(ctx, "cache-test", 1, func(tx kith.ProfileTx) error {
				ct := &cachingTx{ProfileTx: tx, c: c}
				step := func(name string, fn func() error) {
					t.Helper()
					if err := fn(); err != nil {
						t.Fatalf("%s: %v", name, err)
					}
					if warm {
						compare(t, name, c, tx, profiles)
					}
				}
				newP := func(pid string, seq int64) *kith.Profile {
					profiles = append(profiles, pid)
					return newProfile(pid, &kith.Event{Seq: seq, Timestamp: t0.Add(time.Duration(seq) * time.Minute)})
				}
				step("nothing yet", func() error { return nil })
				a := newP("prf_a", 1)
				step("put a", func() error { return ct.PutProfile(ctx, a) })
				step("link a", func() error {
					for _, l := range []kith.Link{link(universe[0], "prf_a", 1), link(universe[3], "prf_a", 1), link(universe[4], "prf_a", 1)} {
						if err := ct.AddLink(ctx, l); err != nil {
							return err
						}
					}
					return nil
				})
				b := newP("prf_b", 2)
				step("put b with a shared device", func() error {
					if err := ct.PutProfile(ctx, b); err != nil {
						return err
					}
					if err := ct.AddLink(ctx, link(universe[1], "prf_b", 2)); err != nil {
						return err
					}
					return ct.AddLink(ctx, link(universe[3], "prf_b", 2))
				})
				step("update a", func() error {
					a.Events = 2
					a.Traits["name"] = trait(`"Ann"`, kith.KindWeb, t0, 3)
					a.SearchKeys = SearchKeys(a)
					return ct.PutProfile(ctx, a)
				})
				cp := newP("prf_c", 3)
				step("put c", func() error {
					if err := ct.PutProfile(ctx, cp); err != nil {
						return err
					}
					if err := ct.AddLink(ctx, link(universe[6], "prf_c", 3)); err != nil {
						return err
					}
					return ct.AddLink(ctx, link(universe[2], "prf_c", 3))
				})
				step("b absorbs c", func() error {
					return ct.Absorb(ctx, kith.Merge{ID: "mrg_1", Survivor: "prf_b", Absorbed: "prf_c", Seq: 4, MessageID: "msg-4", Reason: "x", At: t0})
				})
				step("a absorbs b, both holding dev1", func() error {
					return ct.Absorb(ctx, kith.Merge{ID: "mrg_2", Survivor: "prf_a", Absorbed: "prf_b", Seq: 5, MessageID: "msg-5", Reason: "y", At: t0})
				})
				step("link u1 to a", func() error { return ct.AddLink(ctx, link(universe[5], "prf_a", 6)) })
				compare(t, "end of the transaction", c, tx, profiles)
				return nil
			})
			if err != nil {
				t.Fatalf("Process: %v", err)
			}
			if err := db.Update(ctx, func(tx kith.ProfileTx) error {
				compare(t, "in a later transaction", c, tx, profiles)
				return nil
			}); err != nil {
				t.Fatalf("Update: %v", err)
			}
			if err := db.Update(ctx, func(tx kith.ProfileTx) error {
				p, err := (&cachingTx{ProfileTx: tx, c: c}).Profile(ctx, "prf_c")
				if err != nil {
					return err
				}
				if p.MergedInto != "prf_a" {
					t.Errorf("profile c merged into %q, want prf_a (its survivor was absorbed)", p.MergedInto)
				}
				return nil
			}); err != nil {
				t.Fatalf("Update: %v", err)
			}
		})
	}
}

// Linking an identifier a profile already holds is a no-op in the store
// (kith.ProfileTx.AddLink); the cache must agree.
func TestCachingTxLinkTwice(t *testing.T) {
	ctx := context.Background()
	db := openStore(t)
	c := newCache(1000)
	a1 := kith.Identifier{Type: kith.IDAnonymousID, Value: "a1"}
	l := kith.Link{Identifier: a1, ProfileID: "prf_a", Seq: 1, MessageID: "msg-1", SourceID: "src", At: t0}
	var got, want []kith.Identifier
	err := db.Process(ctx, "cache-test", 1, func(tx kith.ProfileTx) error {
		ct := &cachingTx{ProfileTx: tx, c: c}
		if err := ct.PutProfile(ctx, newProfile("prf_a", &kith.Event{Seq: 1, Timestamp: t0})); err != nil {
			return err
		}
		for range 2 {
			if err := ct.AddLink(ctx, l); err != nil {
				return err
			}
		}
		var err error
		if want, err = tx.Identifiers(ctx, "prf_a"); err != nil {
			return err
		}
		got, err = ct.Identifiers(ctx, "prf_a")
		return err
	})
	if err != nil {
		t.Fatalf("Process: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("linking a held identifier again changed the cache (-store +cache):\n%s", diff)
	}
}

// Ids sort in the order they were made (the store writes new profiles at
// the end of its indexes), and never repeat.
func TestNewIDSortsByTime(t *testing.T) {
	seen := map[string]bool{}
	prev := NewID("prf_")
	for i := range 2000 {
		if i%500 == 0 {
			time.Sleep(2 * time.Millisecond)
		}
		id := NewID("prf_")
		if len(id) != len("prf_")+24 || strings.ToLower(id) != id {
			t.Fatalf("id %q: want prf_ and 24 lower-case characters", id)
		}
		if seen[id] {
			t.Fatalf("id %q made twice", id)
		}
		seen[id] = true
		if at(t, id) < at(t, prev) {
			t.Fatalf("%q made after %q sorts before it", id, prev)
		}
		prev = id
	}
}

// at decodes the time an id says it was made.
func at(t *testing.T, id string) uint64 {
	b, err := idEncoding.DecodeString(id[len("prf_"):])
	if err != nil || len(b) != 15 {
		t.Fatalf("id %q: %v", id, err)
	}
	var ms uint64
	for _, x := range b[:6] {
		ms = ms<<8 | uint64(x)
	}
	if d := time.Since(time.UnixMilli(int64(ms))); d < 0 || d > time.Minute {
		t.Fatalf("id %q says it was made %v ago", id, d)
	}
	return ms
}
