package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/importer"
	"github.com/kithhq/kith/profile"
)

// runProfiles runs the contracts of profile storage: profile.Store with the
// kith.ProfileTx it hands to Process and Update, and profile.Reader.
func runProfiles(t *testing.T, open func(t *testing.T) Store) {
	runEach(t, open, []storeTest{
		{"Profiles/CursorAndLastSeq", testCursorAndLastSeq},
		{"Profiles/ProcessMovesCursor", testProcessMovesCursor},
		{"Profiles/CursorInsideTransaction", testCursorInsideTransaction},
		{"Profiles/ProcessRollsBack", testProcessRollsBack},
		{"Profiles/UpdateRollsBack", testUpdateRollsBack},
		{"Profiles/ConcurrentProcess", testConcurrentProcess},
		{"Profiles/RoundTrip", testProfileRoundTrip},
		{"Profiles/Upsert", testProfileUpsert},
		{"Profiles/ReadInOneTransaction", testProfilesInOneTransaction},
		{"Profiles/Scan", testScanProfiles},
		{"Profiles/PurchasesAndStage", testPurchasesAndStage},
		{"Profiles/NotFound", testProfileNotFound},
		{"Profiles/TimePrecision", testProfileTimePrecision},
		{"Links/RoundTrip", testLinks},
		{"Links/Idempotent", testLinkIdempotent},
		{"Links/SharedIdentifier", testSharedIdentifier},
		{"Links/ManyInOneTransaction", testLinksInOneTransaction},
		{"Links/HoldersOf", testHoldersOf},
		{"Links/BulkReads", testBulkReads},
		{"Timeline/Order", testTimelineOrder},
		{"Timeline/Paging", testTimelinePaging},
		{"Timeline/EventsInLogOrder", testTimelineEvents},
		{"Merges/Absorb", testAbsorb},
		{"Merges/AbsorbSharedConflict", testAbsorbSharedConflict},
		{"Merges/MarkUndone", testMarkMergeUndone},
		{"Merges/DeleteProfiles", testDeleteProfiles},
		{"Conflicts/Idempotent", testConflicts},
		{"Conflicts/SameEvent", testConflictsOfOneEvent},
		{"DoNotLink", testDoNotLink},
		{"Search/Names", testSearchNames},
		{"Search/Identifiers", testSearchIdentifiers},
		{"Search/Limit", testSearchLimit},
	})
}

// errFailed is what a Process or Update function returns to roll back.
var errFailed = errors.New("storetest: failing on purpose")

// sameJSON reports whether two JSON values mean the same. A store may
// re-encode a trait's value (white space, key order, how a number is
// written); it may not change what it says.
func sameJSON(a, b json.RawMessage) bool {
	var va, vb any
	if json.Unmarshal(a, &va) != nil || json.Unmarshal(b, &vb) != nil {
		return string(a) == string(b)
	}
	return cmp.Equal(va, vb)
}

// profileOpts compares what the store read back with what was written:
// JSON values by meaning, times as instants, absent and empty alike.
var profileOpts = cmp.Options{cmp.Comparer(sameJSON), cmpopts.EquateEmpty()}

func raw(s string) json.RawMessage { return json.RawMessage(s) }

// newProfile returns a small current profile. seq orders creation; keys,
// if any, are its search keys, and the first is also its name trait.
func newProfile(id string, seq int64, keys ...string) *kith.Profile {
	created := at(time.Duration(seq) * time.Minute)
	p := &kith.Profile{
		ID: id, CreatedSeq: seq, CreatedAt: created, UpdatedAt: created.Add(time.Second),
		Traits: map[string]kith.Trait{
			"plan": {Value: raw(`"pro"`), SourceID: "src_1", Channel: kith.KindWeb, Time: created, Seq: seq},
		},
		Channels:   map[kith.Kind]*kith.ChannelSeen{kith.KindWeb: {First: created, Last: created, Events: 1}},
		Intents:    map[string]*kith.Intent{},
		Events:     1,
		SearchKeys: keys,
	}
	if len(keys) > 0 {
		v, _ := json.Marshal(keys[0])
		p.Traits["name"] = kith.Trait{Value: v, SourceID: "src_1", Channel: kith.KindWeb, Time: created, Seq: seq}
	}
	return p
}

func newLink(typ, value, profileID string, seq int64) kith.Link {
	return kith.Link{Identifier: kith.Identifier{Type: typ, Value: value}, ProfileID: profileID, Seq: seq,
		MessageID: fmt.Sprintf("msg-%d", seq), SourceID: "src_1", At: at(time.Duration(seq) * time.Minute)}
}

func newMerge(id, survivor, absorbed string, seq int64) kith.Merge {
	return kith.Merge{ID: id, Survivor: survivor, Absorbed: absorbed, Seq: seq, MessageID: fmt.Sprintf("msg-%d", seq),
		Reason: "email:" + absorbed + "@example.com", At: at(time.Duration(seq) * time.Minute)}
}

// update runs fn in one transaction and fails the test if it fails.
func update(t *testing.T, s Store, fn func(ctx context.Context, tx kith.ProfileTx) error) {
	t.Helper()
	ctx := context.Background()
	if err := s.Update(ctx, func(tx kith.ProfileTx) error { return fn(ctx, tx) }); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

// inTx returns what fn reads inside a transaction.
func inTx[T any](t *testing.T, s Store, what string, fn func(ctx context.Context, tx kith.ProfileTx) (T, error)) T {
	t.Helper()
	var out T
	ctx := context.Background()
	err := s.Update(ctx, func(tx kith.ProfileTx) error {
		var err error
		out, err = fn(ctx, tx)
		return err
	})
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return out
}

func putProfiles(t *testing.T, s Store, ps ...*kith.Profile) {
	t.Helper()
	update(t, s, func(ctx context.Context, tx kith.ProfileTx) error {
		for _, p := range ps {
			if err := tx.PutProfile(ctx, p); err != nil {
				return fmt.Errorf("PutProfile(%s): %w", p.ID, err)
			}
		}
		return nil
	})
}

func addLinks(t *testing.T, s Store, ls ...kith.Link) {
	t.Helper()
	update(t, s, func(ctx context.Context, tx kith.ProfileTx) error {
		for _, l := range ls {
			if err := tx.AddLink(ctx, l); err != nil {
				return fmt.Errorf("AddLink(%s, %s): %w", l.Identifier, l.ProfileID, err)
			}
		}
		return nil
	})
}

func absorb(t *testing.T, s Store, ms ...kith.Merge) {
	t.Helper()
	update(t, s, func(ctx context.Context, tx kith.ProfileTx) error {
		for _, m := range ms {
			if err := tx.Absorb(ctx, m); err != nil {
				return fmt.Errorf("Absorb(%s into %s): %w", m.Absorbed, m.Survivor, err)
			}
		}
		return nil
	})
}

func addConflicts(t *testing.T, s Store, cs ...kith.Conflict) {
	t.Helper()
	update(t, s, func(ctx context.Context, tx kith.ProfileTx) error {
		for _, c := range cs {
			if err := tx.AddConflict(ctx, c); err != nil {
				return fmt.Errorf("AddConflict(%d): %w", c.Seq, err)
			}
		}
		return nil
	})
}

// onTimeline puts each event on the profile's timeline, without warnings.
func onTimeline(t *testing.T, s Store, profileID string, events ...kith.Event) {
	t.Helper()
	update(t, s, func(ctx context.Context, tx kith.ProfileTx) error {
		for i := range events {
			if err := tx.AddTimeline(ctx, profileID, &events[i], nil); err != nil {
				return fmt.Errorf("AddTimeline(%s, %d): %w", profileID, events[i].Seq, err)
			}
		}
		return nil
	})
}

// appendTimed appends one event per offset (event times at(offset)) and
// returns them as stored, with their Seq.
func appendTimed(t *testing.T, s Store, prefix string, offsets ...time.Duration) []kith.Event {
	t.Helper()
	var sent []kith.Event
	for i, d := range offsets {
		e := event("src_1", fmt.Sprintf("%s-%d", prefix, i))
		e.Timestamp = at(d)
		sent = append(sent, e)
	}
	mustAppend(t, s, sent...)
	byID := map[string]kith.Event{}
	for _, e := range readAll(t, s) {
		byID[e.SourceID+"/"+e.MessageID] = e
	}
	out := make([]kith.Event, len(sent))
	for i, e := range sent {
		stored, ok := byID[e.SourceID+"/"+e.MessageID]
		if !ok {
			t.Fatalf("event %s not in the log after Append", e.MessageID)
		}
		out[i] = stored
	}
	return out
}

func readProfile(t *testing.T, s Store, id string) *kith.Profile {
	t.Helper()
	p, err := s.Profile(context.Background(), id)
	if err != nil {
		t.Fatalf("Profile(%s): %v", id, err)
	}
	return p
}

func readLinks(t *testing.T, s Store, profileID string) []kith.Link {
	t.Helper()
	ls, err := s.Links(context.Background(), profileID)
	if err != nil {
		t.Fatalf("Links(%s): %v", profileID, err)
	}
	return ls
}

func readTimeline(t *testing.T, s Store, profileID string, before *kith.TimelineCursor, limit int) []kith.TimelineEvent {
	t.Helper()
	evs, err := s.Timeline(context.Background(), profileID, before, limit)
	if err != nil {
		t.Fatalf("Timeline(%s, %v, %d): %v", profileID, before, limit, err)
	}
	return evs
}

func readConflicts(t *testing.T, s Store, profileID string) []kith.Conflict {
	t.Helper()
	cs, err := s.Conflicts(context.Background(), profileID)
	if err != nil {
		t.Fatalf("Conflicts(%s): %v", profileID, err)
	}
	return cs
}

func readMerges(t *testing.T, s Store, root string) []kith.Merge {
	t.Helper()
	ms, err := s.Merges(context.Background(), root)
	if err != nil {
		t.Fatalf("Merges(%s): %v", root, err)
	}
	return ms
}

func readCursor(t *testing.T, s Store, name string) int64 {
	t.Helper()
	c, err := s.Cursor(context.Background(), name)
	if err != nil {
		t.Fatalf("Cursor(%s): %v", name, err)
	}
	return c
}

func profileIDsFor(t *testing.T, s Store, typ, value string) []string {
	t.Helper()
	ids, err := s.ProfileIDsFor(context.Background(), kith.Identifier{Type: typ, Value: value})
	if err != nil {
		t.Fatalf("ProfileIDsFor(%s:%s): %v", typ, value, err)
	}
	return ids
}

func search(t *testing.T, s Store, name string, prefixes []kith.Identifier, limit int) []string {
	t.Helper()
	ids, err := s.SearchProfiles(context.Background(), name, prefixes, limit)
	if err != nil {
		t.Fatalf("SearchProfiles(%q, %v, %d): %v", name, prefixes, limit, err)
	}
	return ids
}

// Orders for results whose order the contracts leave open.
var (
	sortStrings = cmpopts.SortSlices(func(a, b string) bool { return a < b })
	sortLinks   = cmpopts.SortSlices(func(a, b kith.Link) bool {
		if a.ProfileID != b.ProfileID {
			return a.ProfileID < b.ProfileID
		}
		return a.Identifier.String() < b.Identifier.String()
	})
	sortIdentifiers = cmpopts.SortSlices(func(a, b kith.Identifier) bool { return a.String() < b.String() })
	sortMerges      = cmpopts.SortSlices(func(a, b kith.Merge) bool { return a.ID < b.ID })
)

func profileIDs(ps []*kith.Profile) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}

func messageIDs(evs []kith.TimelineEvent) []string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.MessageID
	}
	return out
}

func testCursorAndLastSeq(t *testing.T, s Store) {
	ctx := context.Background()
	for _, name := range []string{"profiles", "", "never moved"} {
		if got := readCursor(t, s, name); got != 0 {
			t.Errorf("Cursor(%q) of a new store = %d, want 0", name, got)
		}
	}
	last, err := s.LastSeq(ctx)
	if err != nil {
		t.Fatalf("LastSeq: %v", err)
	}
	if last != 0 {
		t.Errorf("LastSeq of an empty log = %d, want 0", last)
	}
	for call := range 3 {
		var batch []kith.Event
		for i := range 4 {
			batch = append(batch, event("src_1", fmt.Sprintf("m%d-%d", call, i)))
		}
		mustAppend(t, s, batch...)
		// A duplicate appends nothing and moves nothing.
		mustAppend(t, s, batch[0])
		all := readAll(t, s)
		want := all[len(all)-1].Seq
		if last, err = s.LastSeq(ctx); err != nil {
			t.Fatalf("LastSeq: %v", err)
		}
		if last != want {
			t.Errorf("LastSeq after %d appends = %d, want the newest Seq %d", call+1, last, want)
		}
	}
}

func testProcessMovesCursor(t *testing.T, s Store) {
	ctx := context.Background()
	p := newProfile("prf_1", 1, "ann lee")
	err := s.Process(ctx, "profiles", 7, func(tx kith.ProfileTx) error {
		if err := tx.PutProfile(ctx, p); err != nil {
			return err
		}
		if err := tx.AddLink(ctx, newLink(kith.IDEmail, "ann@example.com", p.ID, 1)); err != nil {
			return err
		}
		// What a transaction wrote, it reads.
		got, err := tx.Profile(ctx, p.ID)
		if err != nil {
			return fmt.Errorf("read the profile inside the transaction that put it: %w", err)
		}
		if diff := cmp.Diff(p, got, profileOpts); diff != "" {
			t.Errorf("Profile inside the transaction (-put +read):\n%s", diff)
		}
		ids, err := tx.Identifiers(ctx, p.ID)
		if err != nil {
			return err
		}
		if want := []kith.Identifier{{Type: kith.IDEmail, Value: "ann@example.com"}}; !cmp.Equal(want, ids) {
			t.Errorf("Identifiers inside the transaction that linked them = %v, want %v", ids, want)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("Process: %v", err)
	}
	if got := readCursor(t, s, "profiles"); got != 7 {
		t.Errorf("Cursor after Process to 7 = %d", got)
	}
	if diff := cmp.Diff(p, readProfile(t, s, p.ID), profileOpts); diff != "" {
		t.Errorf("profile after Process (-put +read):\n%s", diff)
	}
	if got := profileIDsFor(t, s, kith.IDEmail, "ann@example.com"); !cmp.Equal(got, []string{p.ID}) {
		t.Errorf("ProfileIDsFor after Process = %v, want [%s]", got, p.ID)
	}

	// Cursors are independent of each other.
	if got := readCursor(t, s, "other"); got != 0 {
		t.Errorf("Cursor(other) = %d, want 0", got)
	}
	noop := func(kith.ProfileTx) error { return nil }
	if err := s.Process(ctx, "other", 3, noop); err != nil {
		t.Fatalf("Process(other): %v", err)
	}
	if err := s.Process(ctx, "profiles", 12, noop); err != nil {
		t.Fatalf("Process: %v", err)
	}
	if got := readCursor(t, s, "other"); got != 3 {
		t.Errorf("Cursor(other) = %d, want 3", got)
	}
	if got := readCursor(t, s, "profiles"); got != 12 {
		t.Errorf("Cursor(profiles) = %d, want 12", got)
	}
	// Update moves no cursor.
	update(t, s, func(ctx context.Context, tx kith.ProfileTx) error { return nil })
	if got := readCursor(t, s, "profiles"); got != 12 {
		t.Errorf("Cursor(profiles) after Update = %d, want 12", got)
	}
}

// rollbackFixture is a committed state, then a failing function that
// writes through every method of the transaction.
type rollbackFixture struct {
	kept, other *kith.Profile
	events      []kith.Event
}

func setUpRollback(t *testing.T, s Store) rollbackFixture {
	t.Helper()
	f := rollbackFixture{kept: newProfile("prf_kept", 1, "ann lee"), other: newProfile("prf_other", 2)}
	f.events = appendTimed(t, s, "rb", time.Second, 2*time.Second)
	putProfiles(t, s, f.kept, f.other)
	addLinks(t, s, newLink(kith.IDEmail, "ann@example.com", f.kept.ID, 1), newLink(kith.IDEmail, "o@example.com", f.other.ID, 2))
	onTimeline(t, s, f.kept.ID, f.events[0])
	return f
}

// failingWrites writes through every method, checks that readers outside
// the transaction do not see it, and fails.
func (f rollbackFixture) failingWrites(ctx context.Context, t *testing.T, s Store, tx kith.ProfileTx) error {
	changed := newProfile(f.kept.ID, 1, "changed name")
	changed.Events = 99
	steps := []struct {
		name string
		fn   func() error
	}{
		{"PutProfile(new)", func() error { return tx.PutProfile(ctx, newProfile("prf_new", 3, "new person")) }},
		{"PutProfile(changed)", func() error { return tx.PutProfile(ctx, changed) }},
		{"AddLink", func() error { return tx.AddLink(ctx, newLink(kith.IDPhone, "+447700900123", f.kept.ID, 3)) }},
		{"AddLink(new)", func() error { return tx.AddLink(ctx, newLink(kith.IDEmail, "new@example.com", "prf_new", 3)) }},
		{"AddTimeline", func() error { return tx.AddTimeline(ctx, f.kept.ID, &f.events[1], []string{"w"}) }},
		{"AddConflict", func() error {
			return tx.AddConflict(ctx, kith.Conflict{Seq: 3, MessageID: "msg-3", Profiles: []string{f.kept.ID, f.other.ID}, Reason: "r", At: at(0)})
		}},
		{"AddDoNotLink", func() error { return tx.AddDoNotLink(ctx, f.kept.ID, f.other.ID, "mrg_x", at(0)) }},
		{"Absorb", func() error { return tx.Absorb(ctx, newMerge("mrg_1", f.kept.ID, f.other.ID, 3)) }},
	}
	for _, st := range steps {
		if err := st.fn(); err != nil {
			return fmt.Errorf("%s: %w", st.name, err)
		}
	}
	// Readers see committed state only, not a transaction in progress.
	if _, err := s.Profile(ctx, "prf_new"); !kith.IsCode(err, kith.ENOTFOUND) {
		t.Errorf("a reader saw a profile put by a transaction not yet committed: Profile = %v, want code %q", err, kith.ENOTFOUND)
	}
	return errFailed
}

// checkRolledBack checks that the store holds what setUpRollback committed.
func (f rollbackFixture) checkRolledBack(t *testing.T, s Store) {
	t.Helper()
	ctx := context.Background()
	if _, err := s.Profile(ctx, "prf_new"); !kith.IsCode(err, kith.ENOTFOUND) {
		t.Errorf("Profile of a profile put by a failed function: %v, want code %q", err, kith.ENOTFOUND)
	}
	for _, p := range []*kith.Profile{f.kept, f.other} {
		if diff := cmp.Diff(p, readProfile(t, s, p.ID), profileOpts); diff != "" {
			t.Errorf("profile %s after a failed function (-before +after):\n%s", p.ID, diff)
		}
	}
	if diff := cmp.Diff([]kith.Link{newLink(kith.IDEmail, "ann@example.com", f.kept.ID, 1)}, readLinks(t, s, f.kept.ID)); diff != "" {
		t.Errorf("Links after a failed function (-before +after):\n%s", diff)
	}
	if diff := cmp.Diff([]kith.Link{newLink(kith.IDEmail, "o@example.com", f.other.ID, 2)}, readLinks(t, s, f.other.ID)); diff != "" {
		t.Errorf("Links of the profile a failed function absorbed (-before +after):\n%s", diff)
	}
	if got := profileIDsFor(t, s, kith.IDEmail, "new@example.com"); len(got) != 0 {
		t.Errorf("ProfileIDsFor an identifier linked by a failed function = %v, want none", got)
	}
	if got := messageIDs(readTimeline(t, s, f.kept.ID, nil, 10)); !cmp.Equal(got, []string{f.events[0].MessageID}) {
		t.Errorf("Timeline after a failed function = %v, want [%s]", got, f.events[0].MessageID)
	}
	if got := readConflicts(t, s, f.kept.ID); len(got) != 0 {
		t.Errorf("Conflicts after a failed function = %v, want none", got)
	}
	if got := readMerges(t, s, f.kept.ID); len(got) != 0 {
		t.Errorf("Merges after a failed function = %v, want none", got)
	}
	dnl := inTx(t, s, "DoNotLink", func(ctx context.Context, tx kith.ProfileTx) (bool, error) {
		if _, err := tx.Merge(ctx, "mrg_1"); !kith.IsCode(err, kith.ENOTFOUND) {
			t.Errorf("Merge of a merge recorded by a failed function: %v, want code %q", err, kith.ENOTFOUND)
		}
		return tx.DoNotLink(ctx, f.kept.ID, f.other.ID)
	})
	if dnl {
		t.Errorf("DoNotLink = true for a rule added by a failed function")
	}
}

func testProcessRollsBack(t *testing.T, s Store) {
	ctx := context.Background()
	f := setUpRollback(t, s)
	if err := s.Process(ctx, "profiles", 5, func(kith.ProfileTx) error { return nil }); err != nil {
		t.Fatalf("Process: %v", err)
	}
	err := s.Process(ctx, "profiles", 9, func(tx kith.ProfileTx) error {
		err := f.failingWrites(ctx, t, s, tx)
		if got := readCursor(t, s, "profiles"); got != 5 {
			t.Errorf("a reader saw the cursor of a transaction not yet committed: %d, want 5", got)
		}
		return err
	})
	if !errors.Is(err, errFailed) {
		t.Fatalf("Process with a failing function returned %v, want its error", err)
	}
	if got := readCursor(t, s, "profiles"); got != 5 {
		t.Errorf("Cursor after a failed Process = %d, want 5 (unmoved)", got)
	}
	f.checkRolledBack(t, s)

	// A cursor never moved stays unknown.
	err = s.Process(ctx, "fresh", 4, func(kith.ProfileTx) error { return errFailed })
	if !errors.Is(err, errFailed) {
		t.Fatalf("Process with a failing function returned %v, want its error", err)
	}
	if got := readCursor(t, s, "fresh"); got != 0 {
		t.Errorf("Cursor(fresh) after a failed Process = %d, want 0", got)
	}
}

func testUpdateRollsBack(t *testing.T, s Store) {
	ctx := context.Background()
	f := setUpRollback(t, s)
	err := s.Update(ctx, func(tx kith.ProfileTx) error { return f.failingWrites(ctx, t, s, tx) })
	if !errors.Is(err, errFailed) {
		t.Fatalf("Update with a failing function returned %v, want its error", err)
	}
	f.checkRolledBack(t, s)
	// An error with a code keeps it, for the API to report.
	err = s.Update(ctx, func(tx kith.ProfileTx) error { return kith.Errorf(kith.ECONFLICT, "already undone") })
	wantCode(t, "Update returning a coded error", err, kith.ECONFLICT)
}

// Processors on several nodes may run batches at once. Each Process commits
// or fails as a whole: the cursor is always at a batch that committed, and
// what that batch wrote is there.
func testConcurrentProcess(t *testing.T, s Store) {
	ctx := context.Background()
	const n = 24
	failing := func(i int) bool { return i%3 == 1 }
	shared := kith.Identifier{Type: kith.IDDeviceID, Value: "shared-device"}
	profileOf := func(i int) *kith.Profile {
		return newProfile(fmt.Sprintf("prf_%02d", i), int64(i+1), fmt.Sprintf("person %02d", i))
	}

	errs := make([]error, n)
	done := make(chan struct{})
	var reader, wg sync.WaitGroup
	// A reader following the cursor: when it names a batch, that batch's
	// profile is readable.
	reader.Go(func() {
		for {
			select {
			case <-done:
				return
			default:
			}
			c, err := s.Cursor(ctx, "profiles")
			if err != nil {
				t.Errorf("Cursor: %v", err)
				return
			}
			if c == 0 {
				continue
			}
			i := int(c - 1)
			if i < 0 || i >= n || failing(i) {
				t.Errorf("Cursor = %d, a batch that never committed", c)
				return
			}
			if _, err := s.Profile(ctx, profileOf(i).ID); err != nil {
				t.Errorf("cursor at %d but the profile that batch wrote is not readable: %v", c, err)
				return
			}
		}
	})
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			p := profileOf(i)
			errs[i] = s.Process(ctx, "profiles", int64(i+1), func(tx kith.ProfileTx) error {
				if err := tx.PutProfile(ctx, p); err != nil {
					return err
				}
				l := newLink(shared.Type, shared.Value, p.ID, p.CreatedSeq)
				if err := tx.AddLink(ctx, l); err != nil {
					return err
				}
				if failing(i) {
					return errFailed
				}
				return nil
			})
		})
	}
	close(start)
	wg.Wait()
	close(done)
	reader.Wait()

	var committed []int64
	var holders []string
	for i, err := range errs {
		p := profileOf(i)
		if failing(i) {
			if !errors.Is(err, errFailed) {
				t.Errorf("failing Process %d returned %v, want its error", i, err)
			}
			if _, err := s.Profile(ctx, p.ID); !kith.IsCode(err, kith.ENOTFOUND) {
				t.Errorf("Profile(%s) written by a failed Process: %v, want code %q", p.ID, err, kith.ENOTFOUND)
			}
			continue
		}
		if err != nil {
			t.Errorf("Process %d: %v", i, err)
			continue
		}
		committed = append(committed, int64(i+1))
		holders = append(holders, p.ID)
		if diff := cmp.Diff(p, readProfile(t, s, p.ID), profileOpts); diff != "" {
			t.Errorf("profile of Process %d (-put +read):\n%s", i, diff)
		}
	}
	if c := readCursor(t, s, "profiles"); !slices.Contains(committed, c) {
		t.Errorf("Cursor = %d after concurrent Process calls, want one of the committed batches %v", c, committed)
	}
	if diff := cmp.Diff(holders, profileIDsFor(t, s, shared.Type, shared.Value), sortStrings); diff != "" {
		t.Errorf("profiles holding the identifier every batch linked (-committed +read):\n%s", diff)
	}
}

// Every field survives, whatever a client put in a trait's name or value:
// a payload may carry \u0000, so a store must keep it (PostgreSQL's jsonb
// cannot; json or bytea can).
func testProfileRoundTrip(t *testing.T, s Store) {
	cet := time.FixedZone("CET", 3600)
	full := &kith.Profile{
		ID:         "prf_full",
		CreatedSeq: 42,
		CreatedAt:  at(-time.Hour),
		UpdatedAt:  at(time.Hour + 7*time.Microsecond),
		Traits: map[string]kith.Trait{
			"name": {Value: raw(`"Zoë \"Z\" O'Brien \\ 日本 ✓"`), SourceID: "src_1", Channel: kith.KindWeb, Time: at(time.Minute), Seq: 40},
			"address": {Value: raw(`{"street": "1 Main St", "geo": {"lat": 51.5, "lng": -0.12, "alt": null},
				"tags": ["a", null, true, 1e3, {"deep": [[]]}], "empty": {}}`),
				SourceID: "src_2", Channel: kith.KindCallCenter, Time: at(2 * time.Minute).In(cet), Seq: 41},
			"age":      {Value: raw(`42`), SourceID: "src_1", Channel: kith.KindApp, Time: at(3 * time.Minute), Seq: 38},
			"balance":  {Value: raw(`-1.5e-7`), SourceID: "src_1", Channel: kith.KindPOS, Time: at(4 * time.Minute), Seq: 39},
			"vip":      {Value: raw(`true`), SourceID: "src_1", Channel: kith.KindWeb, Time: at(5 * time.Minute), Seq: 30},
			"nickname": {Value: raw(`null`), SourceID: "src_1", Channel: kith.KindWeb, Time: at(6 * time.Minute), Seq: 31},
			"nothing":  {Value: raw(`""`), SourceID: "src_1", Channel: kith.KindWeb, Time: at(7 * time.Minute), Seq: 32},
			"list":     {Value: raw(`[1,"two",{"three":3}]`), SourceID: "src_1", Channel: kith.KindWeb, Time: at(8 * time.Minute), Seq: 33},
			"controls": {Value: raw(`"tab\tnew\nline nul\u0000 bell\u0007 del` + "\x7f" + ` quote\" back\\ \/ \ud83d\ude00 ` + "\u2028" + `"`),
				SourceID: "src_1", Channel: kith.KindWeb, Time: at(9 * time.Minute), Seq: 34},
			"a \"quoted\" \\ name\twith\x01controls\x00 and 日本": {Value: raw(`"odd name"`),
				SourceID: "src \"3\" \\ ✓\t", Channel: kith.Kind("custom \"kind\" \\ ü\n"), Time: at(10 * time.Minute), Seq: 35},
			"": {Value: raw(`0`), SourceID: "", Channel: "", Time: at(11 * time.Minute), Seq: 36},
		},
		Channels: map[kith.Kind]*kith.ChannelSeen{
			kith.KindWeb:         {First: at(-time.Hour), Last: at(time.Hour), Events: 12},
			kith.KindCallCenter:  {First: at(time.Minute).In(cet), Last: at(time.Minute), Events: 1},
			"odd \"kind\"\\\t日本": {First: at(0), Last: at(time.Second), Events: 1 << 30},
		},
		Intents: map[string]*kith.Intent{
			"running shoes":           {Score: 0.1 + 0.2, At: at(time.Minute), Channel: kith.KindWeb, Last: at(time.Minute)},
			"tiny":                    {Score: 5e-324, At: at(2 * time.Minute), Channel: kith.KindApp, Last: at(time.Minute)},
			"huge":                    {Score: 1.7976931348623157e308, At: at(3 * time.Minute), Channel: kith.KindEmail, Last: at(2 * time.Minute)},
			"négatif \"x\" \\ \t\x01": {Score: -2.5, At: at(4 * time.Minute), Channel: "odd \"kind\"", Last: at(3 * time.Minute)},
			"zero":                    {Score: 0, At: at(5 * time.Minute), Channel: kith.KindSMS, Last: at(4 * time.Minute).In(cet)},
			"third":                   {Score: 1.0 / 3, At: at(6 * time.Minute), Channel: kith.KindSMS, Last: at(5 * time.Minute)},
		},
		Events:     1234567,
		SearchKeys: []string{"zoë \"z\" o'brien \\ 日本", "o'brien zoë \"z\"\t\x01"},
	}
	merged := &kith.Profile{
		ID: "prf_merged", CreatedSeq: 43, CreatedAt: at(time.Minute), UpdatedAt: at(time.Minute),
		MergedInto: "prf_full",
	}
	emptyMaps := &kith.Profile{
		ID: "prf_empty", CreatedSeq: 44, CreatedAt: at(2 * time.Minute), UpdatedAt: at(3 * time.Minute),
		Traits: map[string]kith.Trait{}, Channels: map[kith.Kind]*kith.ChannelSeen{}, Intents: map[string]*kith.Intent{},
		SearchKeys: []string{"single"},
	}
	ctx := context.Background()
	if err := s.Process(ctx, "profiles", 44, func(tx kith.ProfileTx) error {
		for _, p := range []*kith.Profile{full, merged, emptyMaps} {
			if err := tx.PutProfile(ctx, p); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatalf("Process: %v", err)
	}
	for _, want := range []*kith.Profile{full, merged, emptyMaps} {
		got := readProfile(t, s, want.ID)
		if diff := cmp.Diff(want, got, profileOpts); diff != "" {
			t.Errorf("Profile(%s) (-put +read):\n%s", want.ID, diff)
		}
		// Maps come back usable even when empty: the processor writes into them.
		if got.Traits == nil || got.Channels == nil || got.Intents == nil {
			t.Errorf("Profile(%s) has nil maps: traits %v, channels %v, intents %v", want.ID, got.Traits == nil, got.Channels == nil, got.Intents == nil)
		}
		inside := inTx(t, s, "Profile", func(ctx context.Context, tx kith.ProfileTx) (*kith.Profile, error) {
			return tx.Profile(ctx, want.ID)
		})
		if diff := cmp.Diff(want, inside, profileOpts); diff != "" {
			t.Errorf("ProfileTx.Profile(%s) (-put +read):\n%s", want.ID, diff)
		}
	}
}

func testProfileUpsert(t *testing.T, s Store) {
	v1 := newProfile("prf_1", 1, "ann lee", "lee ann")
	v1.Traits["email"] = kith.Trait{Value: raw(`"ann@example.com"`), SourceID: "src_1", Channel: kith.KindWeb, Time: at(0), Seq: 1}
	v1.Intents["shoes"] = &kith.Intent{Score: 1, At: at(0), Channel: kith.KindWeb, Last: at(0)}
	putProfiles(t, s, v1)
	if diff := cmp.Diff(v1, readProfile(t, s, v1.ID), profileOpts); diff != "" {
		t.Errorf("first put (-put +read):\n%s", diff)
	}
	// Every field changes; nothing of the first version may remain.
	v2 := &kith.Profile{
		ID: v1.ID, CreatedSeq: 7, CreatedAt: at(-time.Hour), UpdatedAt: at(time.Hour), MergedInto: "prf_2",
		Traits: map[string]kith.Trait{
			"phone": {Value: raw(`"+447700900123"`), SourceID: "src_2", Channel: kith.KindSMS, Time: at(time.Hour), Seq: 9},
		},
		Channels: map[kith.Kind]*kith.ChannelSeen{kith.KindSMS: {First: at(time.Hour), Last: at(time.Hour), Events: 2}},
		Events:   2,
	}
	putProfiles(t, s, v2)
	if diff := cmp.Diff(v2, readProfile(t, s, v1.ID), profileOpts); diff != "" {
		t.Errorf("after replacing (-second put +read):\n%s", diff)
	}
	v3 := newProfile(v1.ID, 1, "bob")
	putProfiles(t, s, v3)
	if diff := cmp.Diff(v3, readProfile(t, s, v1.ID), profileOpts); diff != "" {
		t.Errorf("after replacing a merged profile with a current one (-third put +read):\n%s", diff)
	}
	// Replacing is per profile.
	other := newProfile("prf_other", 2, "other")
	putProfiles(t, s, other)
	putProfiles(t, s, v3)
	if diff := cmp.Diff(other, readProfile(t, s, other.ID), profileOpts); diff != "" {
		t.Errorf("a profile not put again (-put +read):\n%s", diff)
	}
}

// ScanProfiles walks every current profile once, in id order, page by
// page; absorbed profiles are not people of their own.
func testScanProfiles(t *testing.T, s Store) {
	ctx := context.Background()
	var want []string
	for i := range 25 {
		p := newProfile(fmt.Sprintf("prf_%02d", i), int64(i+1), "x")
		if i%5 == 3 {
			p.MergedInto = "prf_00"
		} else {
			want = append(want, p.ID)
		}
		putProfiles(t, s, p)
	}
	var got []string
	after := ""
	for range 100 {
		page, err := s.ScanProfiles(ctx, after, 7)
		if err != nil {
			t.Fatalf("ScanProfiles(%q): %v", after, err)
		}
		if len(page) > 7 {
			t.Fatalf("ScanProfiles(%q, 7) gave %d", after, len(page))
		}
		if len(page) == 0 {
			break
		}
		for _, p := range page {
			got = append(got, p.ID)
			if p.Traits["plan"].Value == nil || p.Channels[kith.KindWeb] == nil {
				t.Errorf("scanned profile %s lacks its document: %+v", p.ID, p)
			}
		}
		after = page[len(page)-1].ID
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("scanned ids (-want +got):\n%s", diff)
	}
	if page, err := s.ScanProfiles(ctx, "", 0); err != nil || len(page) != 0 {
		t.Errorf("ScanProfiles with limit 0 = %d profiles, %v", len(page), err)
	}
	if n, err := s.CountProfiles(ctx); err != nil || n != int64(len(want)) {
		t.Errorf("CountProfiles = %d, %v; want %d", n, err, len(want))
	}
	// Members: the survivor of an absorbed profile and everyone merged into it.
	for _, id := range []string{"prf_00", "prf_08"} {
		cur, absorbed, err := s.Members(ctx, id)
		if err != nil || cur != "prf_00" || !slices.Equal(absorbed, []string{"prf_03", "prf_08", "prf_13", "prf_18", "prf_23"}) {
			t.Errorf("Members(%s) = %s %v, %v", id, cur, absorbed, err)
		}
	}
	if cur, absorbed, err := s.Members(ctx, "prf_01"); err != nil || cur != "prf_01" || len(absorbed) != 0 {
		t.Errorf("Members(prf_01) = %s %v, %v", cur, absorbed, err)
	}
	if _, _, err := s.Members(ctx, "prf_none"); !kith.IsCode(err, kith.ENOTFOUND) {
		t.Errorf("Members(prf_none): %v, want not found", err)
	}
	link := kith.Link{Identifier: kith.Identifier{Type: kith.IDEmail, Value: "zero@example.com"}, ProfileID: "prf_00", Seq: 1,
		MessageID: "m-1", SourceID: "src_1", At: at(0)}
	if err := s.Process(ctx, "profiles", 1, func(tx kith.ProfileTx) error { return tx.AddLink(ctx, link) }); err != nil {
		t.Fatal(err)
	}
	ms, err := s.MembersOf(ctx, []string{"prf_08", "prf_01", "prf_none", "prf_00"})
	if err != nil {
		t.Fatal(err)
	}
	merged := []string{"prf_03", "prf_08", "prf_13", "prf_18", "prf_23"}
	wantMembers := map[string]kith.Membership{
		"prf_08": {Current: "prf_00", Absorbed: merged, Links: []kith.Link{link}},
		"prf_00": {Current: "prf_00", Absorbed: merged, Links: []kith.Link{link}},
		"prf_01": {Current: "prf_01"},
	}
	if diff := cmp.Diff(wantMembers, ms); diff != "" {
		t.Errorf("MembersOf (-want +got):\n%s", diff)
	}
	// A list of everyone, which a store may read by passes over whole
	// tables rather than through the indexes, gets the same answers; a
	// repeated id is answered once.
	link1 := kith.Link{Identifier: kith.Identifier{Type: kith.IDEmail, Value: "one@example.com"}, ProfileID: "prf_01", Seq: 2,
		MessageID: "m-2", SourceID: "src_1", At: at(1)}
	if err := s.Process(ctx, "profiles", 2, func(tx kith.ProfileTx) error { return tx.AddLink(ctx, link1) }); err != nil {
		t.Fatal(err)
	}
	everyone := []string{"prf_none", "prf_01"}
	wantEveryone := map[string]kith.Membership{}
	for i := range 25 {
		id := fmt.Sprintf("prf_%02d", i)
		everyone = append(everyone, id)
		switch {
		case i == 0 || i%5 == 3:
			wantEveryone[id] = kith.Membership{Current: "prf_00", Absorbed: merged, Links: []kith.Link{link}}
		case i == 1:
			wantEveryone[id] = kith.Membership{Current: "prf_01", Links: []kith.Link{link1}}
		default:
			wantEveryone[id] = kith.Membership{Current: id}
		}
	}
	if ms, err = s.MembersOf(ctx, everyone); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(wantEveryone, ms); diff != "" {
		t.Errorf("MembersOf everyone (-want +got):\n%s", diff)
	}

	// Customers: those with a purchase or a stage, current ones only.
	buyer := newProfile("prf_10", 11, "x")
	buyer.Purchases = []kith.Purchase{{At: at(0), Amount: 5, SourceID: "src_1", Channel: kith.KindWeb, Seq: 11}}
	staged := newProfile("prf_20", 21, "x")
	staged.Lifecycle = kith.Lifecycle{Stage: kith.StageLapsed, Since: at(0), Seq: 21}
	absorbed := newProfile("prf_13", 14, "x")
	absorbed.Purchases, absorbed.MergedInto = buyer.Purchases, "prf_00"
	putProfiles(t, s, buyer, staged, absorbed)
	var customers []string
	after = ""
	for range 100 {
		page, err := s.ScanCustomers(ctx, after, 1)
		if err != nil {
			t.Fatalf("ScanCustomers(%q): %v", after, err)
		}
		if len(page) == 0 {
			break
		}
		customers = append(customers, page[0].ID)
		after = page[0].ID
	}
	if diff := cmp.Diff([]string{"prf_10", "prf_20"}, customers); diff != "" {
		t.Errorf("ScanCustomers (-want +got):\n%s", diff)
	}
}

// Purchases and the lifecycle stage are part of the profile's document.
func testPurchasesAndStage(t *testing.T, s Store) {
	p := newProfile("prf_buyer", 1, "buyer")
	p.Purchases = []kith.Purchase{
		{At: at(time.Hour), Amount: 42.5, Currency: "EUR", OrderID: "o-1", SourceID: "src_shop", Channel: kith.KindWeb, Seq: 3},
		{At: at(2 * time.Hour), Amount: 0.1, SourceID: "src_store", Channel: kith.KindStore, Seq: 4},
	}
	p.Lifecycle = kith.Lifecycle{Stage: kith.StageActive, Since: at(3 * time.Hour), Previous: kith.StageNew, Seq: 5}
	putProfiles(t, s, p)
	if diff := cmp.Diff(p, readProfile(t, s, p.ID), profileOpts); diff != "" {
		t.Errorf("profile with purchases (-put +read):\n%s", diff)
	}
}

func testProfileNotFound(t *testing.T, s Store) {
	ctx := context.Background()
	putProfiles(t, s, newProfile("prf_1", 1, "ann"))
	for _, id := range []string{"", "prf_2", "PRF_1", "prf_1 "} {
		_, err := s.Profile(ctx, id)
		wantCode(t, fmt.Sprintf("Profile(%q)", id), err, kith.ENOTFOUND)
		err = s.Update(ctx, func(tx kith.ProfileTx) error {
			_, err := tx.Profile(ctx, id)
			return err
		})
		wantCode(t, fmt.Sprintf("ProfileTx.Profile(%q)", id), err, kith.ENOTFOUND)
		err = s.Update(ctx, func(tx kith.ProfileTx) error {
			_, err := tx.Merge(ctx, id)
			return err
		})
		wantCode(t, fmt.Sprintf("Merge(%q)", id), err, kith.ENOTFOUND)
	}
}

// Times with nanoseconds come back within a microsecond, wherever a
// profile's data keeps one.
func testProfileTimePrecision(t *testing.T, s Store) {
	ns := func(d time.Duration) time.Time { return at(d + 789*time.Nanosecond) }
	p := &kith.Profile{
		ID: "prf_1", CreatedSeq: 1, CreatedAt: ns(0), UpdatedAt: ns(time.Second),
		Traits:   map[string]kith.Trait{"name": {Value: raw(`"ann"`), SourceID: "src_1", Channel: kith.KindWeb, Time: ns(2 * time.Second), Seq: 1}},
		Channels: map[kith.Kind]*kith.ChannelSeen{kith.KindWeb: {First: ns(3 * time.Second), Last: ns(4 * time.Second), Events: 1}},
		Intents:  map[string]*kith.Intent{"shoes": {Score: 1, At: ns(5 * time.Second), Channel: kith.KindWeb, Last: ns(6 * time.Second)}},
		Events:   1,
	}
	l := newLink(kith.IDEmail, "ann@example.com", p.ID, 1)
	l.At = ns(7 * time.Second)
	m := newMerge("mrg_1", p.ID, "prf_2", 2)
	m.At = ns(8 * time.Second)
	c := kith.Conflict{Seq: 3, MessageID: "msg-3", Profiles: []string{p.ID}, Reason: "r", At: ns(9 * time.Second)}
	undone := ns(10 * time.Second)
	putProfiles(t, s, p, newProfile("prf_2", 2))
	addLinks(t, s, l)
	absorb(t, s, m)
	addConflicts(t, s, c)
	update(t, s, func(ctx context.Context, tx kith.ProfileTx) error { return tx.MarkMergeUndone(ctx, m.ID, undone) })

	got := readProfile(t, s, p.ID)
	links := readLinks(t, s, p.ID)
	conflicts := readConflicts(t, s, p.ID)
	gotMerge := inTx(t, s, "Merge", func(ctx context.Context, tx kith.ProfileTx) (*kith.Merge, error) { return tx.Merge(ctx, m.ID) })
	if len(links) != 1 || len(conflicts) != 1 {
		t.Fatalf("read %d links and %d conflicts, want 1 of each", len(links), len(conflicts))
	}
	checkMicros(t, []timePair{
		{"CreatedAt", got.CreatedAt, p.CreatedAt},
		{"UpdatedAt", got.UpdatedAt, p.UpdatedAt},
		{"Trait.Time", got.Traits["name"].Time, p.Traits["name"].Time},
		{"ChannelSeen.First", got.Channels[kith.KindWeb].First, p.Channels[kith.KindWeb].First},
		{"ChannelSeen.Last", got.Channels[kith.KindWeb].Last, p.Channels[kith.KindWeb].Last},
		{"Intent.At", got.Intents["shoes"].At, p.Intents["shoes"].At},
		{"Intent.Last", got.Intents["shoes"].Last, p.Intents["shoes"].Last},
		{"Link.At", links[0].At, l.At},
		{"Merge.At", gotMerge.At, m.At},
		{"Merge.UndoneAt", gotMerge.UndoneAt, undone},
		{"Conflict.At", conflicts[0].At, c.At},
	})
}

func testLinks(t *testing.T, s Store) {
	a, b := newProfile("prf_a", 1), newProfile("prf_b", 2)
	putProfiles(t, s, a, b)
	la := []kith.Link{
		newLink(kith.IDEmail, "ann@example.com", a.ID, 10),
		newLink(kith.IDPhone, "+447700900123", a.ID, 11),
		// The same value as another type is another identifier.
		newLink(kith.IDUserID, "ann@example.com", a.ID, 12),
		newLink("loyalty_id", "L-\"42\" \\ ü ✓", a.ID, 13),
	}
	lb := []kith.Link{
		// Values are kept as given: normalising is not the store's job.
		newLink(kith.IDEmail, "Ann@example.com", b.ID, 20),
		newLink(kith.IDAnonymousID, "anon-1", b.ID, 21),
	}
	la[2].SourceID, la[2].MessageID = "src_2", "msg \"odd\" ✓"
	addLinks(t, s, append(la, lb...)...)

	if diff := cmp.Diff(la, readLinks(t, s, a.ID), sortLinks); diff != "" {
		t.Errorf("Links(%s) (-added +read):\n%s", a.ID, diff)
	}
	if diff := cmp.Diff(lb, readLinks(t, s, b.ID), sortLinks); diff != "" {
		t.Errorf("Links(%s) (-added +read):\n%s", b.ID, diff)
	}
	if got := readLinks(t, s, "prf_none"); len(got) != 0 {
		t.Errorf("Links of an unknown profile = %v, want none", got)
	}
	ids := func(ls []kith.Link) []kith.Identifier {
		var out []kith.Identifier
		for _, l := range ls {
			out = append(out, l.Identifier)
		}
		return out
	}
	update(t, s, func(ctx context.Context, tx kith.ProfileTx) error {
		for _, c := range []struct {
			id   string
			want []kith.Identifier
		}{{a.ID, ids(la)}, {b.ID, ids(lb)}, {"prf_none", nil}} {
			got, err := tx.Identifiers(ctx, c.id)
			if err != nil {
				return err
			}
			if diff := cmp.Diff(c.want, got, sortIdentifiers, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Identifiers(%s) (-linked +read):\n%s", c.id, diff)
			}
		}
		none := kith.Identifier{Type: kith.IDEmail, Value: "nobody@example.com"}
		asked := append(ids(la), ids(lb)...)
		got, err := tx.ProfilesFor(ctx, append(asked, none))
		if err != nil {
			return err
		}
		want := map[kith.Identifier][]string{}
		for _, l := range append(la, lb...) {
			want[l.Identifier] = []string{l.ProfileID}
		}
		if diff := cmp.Diff(want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("ProfilesFor (-linked +read):\n%s", diff)
		}
		if got, err := tx.ProfilesFor(ctx, nil); err != nil || len(got) != 0 {
			t.Errorf("ProfilesFor(nil) = %v, %v; want nothing", got, err)
		}
		return nil
	})
	for _, l := range append(la, lb...) {
		if got := profileIDsFor(t, s, l.Type, l.Value); !cmp.Equal(got, []string{l.ProfileID}) {
			t.Errorf("ProfileIDsFor(%s) = %v, want [%s]", l.Identifier, got, l.ProfileID)
		}
	}
	if got := profileIDsFor(t, s, kith.IDEmail, "ann@example"); len(got) != 0 {
		t.Errorf("ProfileIDsFor a prefix of an identifier = %v, want none", got)
	}
}

// Linking an identifier a profile already holds is a no-op: the link keeps
// the event that first made it.
func testLinkIdempotent(t *testing.T, s Store) {
	a := newProfile("prf_a", 1)
	putProfiles(t, s, a)
	first := newLink(kith.IDEmail, "ann@example.com", a.ID, 10)
	again := newLink(kith.IDEmail, "ann@example.com", a.ID, 30)
	again.SourceID = "src_2"
	addLinks(t, s, first)
	addLinks(t, s, again, again)
	if diff := cmp.Diff([]kith.Link{first}, readLinks(t, s, a.ID)); diff != "" {
		t.Errorf("Links after linking again (-first link +read):\n%s", diff)
	}
	ids := inTx(t, s, "Identifiers", func(ctx context.Context, tx kith.ProfileTx) ([]kith.Identifier, error) {
		return tx.Identifiers(ctx, a.ID)
	})
	if !cmp.Equal(ids, []kith.Identifier{first.Identifier}) {
		t.Errorf("Identifiers after linking again = %v, want [%s]", ids, first.Identifier)
	}
}

// After a unique conflict one identifier sits on two profiles; both are
// returned.
func testSharedIdentifier(t *testing.T, s Store) {
	a, b, c := newProfile("prf_a", 1), newProfile("prf_b", 2), newProfile("prf_c", 3)
	putProfiles(t, s, a, b, c)
	la := newLink(kith.IDDeviceID, "dev-1", a.ID, 10)
	lb := newLink(kith.IDDeviceID, "dev-1", b.ID, 20)
	addLinks(t, s, la, lb, newLink(kith.IDDeviceID, "dev-2", c.ID, 30))
	want := []string{a.ID, b.ID}
	if diff := cmp.Diff(want, profileIDsFor(t, s, kith.IDDeviceID, "dev-1"), sortStrings); diff != "" {
		t.Errorf("ProfileIDsFor a shared identifier (-want +got):\n%s", diff)
	}
	got := inTx(t, s, "ProfilesFor", func(ctx context.Context, tx kith.ProfileTx) (map[kith.Identifier][]string, error) {
		return tx.ProfilesFor(ctx, []kith.Identifier{la.Identifier})
	})
	if diff := cmp.Diff(map[kith.Identifier][]string{la.Identifier: want}, got, sortStrings); diff != "" {
		t.Errorf("ProfilesFor a shared identifier (-want +got):\n%s", diff)
	}
	// Each holder has its own link, with its own event.
	if diff := cmp.Diff([]kith.Link{la}, readLinks(t, s, a.ID)); diff != "" {
		t.Errorf("Links(%s) (-want +got):\n%s", a.ID, diff)
	}
	if diff := cmp.Diff([]kith.Link{lb}, readLinks(t, s, b.ID)); diff != "" {
		t.Errorf("Links(%s) (-want +got):\n%s", b.ID, diff)
	}
}

// timelineFixture appends events of every type with every field set, some
// at the same time, and puts them on two timelines out of order.
func timelineFixture(t *testing.T, s Store) (p, q string, events []kith.Event, warnings map[string][]string) {
	t.Helper()
	// Event times: e0 3s, e1 1s, e2 3s (ties e0, later in the log), e3 2s,
	// e4 5s; e5 4s is on the other profile.
	times := []time.Duration{3 * time.Second, time.Second, 3 * time.Second, 2 * time.Second, 5 * time.Second, 4 * time.Second}
	types := []kith.EventType{kith.TypeIdentify, kith.TypeTrack, kith.TypePage, kith.TypeScreen, kith.TypeAlias, kith.TypeGroup}
	var sent []kith.Event
	for i, d := range times {
		e := event(fmt.Sprintf("src_%d", i%2+1), fmt.Sprintf("tl-%d", i))
		e.Type = types[i]
		e.Channel = []kith.Kind{kith.KindWeb, kith.KindApp, kith.KindCallCenter}[i%3]
		e.UserID = fmt.Sprintf("user-%d", i)
		e.Timestamp = at(d)
		e.OriginalTimestamp = at(-time.Hour + time.Duration(i)*time.Microsecond)
		e.SentAt = at(-time.Minute)
		e.ReceivedAt = at(time.Minute + time.Duration(i)*time.Microsecond)
		e.Payload = fmt.Appendf(nil, `{"type":%q, "n": %d, "text": "Zoë ✓ \"%d\"\n"}`, e.Type, i, i)
		sent = append(sent, e)
	}
	mustAppend(t, s, sent...)
	events = readAll(t, s)
	if diff := cmp.Diff(sent, events, ignoreSeq); diff != "" {
		t.Fatalf("events read back (-sent +read):\n%s", diff)
	}
	p, q = "prf_p", "prf_q"
	putProfiles(t, s, newProfile(p, events[0].Seq), newProfile(q, events[5].Seq))
	warnings = map[string][]string{
		events[0].MessageID: {"part of the message ignored: \"x\"", "ünïcode ✓ \\ \t"},
		events[3].MessageID: {"one"},
		events[4].MessageID: {}, // none, as an empty list
	}
	update(t, s, func(ctx context.Context, tx kith.ProfileTx) error {
		for _, i := range []int{3, 0, 4, 1, 2} {
			if err := tx.AddTimeline(ctx, p, &events[i], warnings[events[i].MessageID]); err != nil {
				return err
			}
		}
		return tx.AddTimeline(ctx, q, &events[5], nil)
	})
	return p, q, events, warnings
}

func timelineEvents(profileID string, events []kith.Event, warnings map[string][]string, order ...int) []kith.TimelineEvent {
	out := []kith.TimelineEvent{}
	for _, i := range order {
		out = append(out, kith.TimelineEvent{Event: events[i], ProfileID: profileID, Warnings: warnings[events[i].MessageID]})
	}
	return out
}

func testTimelineOrder(t *testing.T, s Store) {
	p, q, events, warnings := timelineFixture(t, s)
	// Newest event time first; of two at the same time, the later in the log first.
	want := timelineEvents(p, events, warnings, 4, 2, 0, 3, 1)
	if diff := cmp.Diff(want, readTimeline(t, s, p, nil, 100), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("Timeline(%s) (-want +got):\n%s", p, diff)
	}
	if diff := cmp.Diff(timelineEvents(q, events, warnings, 5), readTimeline(t, s, q, nil, 100), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("Timeline(%s) (-want +got):\n%s", q, diff)
	}
	if got := readTimeline(t, s, "prf_none", nil, 100); len(got) != 0 {
		t.Errorf("Timeline of an unknown profile = %v, want none", messageIDs(got))
	}
	if diff := cmp.Diff(want[:2], readTimeline(t, s, p, nil, 2), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("Timeline(%s, limit 2) (-want +got):\n%s", p, diff)
	}
}

func testTimelinePaging(t *testing.T, s Store) {
	p, _, events, warnings := timelineFixture(t, s)
	all := timelineEvents(p, events, warnings, 4, 2, 0, 3, 1)

	// Page with the cursor of each page's last event, as the API does.
	var paged []kith.TimelineEvent
	var sizes []int
	var before *kith.TimelineCursor
	for range len(all) + 2 {
		page := readTimeline(t, s, p, before, 2)
		if len(page) == 0 {
			break
		}
		sizes = append(sizes, len(page))
		paged = append(paged, page...)
		last := page[len(page)-1]
		before = &kith.TimelineCursor{Time: last.Timestamp, Seq: last.Seq}
	}
	if diff := cmp.Diff([]int{2, 2, 1}, sizes); diff != "" {
		t.Errorf("page sizes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(all, paged, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("paged timeline (-want +got):\n%s", diff)
	}

	cursor := func(i int, d time.Duration, seq int64) *kith.TimelineCursor {
		return &kith.TimelineCursor{Time: events[i].Timestamp.Add(d), Seq: events[i].Seq + seq}
	}
	tests := []struct {
		name   string
		before *kith.TimelineCursor
		want   []int
	}{
		{"strictly before the newest", cursor(4, 0, 0), []int{2, 0, 3, 1}},
		{"between two events at one time", cursor(2, 0, 0), []int{0, 3, 1}},
		{"after both events at one time", cursor(2, 0, 1000), []int{2, 0, 3, 1}},
		{"before both events at one time", cursor(0, 0, 0), []int{3, 1}},
		{"a microsecond later, any seq", &kith.TimelineCursor{Time: events[0].Timestamp.Add(time.Microsecond), Seq: 0}, []int{2, 0, 3, 1}},
		{"the same time, seq 0", &kith.TimelineCursor{Time: events[0].Timestamp, Seq: 0}, []int{3, 1}},
		{"before the oldest", cursor(1, 0, 0), nil},
		{"far in the future", &kith.TimelineCursor{Time: at(1000 * time.Hour), Seq: 0}, []int{4, 2, 0, 3, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := timelineEvents(p, events, warnings, tt.want...)
			if diff := cmp.Diff(want, readTimeline(t, s, p, tt.before, 10), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("Timeline before %v/%d (-want +got):\n%s", tt.before.Time, tt.before.Seq, diff)
			}
		})
	}
}

func testTimelineEvents(t *testing.T, s Store) {
	p, q, events, _ := timelineFixture(t, s)
	for _, c := range []struct {
		id   string
		want []kith.Event
	}{
		// Log order, whatever the event times and the order they were added.
		{p, events[:5]},
		{q, events[5:]},
		{"prf_none", nil},
	} {
		got := inTx(t, s, "TimelineEvents", func(ctx context.Context, tx kith.ProfileTx) ([]kith.Event, error) {
			return tx.TimelineEvents(ctx, c.id)
		})
		if diff := cmp.Diff(c.want, got, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("TimelineEvents(%s) (-want +got):\n%s", c.id, diff)
		}
	}
}

// absorbFixture: A and B share a phone; C was merged into B; D stands
// apart with a conflict against B and A.
type absorbFixture struct {
	a, b, c, d *kith.Profile
	links      map[string][]kith.Link
	events     map[string]kith.Event
	m1, m2     kith.Merge
	conflicts  []kith.Conflict
}

func setUpAbsorb(t *testing.T, s Store) absorbFixture {
	t.Helper()
	f := absorbFixture{
		a: newProfile("prf_a", 1, "ann lee"), b: newProfile("prf_b", 2, "annie lee"),
		c: newProfile("prf_c", 3), d: newProfile("prf_d", 4, "dan"),
	}
	f.b.Traits["email"] = kith.Trait{Value: raw(`"b@example.com"`), SourceID: "src_2", Channel: kith.KindApp, Time: at(time.Hour), Seq: 2}
	putProfiles(t, s, f.a, f.b, f.c, f.d)
	f.links = map[string][]kith.Link{
		f.a.ID: {newLink(kith.IDEmail, "a@example.com", f.a.ID, 1), newLink(kith.IDPhone, "+15550001", f.a.ID, 1)},
		f.b.ID: {newLink(kith.IDEmail, "b@example.com", f.b.ID, 2), newLink(kith.IDPhone, "+15550001", f.b.ID, 2)},
		f.c.ID: {newLink(kith.IDAnonymousID, "anon-c", f.c.ID, 3)},
		f.d.ID: {newLink(kith.IDEmail, "d@example.com", f.d.ID, 4)},
	}
	for _, ls := range f.links {
		addLinks(t, s, ls...)
	}
	evs := appendTimed(t, s, "abs", time.Second, 2*time.Second, 3*time.Second, 4*time.Second)
	f.events = map[string]kith.Event{}
	for i, p := range []*kith.Profile{f.a, f.b, f.c, f.d} {
		onTimeline(t, s, p.ID, evs[i])
		f.events[p.ID] = evs[i]
	}
	f.conflicts = []kith.Conflict{
		{Seq: 20, MessageID: "msg-20", Profiles: []string{f.b.ID, f.d.ID}, Reason: "email:d@example.com links them but unique user_id", At: at(20 * time.Minute)},
		{Seq: 21, MessageID: "msg-21", Profiles: []string{f.d.ID, f.a.ID}, Reason: "phone", At: at(21 * time.Minute)},
	}
	addConflicts(t, s, f.conflicts...)
	f.m1 = newMerge("mrg_1", f.b.ID, f.c.ID, 30)
	f.m2 = newMerge("mrg_2", f.a.ID, f.b.ID, 31)
	absorb(t, s, f.m1)
	absorb(t, s, f.m2)
	return f
}

func testAbsorb(t *testing.T, s Store) {
	f := setUpAbsorb(t, s)
	a, b, c, d := f.a, f.b, f.c, f.d

	// Identifiers: every one moved to the survivor, with the event that
	// first linked it, and the shared phone held once.
	moved := func(l kith.Link) kith.Link { l.ProfileID = a.ID; return l }
	want := []kith.Link{f.links[a.ID][0], moved(f.links[b.ID][0]), moved(f.links[c.ID][0])}
	var phones []kith.Link
	var gotOthers []kith.Link
	for _, l := range readLinks(t, s, a.ID) {
		if l.Type == kith.IDPhone {
			phones = append(phones, l)
		} else {
			gotOthers = append(gotOthers, l)
		}
	}
	if diff := cmp.Diff(want, gotOthers, sortLinks); diff != "" {
		t.Errorf("Links(%s) after the merges (-want +got):\n%s", a.ID, diff)
	}
	if len(phones) != 1 || phones[0].Value != "+15550001" || phones[0].ProfileID != a.ID {
		t.Errorf("survivor's links of the phone both held = %+v, want it once", phones)
	}
	for _, id := range []string{b.ID, c.ID} {
		if got := readLinks(t, s, id); len(got) != 0 {
			t.Errorf("Links(%s) of an absorbed profile = %v, want none", id, got)
		}
	}
	if diff := cmp.Diff(f.links[d.ID], readLinks(t, s, d.ID)); diff != "" {
		t.Errorf("Links of an unrelated profile (-want +got):\n%s", diff)
	}
	for _, id := range []kith.Identifier{{Type: kith.IDPhone, Value: "+15550001"}, {Type: kith.IDEmail, Value: "b@example.com"},
		{Type: kith.IDAnonymousID, Value: "anon-c"}, {Type: kith.IDEmail, Value: "a@example.com"}} {
		if got := profileIDsFor(t, s, id.Type, id.Value); !cmp.Equal(got, []string{a.ID}) {
			t.Errorf("ProfileIDsFor(%s) = %v, want [%s]", id, got, a.ID)
		}
	}

	// Timeline: the survivor has every event.
	if diff := cmp.Diff([]string{f.events[c.ID].MessageID, f.events[b.ID].MessageID, f.events[a.ID].MessageID},
		messageIDs(readTimeline(t, s, a.ID, nil, 10))); diff != "" {
		t.Errorf("Timeline(%s) after the merges (-want +got):\n%s", a.ID, diff)
	}
	for _, id := range []string{b.ID, c.ID} {
		if got := readTimeline(t, s, id, nil, 10); len(got) != 0 {
			t.Errorf("Timeline(%s) of an absorbed profile = %v, want none", id, messageIDs(got))
		}
	}

	// Conflicts: the absorbed profile's move to the survivor.
	if diff := cmp.Diff(f.conflicts, readConflicts(t, s, a.ID), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("Conflicts(%s) after the merges (-want +got):\n%s", a.ID, diff)
	}
	if got := readConflicts(t, s, b.ID); len(got) != 0 {
		t.Errorf("Conflicts(%s) of an absorbed profile = %v, want none", b.ID, got)
	}
	if diff := cmp.Diff(f.conflicts, readConflicts(t, s, d.ID)); diff != "" {
		t.Errorf("Conflicts(%s) of the other side (-want +got):\n%s", d.ID, diff)
	}

	// Profiles: absorbed ones point at the survivor, C too though it was
	// merged into B; nothing else of them changes.
	for _, p := range []*kith.Profile{a, b, c, d} {
		want := *p
		if p == b || p == c {
			want.MergedInto = a.ID
		}
		if diff := cmp.Diff(&want, readProfile(t, s, p.ID), profileOpts); diff != "" {
			t.Errorf("Profile(%s) after the merges (-want +got):\n%s", p.ID, diff)
		}
	}

	// The merges are recorded.
	if diff := cmp.Diff([]kith.Merge{f.m1, f.m2}, readMerges(t, s, a.ID), sortMerges); diff != "" {
		t.Errorf("Merges(%s) (-want +got):\n%s", a.ID, diff)
	}
	if got := readMerges(t, s, d.ID); len(got) != 0 {
		t.Errorf("Merges(%s) of an unmerged profile = %v, want none", d.ID, got)
	}
	update(t, s, func(ctx context.Context, tx kith.ProfileTx) error {
		for _, m := range []kith.Merge{f.m1, f.m2} {
			got, err := tx.Merge(ctx, m.ID)
			if err != nil {
				return fmt.Errorf("Merge(%s): %w", m.ID, err)
			}
			if diff := cmp.Diff(&m, got); diff != "" {
				t.Errorf("Merge(%s) (-absorbed +read):\n%s", m.ID, diff)
			}
		}
		cluster, err := tx.Cluster(ctx, a.ID)
		if err != nil {
			return err
		}
		if diff := cmp.Diff([]string{a.ID, b.ID, c.ID}, profileIDs(cluster), sortStrings); diff != "" {
			t.Errorf("Cluster(%s) (-want +got):\n%s", a.ID, diff)
		}
		for _, p := range cluster {
			want := readProfile(t, s, p.ID)
			if diff := cmp.Diff(want, p, profileOpts); diff != "" {
				t.Errorf("Cluster(%s) profile %s (-Profile +Cluster):\n%s", a.ID, p.ID, diff)
			}
		}
		if cluster, err = tx.Cluster(ctx, d.ID); err != nil {
			return err
		}
		if diff := cmp.Diff([]string{d.ID}, profileIDs(cluster)); diff != "" {
			t.Errorf("Cluster(%s) (-want +got):\n%s", d.ID, diff)
		}
		ms, err := tx.ClusterMerges(ctx, a.ID)
		if err != nil {
			return err
		}
		if diff := cmp.Diff([]kith.Merge{f.m1, f.m2}, ms, sortMerges); diff != "" {
			t.Errorf("ClusterMerges(%s) (-want +got):\n%s", a.ID, diff)
		}
		if ms, err = tx.ClusterMerges(ctx, d.ID); err != nil {
			return err
		}
		if len(ms) != 0 {
			t.Errorf("ClusterMerges(%s) = %v, want none", d.ID, ms)
		}
		return nil
	})

	// An undone merge stays in the history but leaves the cluster's merges.
	undone := at(2 * time.Hour)
	update(t, s, func(ctx context.Context, tx kith.ProfileTx) error { return tx.MarkMergeUndone(ctx, f.m1.ID, undone) })
	m1 := f.m1
	m1.UndoneAt = undone
	ms := inTx(t, s, "ClusterMerges", func(ctx context.Context, tx kith.ProfileTx) ([]kith.Merge, error) {
		return tx.ClusterMerges(ctx, a.ID)
	})
	if diff := cmp.Diff([]kith.Merge{f.m2}, ms); diff != "" {
		t.Errorf("ClusterMerges(%s) after undoing %s (-want +got):\n%s", a.ID, f.m1.ID, diff)
	}
	if diff := cmp.Diff([]kith.Merge{m1, f.m2}, readMerges(t, s, a.ID), sortMerges); diff != "" {
		t.Errorf("Merges(%s) after undoing %s (-want +got):\n%s", a.ID, f.m1.ID, diff)
	}
}

// A conflict listed under both profiles of a merge is listed once under
// the survivor.
func testAbsorbSharedConflict(t *testing.T, s Store) {
	a, b := newProfile("prf_a", 1), newProfile("prf_b", 2)
	putProfiles(t, s, a, b)
	c := kith.Conflict{Seq: 5, MessageID: "msg-5", Profiles: []string{a.ID, b.ID}, Reason: "unique email", At: at(0)}
	addConflicts(t, s, c)
	absorb(t, s, newMerge("mrg_1", a.ID, b.ID, 6))
	if diff := cmp.Diff([]kith.Conflict{c}, readConflicts(t, s, a.ID)); diff != "" {
		t.Errorf("Conflicts(%s) (-want +got):\n%s", a.ID, diff)
	}
	if got := readConflicts(t, s, b.ID); len(got) != 0 {
		t.Errorf("Conflicts(%s) of the absorbed profile = %v, want none", b.ID, got)
	}
}

func testMarkMergeUndone(t *testing.T, s Store) {
	ctx := context.Background()
	a, b := newProfile("prf_a", 1), newProfile("prf_b", 2)
	putProfiles(t, s, a, b)
	m := newMerge("mrg_1", a.ID, b.ID, 3)
	absorb(t, s, m)
	first := at(time.Hour)
	update(t, s, func(ctx context.Context, tx kith.ProfileTx) error { return tx.MarkMergeUndone(ctx, m.ID, first) })
	err := s.Update(ctx, func(tx kith.ProfileTx) error { return tx.MarkMergeUndone(ctx, m.ID, at(2*time.Hour)) })
	wantCode(t, "second MarkMergeUndone", err, kith.ECONFLICT)
	want := m
	want.UndoneAt = first
	got := inTx(t, s, "Merge", func(ctx context.Context, tx kith.ProfileTx) (*kith.Merge, error) { return tx.Merge(ctx, m.ID) })
	if diff := cmp.Diff(&want, got); diff != "" {
		t.Errorf("Merge after undoing twice (-want +got):\n%s", diff)
	}
	err = s.Update(ctx, func(tx kith.ProfileTx) error { return tx.MarkMergeUndone(ctx, "mrg_none", first) })
	if code := kith.ErrorCode(err); code != kith.ENOTFOUND && code != kith.ECONFLICT {
		t.Errorf("MarkMergeUndone of an unknown merge: %v, want code %q or %q", err, kith.ENOTFOUND, kith.ECONFLICT)
	}
}

func testDeleteProfiles(t *testing.T, s Store) {
	ctx := context.Background()
	// P2 is merged into P1 (an earlier merge of the two was undone); P3
	// absorbed P4; P1 and P3 share a device and a conflict.
	p1, p2, p3, p4 := newProfile("prf_1", 1, "ann"), newProfile("prf_2", 2), newProfile("prf_3", 3, "bob"), newProfile("prf_4", 4)
	putProfiles(t, s, p1, p2, p3, p4)
	addLinks(t, s,
		newLink(kith.IDEmail, "one@example.com", p1.ID, 1), newLink(kith.IDDeviceID, "dev", p1.ID, 1),
		newLink(kith.IDEmail, "two@example.com", p2.ID, 2),
		newLink(kith.IDEmail, "three@example.com", p3.ID, 3), newLink(kith.IDDeviceID, "dev", p3.ID, 3),
		newLink(kith.IDEmail, "four@example.com", p4.ID, 4))
	evs := appendTimed(t, s, "del", time.Second, 2*time.Second, 3*time.Second, 4*time.Second)
	onTimeline(t, s, p1.ID, evs[0])
	onTimeline(t, s, p2.ID, evs[1])
	onTimeline(t, s, p3.ID, evs[2])
	onTimeline(t, s, p4.ID, evs[3])
	shared := kith.Conflict{Seq: 10, MessageID: "msg-10", Profiles: []string{p1.ID, p3.ID}, Reason: "unique device", At: at(0)}
	own := kith.Conflict{Seq: 11, MessageID: "msg-11", Profiles: []string{p2.ID}, Reason: "max emails", At: at(0)}
	addConflicts(t, s, shared, own)
	old := newMerge("mrg_old", p1.ID, p2.ID, 12)
	absorb(t, s, old)
	update(t, s, func(ctx context.Context, tx kith.ProfileTx) error {
		return tx.MarkMergeUndone(ctx, old.ID, at(time.Hour))
	})
	m12, m34 := newMerge("mrg_12", p1.ID, p2.ID, 13), newMerge("mrg_34", p3.ID, p4.ID, 14)
	absorb(t, s, m12, m34)

	update(t, s, func(ctx context.Context, tx kith.ProfileTx) error {
		if err := tx.DeleteProfiles(ctx, nil); err != nil {
			return fmt.Errorf("DeleteProfiles(nil): %w", err)
		}
		return tx.DeleteProfiles(ctx, []string{p1.ID, p2.ID, "prf_unknown"})
	})

	for _, id := range []string{p1.ID, p2.ID} {
		_, err := s.Profile(ctx, id)
		wantCode(t, fmt.Sprintf("Profile(%s) after deleting it", id), err, kith.ENOTFOUND)
		if got := readLinks(t, s, id); len(got) != 0 {
			t.Errorf("Links(%s) after deleting it = %v, want none", id, got)
		}
		if got := readTimeline(t, s, id, nil, 10); len(got) != 0 {
			t.Errorf("Timeline(%s) after deleting it = %v, want none", id, messageIDs(got))
		}
		if got := readConflicts(t, s, id); len(got) != 0 {
			t.Errorf("Conflicts(%s) after deleting it = %v, want none", id, got)
		}
	}
	for _, id := range []string{"one@example.com", "two@example.com"} {
		if got := profileIDsFor(t, s, kith.IDEmail, id); len(got) != 0 {
			t.Errorf("ProfileIDsFor(%s) after deleting its holder = %v, want none", id, got)
		}
	}
	if got := profileIDsFor(t, s, kith.IDDeviceID, "dev"); !cmp.Equal(got, []string{p3.ID}) {
		t.Errorf("ProfileIDsFor a device shared with a deleted profile = %v, want [%s]", got, p3.ID)
	}
	// Everything else stays.
	p4.MergedInto = p3.ID
	for _, p := range []*kith.Profile{p3, p4} {
		if diff := cmp.Diff(p, readProfile(t, s, p.ID), profileOpts); diff != "" {
			t.Errorf("Profile(%s) after deleting others (-want +got):\n%s", p.ID, diff)
		}
	}
	if got := len(readLinks(t, s, p3.ID)); got != 3 {
		t.Errorf("Links(%s) after deleting others: %d, want 3", p3.ID, got)
	}
	if got := messageIDs(readTimeline(t, s, p3.ID, nil, 10)); !cmp.Equal(got, []string{evs[3].MessageID, evs[2].MessageID}) {
		t.Errorf("Timeline(%s) after deleting others = %v", p3.ID, got)
	}
	if diff := cmp.Diff([]kith.Conflict{shared}, readConflicts(t, s, p3.ID)); diff != "" {
		t.Errorf("Conflicts(%s) after deleting others (-want +got):\n%s", p3.ID, diff)
	}
	update(t, s, func(ctx context.Context, tx kith.ProfileTx) error {
		if _, err := tx.Merge(ctx, m12.ID); !kith.IsCode(err, kith.ENOTFOUND) {
			t.Errorf("Merge(%s) that absorbed a deleted profile: %v, want code %q", m12.ID, err, kith.ENOTFOUND)
		}
		for _, id := range []string{old.ID, m34.ID} {
			if _, err := tx.Merge(ctx, id); err != nil {
				t.Errorf("Merge(%s) after deleting profiles: %v; an undone or unrelated merge stays", id, err)
			}
		}
		return nil
	})
}

// Conflicts are listed under every profile involved; recording one twice
// changes nothing.
func testConflicts(t *testing.T, s Store) {
	a, b, c := newProfile("prf_a", 1), newProfile("prf_b", 2), newProfile("prf_c", 3)
	putProfiles(t, s, a, b, c)
	first := kith.Conflict{Seq: 7, MessageID: "msg \"7\" ✓", Profiles: []string{b.ID, a.ID, c.ID},
		Reason: "email:x@example.com links them but user_id \"u1\" ≠ \"u2\" \\ ✓", At: at(time.Minute)}
	later := kith.Conflict{Seq: 9, MessageID: "msg-9", Profiles: []string{a.ID}, Reason: "max 3 emails", At: at(-time.Minute)}
	earlier := kith.Conflict{Seq: 3, MessageID: "msg-3", Profiles: []string{c.ID, a.ID}, Reason: "unique phone", At: at(time.Hour)}
	addConflicts(t, s, first, later, first)
	addConflicts(t, s, earlier, first)
	// Oldest (in the log) first.
	for _, tt := range []struct {
		id   string
		want []kith.Conflict
	}{
		{a.ID, []kith.Conflict{earlier, first, later}},
		{b.ID, []kith.Conflict{first}},
		{c.ID, []kith.Conflict{earlier, first}},
		{"prf_none", nil},
	} {
		if diff := cmp.Diff(tt.want, readConflicts(t, s, tt.id), cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("Conflicts(%s) (-want +got):\n%s", tt.id, diff)
		}
	}
}

// One event may raise several conflicts that share a profile (it pointed
// at two profiles the rules keep from its target): each is a conflict of
// its own, listed under every profile it names.
func testConflictsOfOneEvent(t *testing.T, s Store) {
	target, p, q := newProfile("prf_t", 1), newProfile("prf_p", 2), newProfile("prf_q", 3)
	putProfiles(t, s, target, p, q)
	withP := kith.Conflict{Seq: 5, MessageID: "msg-5", Profiles: []string{p.ID, target.ID}, Reason: "email links them but unique user_id", At: at(0)}
	withQ := kith.Conflict{Seq: 5, MessageID: "msg-5", Profiles: []string{q.ID, target.ID}, Reason: "phone links them but unique user_id", At: at(0)}
	addConflicts(t, s, withP, withQ)
	byReason := cmpopts.SortSlices(func(a, b kith.Conflict) bool { return a.Reason < b.Reason })
	for _, tt := range []struct {
		id   string
		want []kith.Conflict
	}{
		{target.ID, []kith.Conflict{withP, withQ}},
		{p.ID, []kith.Conflict{withP}},
		{q.ID, []kith.Conflict{withQ}},
	} {
		if diff := cmp.Diff(tt.want, readConflicts(t, s, tt.id), byReason); diff != "" {
			t.Errorf("Conflicts(%s) (-want +got):\n%s", tt.id, diff)
		}
	}
}

func testDoNotLink(t *testing.T, s Store) {
	a, b, d, e, f := newProfile("prf_a", 1), newProfile("prf_b", 2), newProfile("prf_d", 3), newProfile("prf_e", 4), newProfile("prf_f", 5)
	putProfiles(t, s, a, b, d, e, f)
	check := func(when string, want map[[2]string]bool) {
		t.Helper()
		update(t, s, func(ctx context.Context, tx kith.ProfileTx) error {
			for pair, w := range want {
				for _, p := range [][2]string{pair, {pair[1], pair[0]}} {
					got, err := tx.DoNotLink(ctx, p[0], p[1])
					if err != nil {
						return err
					}
					if got != w {
						t.Errorf("%s: DoNotLink(%s, %s) = %v, want %v", when, p[0], p[1], got, w)
					}
				}
			}
			return nil
		})
	}
	check("before any rule", map[[2]string]bool{{a.ID, b.ID}: false, {a.ID, d.ID}: false})
	update(t, s, func(ctx context.Context, tx kith.ProfileTx) error {
		return tx.AddDoNotLink(ctx, a.ID, b.ID, "mrg_1", at(time.Hour))
	})
	check("after the rule", map[[2]string]bool{{a.ID, b.ID}: true, {a.ID, d.ID}: false, {b.ID, d.ID}: false, {d.ID, e.ID}: false})
	// The rule holds for whatever absorbs either side.
	absorb(t, s, newMerge("mrg_ea", e.ID, a.ID, 10))
	check("after A was absorbed into E", map[[2]string]bool{{e.ID, b.ID}: true, {e.ID, d.ID}: false, {b.ID, d.ID}: false})
	absorb(t, s, newMerge("mrg_fb", f.ID, b.ID, 11))
	check("after B was absorbed into F", map[[2]string]bool{{e.ID, f.ID}: true, {e.ID, d.ID}: false, {f.ID, d.ID}: false})
}

func testSearchNames(t *testing.T, s Store) {
	ann := newProfile("prf_ann", 1, "ann lee", "lee ann")
	anna := newProfile("prf_anna", 2, "anna smith", "smith anna")
	zoe := newProfile("prf_zoe", 3, "zoë ånström", "ånström zoë")
	bob := newProfile("prf_bob", 4, "bob")
	pct := newProfile("prf_pct", 5, "100% real", "real 100%")
	pcx := newProfile("prf_pcx", 6, "100x real", "real 100x")
	under := newProfile("prf_under", 7, "a_b c", "c a_b")
	axb := newProfile("prf_axb", 8, "axb c", "c axb")
	nameless := newProfile("prf_nameless", 9)
	gone := newProfile("prf_gone", 10, "annabel gone", "gone annabel")
	putProfiles(t, s, ann, anna, zoe, bob, pct, pcx, under, axb, nameless, gone)
	absorb(t, s, newMerge("mrg_1", bob.ID, gone.ID, 11))

	tests := []struct {
		q    string
		want []string
	}{
		{"ann", []string{ann.ID, anna.ID}},
		{"anna", []string{anna.ID}},
		{"ann lee", []string{ann.ID}},
		{"lee", []string{ann.ID}},
		{"lee ann", []string{ann.ID}},
		{"smith", []string{anna.ID}},
		{"Ann", []string{ann.ID, anna.ID}},
		{"LEE  Ann", []string{ann.ID}},
		{"ZOË", []string{zoe.ID}},
		{"ånström z", []string{zoe.ID}},
		{"nn", nil},
		{"lee annie", nil},
		{"100%", []string{pct.ID}},
		{"100", []string{pct.ID, pcx.ID}},
		{"a_b", []string{under.ID}},
		{"gone", nil},
		{"annabel", nil},
		{"x", nil},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, search(t, s, tt.q, nil, 20), sortStrings, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("SearchProfiles(%q) (-want +got):\n%s", tt.q, diff)
		}
	}

	// A renamed profile is found by its new name only; a profile that lost
	// its name, by none.
	ann2 := newProfile(ann.ID, 1, "ann kim", "kim ann")
	anna2 := newProfile(anna.ID, 2)
	putProfiles(t, s, ann2, anna2)
	for _, tt := range []struct {
		q    string
		want []string
	}{{"lee", nil}, {"kim", []string{ann.ID}}, {"ann", []string{ann.ID}}, {"smith", nil}} {
		if diff := cmp.Diff(tt.want, search(t, s, tt.q, nil, 20), sortStrings, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("after renaming: SearchProfiles(%q) (-want +got):\n%s", tt.q, diff)
		}
	}
}

func testSearchIdentifiers(t *testing.T, s Store) {
	a, b, c, d := newProfile("prf_a", 1, "ann lee", "lee ann"), newProfile("prf_b", 2), newProfile("prf_c", 3), newProfile("prf_d", 4)
	putProfiles(t, s, a, b, c, d)
	addLinks(t, s,
		newLink(kith.IDEmail, "ann@example.com", a.ID, 1), newLink(kith.IDPhone, "+447700900123", a.ID, 1),
		newLink(kith.IDEmail, "annie@example.org", b.ID, 2), newLink(kith.IDPhone, "+447700900999", b.ID, 2),
		newLink(kith.IDEmail, "a_b%c@example.com", c.ID, 3), newLink(kith.IDUserID, "ann@example.com", c.ID, 3),
		newLink(kith.IDEmail, "axbyc@example.com", d.ID, 4))
	email := func(v string) kith.Identifier { return kith.Identifier{Type: kith.IDEmail, Value: v} }
	phone := func(v string) kith.Identifier { return kith.Identifier{Type: kith.IDPhone, Value: v} }
	tests := []struct {
		name     string
		q        string
		prefixes []kith.Identifier
		want     []string
	}{
		{"email prefix", "", []kith.Identifier{email("ann")}, []string{a.ID, b.ID}},
		{"whole email", "", []kith.Identifier{email("ann@example.com")}, []string{a.ID}},
		{"email of one type only", "", []kith.Identifier{email("ann@example.c")}, []string{a.ID}},
		{"phone prefix", "", []kith.Identifier{phone("+4477009001")}, []string{a.ID}},
		{"phone prefix of both", "", []kith.Identifier{phone("+447700900")}, []string{a.ID, b.ID}},
		{"several prefixes", "", []kith.Identifier{email("annie"), phone("+447700900123")}, []string{a.ID, b.ID}},
		{"not a substring", "", []kith.Identifier{email("example")}, nil},
		{"wildcards are literal", "", []kith.Identifier{email("a_b%")}, []string{c.ID}},
		{"no match", "", []kith.Identifier{email("zed")}, nil},
		// A profile found by name and identifier is listed once.
		{"name and identifier", "ann", []kith.Identifier{email("ann")}, []string{a.ID, b.ID}},
		{"name or identifier", "lee", []kith.Identifier{phone("+447700900999")}, []string{a.ID, b.ID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := search(t, s, tt.q, tt.prefixes, 20)
			if diff := cmp.Diff(tt.want, got, sortStrings, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("SearchProfiles(%q, %v) (-want +got):\n%s", tt.q, tt.prefixes, diff)
			}
		})
	}

	// After a merge the identifiers find the survivor.
	absorb(t, s, newMerge("mrg_1", a.ID, b.ID, 5))
	if diff := cmp.Diff([]string{a.ID}, search(t, s, "", []kith.Identifier{email("annie")}, 20)); diff != "" {
		t.Errorf("SearchProfiles by an absorbed profile's email (-want +got):\n%s", diff)
	}
}

// A limit caps the profiles returned, each once, and is reached whenever
// enough profiles match.
func testSearchLimit(t *testing.T, s Store) {
	var ps []*kith.Profile
	for i := range 6 {
		ps = append(ps, newProfile(fmt.Sprintf("prf_%d", i), int64(i+1), fmt.Sprintf("sam %d", i), fmt.Sprintf("%d sam", i)))
	}
	putProfiles(t, s, ps...)
	// prf_0 holds two matching e-mail addresses, sorting before the others'.
	addLinks(t, s, newLink(kith.IDEmail, "sam.a@example.com", ps[0].ID, 1), newLink(kith.IDEmail, "sam.b@example.com", ps[0].ID, 1),
		newLink(kith.IDEmail, "sam.c@example.com", ps[1].ID, 2), newLink(kith.IDEmail, "sam.d@example.com", ps[2].ID, 3))
	email := []kith.Identifier{{Type: kith.IDEmail, Value: "sam"}}
	for _, tt := range []struct {
		name     string
		q        string
		prefixes []kith.Identifier
		limit    int
		matching int
	}{
		{"by name", "sam", nil, 3, 6},
		{"by name, limit above the matches", "sam", nil, 10, 6},
		{"by name, limit 1", "sam", nil, 1, 6},
		{"by identifier", "", email, 2, 3},
		{"by identifier, limit 3", "", email, 3, 3},
		{"by name and identifier", "sam", email, 5, 6},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := search(t, s, tt.q, tt.prefixes, tt.limit)
			if want := min(tt.limit, tt.matching); len(got) != want {
				t.Errorf("SearchProfiles(%q, %v, %d) returned %d profiles %v, want %d", tt.q, tt.prefixes, tt.limit, len(got), got, want)
			}
			seen := map[string]bool{}
			for _, id := range got {
				if seen[id] {
					t.Errorf("SearchProfiles(%q, %v, %d) = %v lists %s twice", tt.q, tt.prefixes, tt.limit, got, id)
				}
				seen[id] = true
			}
		})
	}
}

// A transaction reads the cursor as committed before it, under its own
// write lock: the processor relies on it to refuse a batch another
// processor applied meanwhile.
func testCursorInsideTransaction(t *testing.T, s Store) {
	ctx := context.Background()
	var seen []int64
	read := func(tx kith.ProfileTx) error {
		c, err := tx.Cursor(ctx, "profiles")
		seen = append(seen, c)
		return err
	}
	for _, to := range []int64{5, 9} {
		if err := s.Process(ctx, "profiles", to, read); err != nil {
			t.Fatalf("Process(%d): %v", to, err)
		}
	}
	if err := s.Update(ctx, read); err != nil {
		t.Fatalf("Update: %v", err)
	}
	if want := []int64{0, 5, 9}; !slices.Equal(seen, want) {
		t.Errorf("cursor inside transactions = %v, want %v", seen, want)
	}
	var other int64 = -1
	if err := s.Update(ctx, func(tx kith.ProfileTx) error {
		var err error
		other, err = tx.Cursor(ctx, "never-moved")
		return err
	}); err != nil || other != 0 {
		t.Errorf("cursor never moved = %d, %v; want 0", other, err)
	}
}

// Links added in a transaction are seen by its later reads, whether
// ProfilesFor asks for one identifier or many (a store may answer a list
// in one statement), and the first link of an identifier to a profile is
// kept.
func testLinksInOneTransaction(t *testing.T, s Store) {
	a, b := newProfile("prf_a", 1), newProfile("prf_b", 2)
	putProfiles(t, s, a, b)
	values := []string{"ann@example.com", "zoë@example.com", `odd"quote\\back@example.com`, "tab\tand\u0001@example.com", "李@example.com", "😀@example.com"}
	var ids []kith.Identifier
	for _, v := range values {
		ids = append(ids, kith.Identifier{Type: kith.IDEmail, Value: v})
	}
	shared := kith.Identifier{Type: kith.IDDeviceID, Value: "dev-1"}
	absent := kith.Identifier{Type: kith.IDPhone, Value: "+14155550123"}
	first := newLink(kith.IDEmail, values[0], a.ID, 10)
	again := newLink(kith.IDEmail, values[0], a.ID, 30)
	type read struct {
		One, Many map[kith.Identifier][]string
		Held      []kith.Identifier
	}
	got := inTx(t, s, "link and read", func(ctx context.Context, tx kith.ProfileTx) (read, error) {
		var r read
		for i, id := range ids {
			l := newLink(id.Type, id.Value, a.ID, int64(10+i))
			if i == 0 {
				l = first
			}
			if err := tx.AddLink(ctx, l); err != nil {
				return r, err
			}
		}
		for _, l := range []kith.Link{again, newLink(shared.Type, shared.Value, a.ID, 40), newLink(shared.Type, shared.Value, b.ID, 41)} {
			if err := tx.AddLink(ctx, l); err != nil {
				return r, err
			}
		}
		var err error
		if r.One, err = tx.ProfilesFor(ctx, []kith.Identifier{ids[1]}); err != nil {
			return r, err
		}
		if r.Many, err = tx.ProfilesFor(ctx, append(append([]kith.Identifier{absent, shared}, ids...), absent)); err != nil {
			return r, err
		}
		r.Held, err = tx.Identifiers(ctx, a.ID)
		return r, err
	})
	if diff := cmp.Diff(map[kith.Identifier][]string{ids[1]: {a.ID}}, got.One); diff != "" {
		t.Errorf("ProfilesFor one identifier linked in the transaction (-want +got):\n%s", diff)
	}
	want := map[kith.Identifier][]string{shared: {a.ID, b.ID}}
	for _, id := range ids {
		want[id] = []string{a.ID}
	}
	if diff := cmp.Diff(want, got.Many); diff != "" {
		t.Errorf("ProfilesFor many identifiers linked in the transaction (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(append(append([]kith.Identifier{}, ids...), shared), got.Held, sortIdentifiers); diff != "" {
		t.Errorf("Identifiers in the transaction (-want +got):\n%s", diff)
	}
	links := readLinks(t, s, a.ID)
	if len(links) == 0 || links[0] != first {
		t.Errorf("Links(%s) = %v, want the first link of %s first", a.ID, links, first.Identifier)
	}
	if got := profileIDsFor(t, s, shared.Type, shared.Value); !cmp.Equal(got, []string{a.ID, b.ID}, sortStrings) {
		t.Errorf("ProfileIDsFor(%s) after commit = %v, want [%s %s]", shared, got, a.ID, b.ID)
	}
}

// HoldersOf answers, for a list of identifiers, the current profiles
// holding each with the event that created it; absorbed profiles and
// identifiers nobody holds are left out.
func testHoldersOf(t *testing.T, s Store) {
	hr, ok := s.(importer.HolderReader)
	if !ok {
		t.Fatalf("%T does not implement importer.HolderReader", s)
	}
	a, b, c := newProfile("prf_a", 1), newProfile("prf_b", 2), newProfile("prf_c", 3)
	putProfiles(t, s, a, b, c)
	ann := kith.Identifier{Type: kith.IDEmail, Value: "ann@example.com"}
	zoe := kith.Identifier{Type: kith.IDEmail, Value: "zoë@example.com"}
	dev := kith.Identifier{Type: kith.IDDeviceID, Value: "dev-1"}
	moved := kith.Identifier{Type: kith.IDPhone, Value: "+14155550123"}
	nobody := kith.Identifier{Type: kith.IDEmail, Value: "nobody@example.com"}
	addLinks(t, s, newLink(ann.Type, ann.Value, a.ID, 10), newLink(zoe.Type, zoe.Value, b.ID, 11),
		newLink(dev.Type, dev.Value, a.ID, 12), newLink(dev.Type, dev.Value, b.ID, 13), newLink(moved.Type, moved.Value, c.ID, 14))
	absorb(t, s, newMerge("mrg_1", b.ID, c.ID, 20))
	got, err := hr.HoldersOf(context.Background(), []kith.Identifier{ann, zoe, dev, moved, nobody, ann})
	if err != nil {
		t.Fatalf("HoldersOf: %v", err)
	}
	want := map[kith.Identifier]map[string]int64{
		ann:   {a.ID: 1},
		zoe:   {b.ID: 2},
		dev:   {a.ID: 1, b.ID: 2},
		moved: {b.ID: 2},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("HoldersOf (-want +got):\n%s", diff)
	}
	if got, err := hr.HoldersOf(context.Background(), nil); err != nil || len(got) != 0 {
		t.Errorf("HoldersOf(nil) = %v, %v; want none", got, err)
	}
}

// Profiles put in a transaction are seen by its later reads, the last put
// of one winning, and a merge in the same transaction marks the absorbed
// profile it has just put.
func testProfilesInOneTransaction(t *testing.T, s Store) {
	a, b := newProfile("prf_a", 1, "ann lee"), newProfile("prf_b", 2)
	a2 := newProfile("prf_a", 1, "ann smith")
	a2.Events = 7
	type read struct {
		A       *kith.Profile
		Cluster []string
	}
	got := inTx(t, s, "put and read", func(ctx context.Context, tx kith.ProfileTx) (read, error) {
		var r read
		for _, p := range []*kith.Profile{a, b, a2} {
			if err := tx.PutProfile(ctx, p); err != nil {
				return r, err
			}
		}
		var err error
		if r.A, err = tx.Profile(ctx, a.ID); err != nil {
			return r, err
		}
		c := newProfile("prf_c", 3)
		if err := tx.PutProfile(ctx, c); err != nil {
			return r, err
		}
		if err := tx.Absorb(ctx, newMerge("mrg_1", a.ID, c.ID, 10)); err != nil {
			return r, err
		}
		cl, err := tx.Cluster(ctx, a.ID)
		r.Cluster = profileIDs(cl)
		return r, err
	})
	if got.A == nil || got.A.Events != 7 || !cmp.Equal(got.A.SearchKeys, []string{"ann smith"}) {
		t.Errorf("Profile after two puts in one transaction = %+v, want the second", got.A)
	}
	if diff := cmp.Diff([]string{a.ID, "prf_c"}, got.Cluster, sortStrings); diff != "" {
		t.Errorf("Cluster after putting and absorbing in one transaction (-want +got):\n%s", diff)
	}
	if p := readProfile(t, s, "prf_c"); p.MergedInto != a.ID {
		t.Errorf("absorbed profile put in the same transaction: MergedInto = %q, want %s", p.MergedInto, a.ID)
	}
	if p := readProfile(t, s, a.ID); p.Events != 7 {
		t.Errorf("after commit, Events = %d, want 7 (the last put)", p.Events)
	}
}

// A store whose ProfileTx is a profile.BulkReader (optional: the embedded
// store's, for the processor's cache) answers for a list what Profile and
// Identifiers answer one by one, inside the transaction, links and
// profiles just written included.
func testBulkReads(t *testing.T, s Store) {
	a, b, c := newProfile("prf_a", 1, "ann lee"), newProfile("prf_b", 2), newProfile("prf_c", 3)
	putProfiles(t, s, a, c)
	addLinks(t, s, newLink(kith.IDEmail, "ann@example.com", a.ID, 10), newLink(kith.IDPhone, "+14155550123", a.ID, 11),
		newLink(kith.IDEmail, "cy@example.com", c.ID, 12))
	absorb(t, s, newMerge("mrg_1", a.ID, c.ID, 20))
	type read struct {
		Profiles       map[string]*kith.Profile
		Held, WantHeld map[string][]kith.Identifier
		WantA, WantC   *kith.Profile
		Implemented    bool
	}
	got := inTx(t, s, "bulk reads", func(ctx context.Context, tx kith.ProfileTx) (read, error) {
		var r read
		br, ok := tx.(profile.BulkReader)
		if !ok {
			return r, nil
		}
		r.Implemented = true
		if err := tx.PutProfile(ctx, b); err != nil {
			return r, err
		}
		if err := tx.AddLink(ctx, newLink(kith.IDEmail, "bo@example.com", b.ID, 30)); err != nil {
			return r, err
		}
		ids := []string{a.ID, b.ID, c.ID, "prf_none"}
		var err error
		if r.Profiles, err = br.ProfilesByID(ctx, ids); err != nil {
			return r, err
		}
		if r.Held, err = br.IdentifiersOf(ctx, ids); err != nil {
			return r, err
		}
		r.WantHeld = map[string][]kith.Identifier{}
		for _, id := range ids {
			held, err := tx.Identifiers(ctx, id)
			if err != nil {
				return r, err
			}
			if len(held) > 0 {
				r.WantHeld[id] = held
			}
		}
		if r.WantA, err = tx.Profile(ctx, a.ID); err != nil {
			return r, err
		}
		r.WantC, err = tx.Profile(ctx, c.ID)
		return r, err
	})
	if !got.Implemented {
		t.Skip("this store's ProfileTx is not a profile.BulkReader (optional)")
	}
	if diff := cmp.Diff(got.WantHeld, got.Held); diff != "" {
		t.Errorf("IdentifiersOf (-as Identifiers +got):\n%s", diff)
	}
	if len(got.Profiles) != 3 || got.Profiles["prf_none"] != nil {
		t.Fatalf("ProfilesByID returned %d profiles, want a, b and c", len(got.Profiles))
	}
	if diff := cmp.Diff(got.WantA, got.Profiles[a.ID]); diff != "" {
		t.Errorf("ProfilesByID(%s) (-as Profile +got):\n%s", a.ID, diff)
	}
	if p := got.Profiles[c.ID]; p == nil || p.MergedInto != a.ID || !cmp.Equal(got.WantC, p) {
		t.Errorf("ProfilesByID(%s) = %+v, want the absorbed profile as Profile reads it", c.ID, p)
	}
	if p := got.Profiles[b.ID]; p == nil || p.CreatedSeq != b.CreatedSeq {
		t.Errorf("ProfilesByID(%s) = %+v, want the profile put in the transaction", b.ID, p)
	}
}
