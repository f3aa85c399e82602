// Package storetest is the contract suite every Kith store runs: the SQLite
// store and the PostgreSQL store call Run with a function that opens a fresh,
// empty store, so the two cannot disagree about what the contracts in the
// root package promise.
package storetest

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/profile"
)

// Store is what a Kith store implements: the event log with its reader, the
// stores of sources and API keys, and profile storage.
type Store interface {
	kith.EventLog
	kith.EventReader
	kith.SourceStore
	kith.KeyStore
	kith.UserStore
	kith.SessionStore
	kith.AuditLog
	kith.OfferStore
	kith.MatchStore
	kith.AudienceStore
	kith.ComputedStore
	kith.ConsentStore
	profile.Store
	profile.Reader
	// ScanProfiles returns up to limit current profiles with ids after
	// after, in id order.
	ScanProfiles(ctx context.Context, after string, limit int) ([]kith.Profile, error)
	// ScanCustomers is ScanProfiles of the profiles holding a purchase or
	// a lifecycle stage (and perhaps others, never fewer).
	ScanCustomers(ctx context.Context, after string, limit int) ([]kith.Profile, error)
	// ScanStoredProfiles is ScanProfiles with the documents undecoded.
	ScanStoredProfiles(ctx context.Context, after string, limit int) ([]kith.StoredProfile, error)
	// CountProfiles counts the current profiles.
	CountProfiles(ctx context.Context) (int64, error)
}

// Run runs the contract suite. open must return a new, empty store for the
// test it is given, and arrange (with t.Cleanup) for it to be closed.
//
// The suite tests only what the root package documents. Times are compared at
// microsecond precision, the finest that every store keeps; a store that keeps
// more tests that itself.
func Run(t *testing.T, open func(t *testing.T) Store) {
	runEach(t, open, []storeTest{
		{"Sources/CreateAndList", testSourcesCreateAndList},
		{"Sources/Conflict", testSourcesConflict},
		{"Sources/ConcurrentCreateSameName", testSourcesConcurrentCreate},
		{"Sources/NotFound", testSourcesNotFound},
		{"Sources/Revoke", testSourcesRevoke},
		{"Revoke/AmbiguousIDAndName", testRevokeAmbiguous},
		{"APIKeys/CreateAndList", testKeysCreateAndList},
		{"APIKeys/Conflict", testKeysConflict},
		{"APIKeys/NotFound", testKeysNotFound},
		{"APIKeys/Revoke", testKeysRevoke},
		{"Events/AppendRoundTrip", testAppendRoundTrip},
		{"Events/TimePrecision", testTimePrecision},
		{"Events/TimesFarFromNow", testTimesFarFromNow},
		{"Events/AppendEmpty", testAppendEmpty},
		{"Events/SeqIncreases", testSeqIncreases},
		{"Events/Dedupe", testDedupe},
		{"Events/ReadPaging", testReadPaging},
		{"Events/CancelledContext", testCancelledContext},
		{"Events/ConcurrentAppend", testConcurrentAppend},
	})
	runProfiles(t, open)
	runUsers(t, open)
	runOffers(t, open)
	runMatches(t, open)
	runAudiences(t, open)
	runAudienceSizes(t, open)
	runComputed(t, open)
	runLinks(t, open)
	runConsent(t, open)
	runErasure(t, open)
}

// storeTest is one contract test.
type storeTest struct {
	name string
	fn   func(t *testing.T, s Store)
}

// runEach runs each test as a subtest on a fresh store.
func runEach(t *testing.T, open func(t *testing.T) Store, tests []storeTest) {
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.fn(t, open(t))
		})
	}
}

// base is a time with microseconds set, so that it round-trips exactly in
// every store.
var base = time.Date(2026, 3, 1, 12, 0, 0, 123456000, time.UTC)

func at(d time.Duration) time.Time { return base.Add(d) }

func source(id, name, writeKey string, created time.Time) *kith.Source {
	return &kith.Source{ID: id, Name: name, Kind: kith.KindWeb, WriteKey: writeKey, CreatedAt: created}
}

func apiKey(id, name, hash string, created time.Time, scopes ...kith.Scope) *kith.APIKey {
	return &kith.APIKey{ID: id, Name: name, Scopes: scopes, Hash: []byte(hash), Hint: "kith_" + id, CreatedAt: created}
}

func mustCreateSource(t *testing.T, s Store, src *kith.Source) {
	t.Helper()
	if err := s.CreateSource(context.Background(), src); err != nil {
		t.Fatalf("CreateSource(%s): %v", src.Name, err)
	}
}

func mustCreateKey(t *testing.T, s Store, k *kith.APIKey) {
	t.Helper()
	if err := s.CreateAPIKey(context.Background(), k); err != nil {
		t.Fatalf("CreateAPIKey(%s): %v", k.Name, err)
	}
}

func wantCode(t *testing.T, what string, err error, code string) {
	t.Helper()
	if !kith.IsCode(err, code) {
		t.Errorf("%s: error %v (code %q), want code %q", what, err, kith.ErrorCode(err), code)
	}
}

func sources(t *testing.T, s Store) []kith.Source {
	t.Helper()
	got, err := s.Sources(context.Background())
	if err != nil {
		t.Fatalf("Sources: %v", err)
	}
	return got
}

func apiKeys(t *testing.T, s Store) []kith.APIKey {
	t.Helper()
	got, err := s.APIKeys(context.Background())
	if err != nil {
		t.Fatalf("APIKeys: %v", err)
	}
	return got
}

func testSourcesCreateAndList(t *testing.T, s Store) {
	ctx := context.Background()
	if got := sources(t, s); len(got) != 0 {
		t.Fatalf("Sources of an empty store = %v, want none", got)
	}
	// Created out of order: the list is oldest first, not insertion order.
	// Ids, names and write keys sort against age, so that ordering by any
	// of them shows.
	b := source("src_b", "app", "wk-b-0000000001", at(2*time.Hour))
	b.Kind = kith.KindApp
	a := source("src_c", "site", "wk-c-0000000001", at(time.Hour))
	c := source("src_a", "shop-1.till", "wk-a-0000000001", at(3*time.Hour))
	c.Kind = kith.KindPOS
	for _, src := range []*kith.Source{b, a, c} {
		mustCreateSource(t, s, src)
	}
	want := []kith.Source{*a, *b, *c}
	if diff := cmp.Diff(want, sources(t, s)); diff != "" {
		t.Errorf("Sources (-want +got):\n%s", diff)
	}
	for _, src := range want {
		got, err := s.SourceByWriteKey(ctx, src.WriteKey)
		if err != nil {
			t.Fatalf("SourceByWriteKey(%s): %v", src.WriteKey, err)
		}
		if diff := cmp.Diff(&src, got); diff != "" {
			t.Errorf("SourceByWriteKey(%s) (-want +got):\n%s", src.WriteKey, diff)
		}
		if got.Revoked() {
			t.Errorf("source %s is revoked right after creation", src.Name)
		}
	}
}

func testSourcesConflict(t *testing.T, s Store) {
	existing := source("src_1", "site", "wk-site-000000001", at(0))
	mustCreateSource(t, s, existing)
	tests := []struct {
		name string
		src  *kith.Source
	}{
		{"same name", source("src_2", "site", "wk-other-00000001", at(time.Minute))},
		{"same write key", source("src_3", "app", "wk-site-000000001", at(time.Minute))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.CreateSource(context.Background(), tt.src)
			wantCode(t, "CreateSource", err, kith.ECONFLICT)
			if diff := cmp.Diff([]kith.Source{*existing}, sources(t, s)); diff != "" {
				t.Errorf("Sources after a conflict (-want +got):\n%s", diff)
			}
		})
	}
}

// Two nodes creating the same source at once: the store, not the caller,
// decides, so exactly one wins.
func testSourcesConcurrentCreate(t *testing.T, s Store) {
	const n = 16
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			errs[i] = s.CreateSource(context.Background(),
				source(fmt.Sprintf("src_%02d", i), "site", fmt.Sprintf("wk-site-%08d", i), at(time.Duration(i))))
		})
	}
	wg.Wait()
	won := 0
	for i, err := range errs {
		switch {
		case err == nil:
			won++
		case !kith.IsCode(err, kith.ECONFLICT):
			t.Errorf("CreateSource #%d: %v, want nil or code %q", i, err, kith.ECONFLICT)
		}
	}
	if won != 1 {
		t.Errorf("%d of %d concurrent creations of one name succeeded, want 1", won, n)
	}
	if got := sources(t, s); len(got) != 1 {
		t.Errorf("Sources = %v, want exactly one", got)
	}
}

func testSourcesNotFound(t *testing.T, s Store) {
	ctx := context.Background()
	mustCreateSource(t, s, source("src_1", "site", "wk-site-000000001", at(0)))
	for _, key := range []string{"", "wk-nope-000000001", "WK-SITE-000000001", "wk-site-00000000"} {
		_, err := s.SourceByWriteKey(ctx, key)
		wantCode(t, fmt.Sprintf("SourceByWriteKey(%q)", key), err, kith.ENOTFOUND)
	}
	for _, idOrName := range []string{"", "src_2", "Site", "wk-site-000000001"} {
		_, err := s.RevokeSource(ctx, idOrName, at(time.Hour))
		wantCode(t, fmt.Sprintf("RevokeSource(%q)", idOrName), err, kith.ENOTFOUND)
	}
	if got := sources(t, s); len(got) != 1 || got[0].Revoked() {
		t.Errorf("Sources after failed revocations = %v, want the one source unrevoked", got)
	}
}

func testSourcesRevoke(t *testing.T, s Store) {
	ctx := context.Background()
	tests := []struct {
		name  string
		by    func(src *kith.Source) string
		first time.Duration // offset of the first revocation; the second is an hour later
	}{
		{"by id", func(src *kith.Source) string { return src.ID }, time.Hour},
		{"by name", func(src *kith.Source) string { return src.Name }, 2 * time.Hour},
	}
	other := source("src_other", "other", "wk-other-00000001", at(0))
	mustCreateSource(t, s, other)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := source(fmt.Sprintf("src_%d", i), fmt.Sprintf("site-%d", i), fmt.Sprintf("wk-site-%08d", i), at(time.Minute))
			mustCreateSource(t, s, src)
			want := *src
			want.RevokedAt = at(tt.first)

			got, err := s.RevokeSource(ctx, tt.by(src), at(tt.first))
			if err != nil {
				t.Fatalf("RevokeSource: %v", err)
			}
			if diff := cmp.Diff(&want, got); diff != "" {
				t.Errorf("RevokeSource returned (-want +got):\n%s", diff)
			}
			if !got.Revoked() {
				t.Errorf("Revoked() = false after RevokeSource")
			}
			// Revoking twice keeps the first time.
			got, err = s.RevokeSource(ctx, tt.by(src), at(tt.first+time.Hour))
			if err != nil {
				t.Fatalf("second RevokeSource: %v", err)
			}
			if diff := cmp.Diff(&want, got); diff != "" {
				t.Errorf("second RevokeSource returned (-want +got):\n%s", diff)
			}
			stored, err := s.SourceByWriteKey(ctx, src.WriteKey)
			if err != nil {
				t.Fatalf("SourceByWriteKey: %v", err)
			}
			if diff := cmp.Diff(&want, stored); diff != "" {
				t.Errorf("stored source after revocation (-want +got):\n%s", diff)
			}
			untouched, err := s.SourceByWriteKey(ctx, other.WriteKey)
			if err != nil {
				t.Fatalf("SourceByWriteKey(other): %v", err)
			}
			if untouched.Revoked() {
				t.Errorf("revoking %s also revoked %s", src.Name, other.Name)
			}
		})
	}
	// Revoked sources stay listed.
	if got := sources(t, s); len(got) != 3 {
		t.Errorf("Sources lists %d sources after revocations, want 3", len(got))
	}
}

// A name may look like another source's or key's id. Revoking must still
// mark one, the one returned, not every row that matches either way.
func testRevokeAmbiguous(t *testing.T, s Store) {
	ctx := context.Background()
	a := source("src_a", "alpha", "wk-alpha-00000001", at(0))
	b := source("src_b", "src_a", "wk-beta-000000001", at(time.Minute))
	mustCreateSource(t, s, a)
	mustCreateSource(t, s, b)
	got, err := s.RevokeSource(ctx, "src_a", at(time.Hour))
	if err != nil {
		t.Fatalf("RevokeSource: %v", err)
	}
	revoked := 0
	for _, src := range sources(t, s) {
		if src.Revoked() {
			revoked++
			if src.ID != got.ID {
				t.Errorf("source %s revoked, but RevokeSource returned %s", src.ID, got.ID)
			}
		}
	}
	if revoked != 1 {
		t.Errorf("RevokeSource(%q) revoked %d sources, want 1", "src_a", revoked)
	}

	mustCreateKey(t, s, apiKey("key_a", "alpha", "hash-a", at(0), kith.ScopeAdmin))
	mustCreateKey(t, s, apiKey("key_b", "key_a", "hash-b", at(time.Minute), kith.ScopeAdmin))
	k, err := s.RevokeAPIKey(ctx, "key_a", at(time.Hour))
	if err != nil {
		t.Fatalf("RevokeAPIKey: %v", err)
	}
	revoked = 0
	for _, key := range apiKeys(t, s) {
		if key.Revoked() {
			revoked++
			if key.ID != k.ID {
				t.Errorf("key %s revoked, but RevokeAPIKey returned %s", key.ID, k.ID)
			}
		}
	}
	if revoked != 1 {
		t.Errorf("RevokeAPIKey(%q) revoked %d keys, want 1", "key_a", revoked)
	}
}

func testKeysCreateAndList(t *testing.T, s Store) {
	ctx := context.Background()
	if got := apiKeys(t, s); len(got) != 0 {
		t.Fatalf("APIKeys of an empty store = %v, want none", got)
	}
	// Ids, names and hashes sort against age, so that ordering by any of
	// them shows.
	b := apiKey("key_b", "reader", "hash-b", at(2*time.Hour), kith.ScopeProfilesRead)
	a := apiKey("key_c", "zz-admin", "hash-c", at(time.Hour), kith.ScopeAdmin)
	c := apiKey("key_a", "crm", "hash-a", at(3*time.Hour), kith.ScopeProfilesWrite, kith.ScopeProfilesRead)
	// A hash is bytes, not text: every byte value must survive.
	c.Hash = []byte{0x00, 0xff, 0x10, 0x80, 0x00, 0x7f}
	for _, k := range []*kith.APIKey{b, a, c} {
		mustCreateKey(t, s, k)
	}
	want := []kith.APIKey{*a, *b, *c}
	if diff := cmp.Diff(want, apiKeys(t, s)); diff != "" {
		t.Errorf("APIKeys (-want +got):\n%s", diff)
	}
	for _, k := range want {
		got, err := s.APIKeyByHash(ctx, k.Hash)
		if err != nil {
			t.Fatalf("APIKeyByHash(%x): %v", k.Hash, err)
		}
		if diff := cmp.Diff(&k, got); diff != "" {
			t.Errorf("APIKeyByHash(%x) (-want +got):\n%s", k.Hash, diff)
		}
		if got.Revoked() {
			t.Errorf("key %s is revoked right after creation", k.Name)
		}
	}
}

func testKeysConflict(t *testing.T, s Store) {
	existing := apiKey("key_1", "admin", "hash-1", at(0), kith.ScopeAdmin)
	mustCreateKey(t, s, existing)
	tests := []struct {
		name string
		key  *kith.APIKey
	}{
		{"same name", apiKey("key_2", "admin", "hash-2", at(time.Minute), kith.ScopeAdmin)},
		{"same hash", apiKey("key_3", "reader", "hash-1", at(time.Minute), kith.ScopeProfilesRead)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.CreateAPIKey(context.Background(), tt.key)
			wantCode(t, "CreateAPIKey", err, kith.ECONFLICT)
			if diff := cmp.Diff([]kith.APIKey{*existing}, apiKeys(t, s)); diff != "" {
				t.Errorf("APIKeys after a conflict (-want +got):\n%s", diff)
			}
		})
	}
}

func testKeysNotFound(t *testing.T, s Store) {
	ctx := context.Background()
	mustCreateKey(t, s, apiKey("key_1", "admin", "hash-1", at(0), kith.ScopeAdmin))
	for _, h := range [][]byte{nil, []byte("hash-2"), []byte("HASH-1"), []byte("hash-")} {
		_, err := s.APIKeyByHash(ctx, h)
		wantCode(t, fmt.Sprintf("APIKeyByHash(%q)", h), err, kith.ENOTFOUND)
	}
	for _, idOrName := range []string{"", "key_2", "Admin"} {
		_, err := s.RevokeAPIKey(ctx, idOrName, at(time.Hour))
		wantCode(t, fmt.Sprintf("RevokeAPIKey(%q)", idOrName), err, kith.ENOTFOUND)
	}
	if got := apiKeys(t, s); len(got) != 1 || got[0].Revoked() {
		t.Errorf("APIKeys after failed revocations = %v, want the one key unrevoked", got)
	}
}

func testKeysRevoke(t *testing.T, s Store) {
	ctx := context.Background()
	tests := []struct {
		name  string
		by    func(k *kith.APIKey) string
		first time.Duration
	}{
		{"by id", func(k *kith.APIKey) string { return k.ID }, time.Hour},
		{"by name", func(k *kith.APIKey) string { return k.Name }, 2 * time.Hour},
	}
	other := apiKey("key_other", "other", "hash-other", at(0), kith.ScopeAdmin)
	mustCreateKey(t, s, other)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			k := apiKey(fmt.Sprintf("key_%d", i), fmt.Sprintf("reader-%d", i), fmt.Sprintf("hash-%d", i), at(time.Minute),
				kith.ScopeProfilesRead)
			mustCreateKey(t, s, k)
			want := *k
			want.RevokedAt = at(tt.first)

			got, err := s.RevokeAPIKey(ctx, tt.by(k), at(tt.first))
			if err != nil {
				t.Fatalf("RevokeAPIKey: %v", err)
			}
			if diff := cmp.Diff(&want, got); diff != "" {
				t.Errorf("RevokeAPIKey returned (-want +got):\n%s", diff)
			}
			if !got.Revoked() {
				t.Errorf("Revoked() = false after RevokeAPIKey")
			}
			got, err = s.RevokeAPIKey(ctx, tt.by(k), at(tt.first+time.Hour))
			if err != nil {
				t.Fatalf("second RevokeAPIKey: %v", err)
			}
			if diff := cmp.Diff(&want, got); diff != "" {
				t.Errorf("second RevokeAPIKey returned (-want +got):\n%s", diff)
			}
			stored, err := s.APIKeyByHash(ctx, k.Hash)
			if err != nil {
				t.Fatalf("APIKeyByHash: %v", err)
			}
			if diff := cmp.Diff(&want, stored); diff != "" {
				t.Errorf("stored key after revocation (-want +got):\n%s", diff)
			}
			untouched, err := s.APIKeyByHash(ctx, other.Hash)
			if err != nil {
				t.Fatalf("APIKeyByHash(other): %v", err)
			}
			if untouched.Revoked() {
				t.Errorf("revoking %s also revoked %s", k.Name, other.Name)
			}
		})
	}
	if got := apiKeys(t, s); len(got) != 3 {
		t.Errorf("APIKeys lists %d keys after revocations, want 3", len(got))
	}
}

// event returns an event whose payload is determined by its source and
// messageId, so whichever of several identical sends is stored can be checked.
func event(sourceID, messageID string) kith.Event {
	return kith.Event{
		MessageID:   messageID,
		Type:        kith.TypeTrack,
		SourceID:    sourceID,
		Channel:     kith.KindWeb,
		AnonymousID: "anon-" + messageID,
		Timestamp:   at(time.Second),
		ReceivedAt:  at(2 * time.Second),
		Payload:     fmt.Appendf(nil, `{"type":"track","messageId":%q,"source":%q}`, messageID, sourceID),
	}
}

func mustAppend(t *testing.T, s Store, events ...kith.Event) kith.AppendResult {
	t.Helper()
	res, err := s.Append(context.Background(), events)
	if err != nil {
		t.Fatalf("Append(%d events): %v", len(events), err)
	}
	return res
}

// readAll follows the log from the start with a cursor, as a processor does.
func readAll(t *testing.T, s Store) []kith.Event {
	t.Helper()
	var out []kith.Event
	var after int64
	for {
		page, err := s.ReadEvents(context.Background(), after, 100)
		if err != nil {
			t.Fatalf("ReadEvents(%d, 100): %v", after, err)
		}
		if len(page) == 0 {
			return out
		}
		if len(page) > 100 || page[0].Seq <= after {
			t.Fatalf("ReadEvents(%d, 100) returned %d events from Seq %d", after, len(page), page[0].Seq)
		}
		out = append(out, page...)
		after = page[len(page)-1].Seq
	}
}

func checkIncreasing(t *testing.T, events []kith.Event) {
	t.Helper()
	var last int64
	for i, e := range events {
		if e.Seq <= last {
			t.Errorf("event %d (%s/%s) has Seq %d after Seq %d; want > 0 and increasing", i, e.SourceID, e.MessageID, e.Seq, last)
		}
		last = e.Seq
	}
}

var ignoreSeq = cmpopts.IgnoreFields(kith.Event{}, "Seq")

func testAppendRoundTrip(t *testing.T, s Store) {
	full := kith.Event{
		MessageID:         "msg-1",
		Type:              kith.TypeIdentify,
		SourceID:          "src_1",
		Channel:           kith.KindCallCenter,
		UserID:            "user-42",
		AnonymousID:       "anon-7",
		Timestamp:         at(-90 * time.Second),
		OriginalTimestamp: time.Date(2026, 3, 1, 13, 58, 30, 654321000, time.FixedZone("CET", 3600)),
		SentAt:            at(-30*time.Second + 7*time.Microsecond),
		ReceivedAt:        at(time.Microsecond),
		// Exactly as sent: key order, white space, escapes and non-ASCII
		// text are the client's, not a re-encoding.
		Payload: []byte("{\"userId\":\"user-42\", \"type\":\"identify\",\n  \"traits\":{\"name\":\"Zoë ✓ 日本\",\"nul\":\"a\\u0000b\",\"n\":1.50E+3,\"n\":2}}\n"),
	}
	minimal := kith.Event{
		MessageID:   "msg-2",
		Type:        kith.TypePage,
		SourceID:    "src_1",
		Channel:     kith.KindWeb,
		AnonymousID: "anon-8",
		Timestamp:   at(time.Minute),
		ReceivedAt:  at(time.Minute),
		Payload:     []byte(`{"type":"page","anonymousId":"anon-8"}`),
	}
	want := []kith.Event{full, minimal}
	res := mustAppend(t, s, full, minimal)
	if diff := cmp.Diff(kith.AppendResult{Appended: 2}, res); diff != "" {
		t.Errorf("Append result (-want +got):\n%s", diff)
	}
	got := readAll(t, s)
	if diff := cmp.Diff(want, got, ignoreSeq); diff != "" {
		t.Errorf("events read back (-want +got):\n%s", diff)
	}
	checkIncreasing(t, got)
	if len(got) == 2 {
		if !got[1].OriginalTimestamp.IsZero() || !got[1].SentAt.IsZero() {
			t.Errorf("absent times read back as OriginalTimestamp %v, SentAt %v; want zero", got[1].OriginalTimestamp, got[1].SentAt)
		}
		if got[0].OriginalTimestamp.IsZero() || got[0].SentAt.IsZero() {
			t.Errorf("present times read back as zero: OriginalTimestamp %v, SentAt %v", got[0].OriginalTimestamp, got[0].SentAt)
		}
	}
}

// Times with nanoseconds come back within a microsecond: a store may keep
// nanoseconds, or round or truncate to microseconds, and no coarser.
func testTimePrecision(t *testing.T, s Store) {
	e := event("src_1", "msg-ns")
	e.Timestamp = at(789 * time.Nanosecond)
	e.OriginalTimestamp = at(456 * time.Nanosecond)
	e.SentAt = at(999 * time.Nanosecond)
	e.ReceivedAt = at(time.Second + 1*time.Nanosecond)
	mustAppend(t, s, e)
	got := readAll(t, s)
	if len(got) != 1 {
		t.Fatalf("read %d events, want 1", len(got))
	}
	checkMicros(t, []timePair{
		{"Timestamp", got[0].Timestamp, e.Timestamp},
		{"OriginalTimestamp", got[0].OriginalTimestamp, e.OriginalTimestamp},
		{"SentAt", got[0].SentAt, e.SentAt},
		{"ReceivedAt", got[0].ReceivedAt, e.ReceivedAt},
	})
}

// A client may send any ISO-8601 time. A store keeps it, or refuses the
// append as invalid; it never stores a different time.
func testTimesFarFromNow(t *testing.T, s Store) {
	ctx := context.Background()
	sent := map[string]time.Time{}
	for i, tm := range []time.Time{
		time.Date(1500, 1, 2, 3, 4, 5, 6000, time.UTC),
		time.Date(1677, 9, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2300, 1, 2, 3, 4, 5, 6000, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 999999000, time.UTC),
	} {
		e := event("src_1", fmt.Sprintf("msg-%d", i))
		e.Timestamp, e.OriginalTimestamp = tm, tm
		if _, err := s.Append(ctx, []kith.Event{e}); err != nil {
			wantCode(t, fmt.Sprintf("Append with time %v", tm), err, kith.EINVALID)
			continue
		}
		sent[e.MessageID] = tm
	}
	got := readAll(t, s)
	if len(got) != len(sent) {
		t.Errorf("log holds %d events, want the %d accepted", len(got), len(sent))
	}
	for _, e := range got {
		tm := sent[e.MessageID]
		if !e.Timestamp.Equal(tm) || !e.OriginalTimestamp.Equal(tm) {
			t.Errorf("event %s sent with time %v read back as Timestamp %v, OriginalTimestamp %v",
				e.MessageID, tm, e.Timestamp, e.OriginalTimestamp)
		}
	}
}

func testAppendEmpty(t *testing.T, s Store) {
	for _, events := range [][]kith.Event{nil, {}} {
		res, err := s.Append(context.Background(), events)
		if err != nil || res != (kith.AppendResult{}) {
			t.Errorf("Append(%#v) = %+v, %v; want zero result, nil", events, res, err)
		}
	}
	if got := readAll(t, s); len(got) != 0 {
		t.Errorf("log holds %d events after empty appends, want 0", len(got))
	}
}

// Seq orders the log: events of one Append keep their order, and a later
// Append's events come after an earlier one's.
func testSeqIncreases(t *testing.T, s Store) {
	var want []kith.Event
	for call := range 5 {
		var batch []kith.Event
		for i := range 3 {
			// Message ids that sort against append order, so an
			// implementation ordering by id would show.
			batch = append(batch, event("src_1", fmt.Sprintf("msg-%d", 100-call*3-i)))
		}
		mustAppend(t, s, batch...)
		want = append(want, batch...)
		got := readAll(t, s)
		if diff := cmp.Diff(want, got, ignoreSeq); diff != "" {
			t.Fatalf("log after append %d (-want +got):\n%s", call, diff)
		}
		checkIncreasing(t, got)
	}
}

func pairs(events []kith.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.SourceID + "/" + e.MessageID
	}
	return out
}

func testDedupe(t *testing.T, s Store) {
	first := event("src_1", "a")
	retry := first
	retry.Payload = []byte(`{"type":"track","messageId":"a","retry":true}`)
	retry.ReceivedAt = at(time.Hour)

	steps := []struct {
		name   string
		events []kith.Event
		want   kith.AppendResult
	}{
		{"duplicate within one call", []kith.Event{first, event("src_1", "b"), retry}, kith.AppendResult{Appended: 2, Duplicates: 1}},
		{"duplicates across calls", []kith.Event{retry, event("src_1", "c"), event("src_1", "b")}, kith.AppendResult{Appended: 1, Duplicates: 2}},
		{"same messageId from another source", []kith.Event{event("src_2", "a"), event("src_2", "b")}, kith.AppendResult{Appended: 2}},
		{"all duplicates", []kith.Event{retry, event("src_2", "a")}, kith.AppendResult{Duplicates: 2}},
	}
	for _, st := range steps {
		res, err := s.Append(context.Background(), st.events)
		if err != nil {
			t.Fatalf("%s: Append: %v", st.name, err)
		}
		if diff := cmp.Diff(st.want, res); diff != "" {
			t.Errorf("%s: Append result (-want +got):\n%s", st.name, diff)
		}
	}
	got := readAll(t, s)
	want := []kith.Event{first, event("src_1", "b"), event("src_1", "c"), event("src_2", "a"), event("src_2", "b")}
	// The first event sent is the one kept; retries change nothing.
	if diff := cmp.Diff(want, got, ignoreSeq); diff != "" {
		t.Errorf("log (-want +got):\n%s", diff)
	}
	checkIncreasing(t, got)
}

func testReadPaging(t *testing.T, s Store) {
	ctx := context.Background()
	var sent []kith.Event
	for call, n := range []int{7, 11, 7} {
		var batch []kith.Event
		for i := range n {
			batch = append(batch, event("src_1", fmt.Sprintf("msg-%d-%02d", call, i)))
		}
		mustAppend(t, s, batch...)
		sent = append(sent, batch...)
	}
	all, err := s.ReadEvents(ctx, 0, 1000)
	if err != nil {
		t.Fatalf("ReadEvents(0, 1000): %v", err)
	}
	if diff := cmp.Diff(sent, all, ignoreSeq); diff != "" {
		t.Fatalf("ReadEvents(0, 1000) (-want +got):\n%s", diff)
	}
	checkIncreasing(t, all)

	// Page through with a cursor: every page holds up to limit events with
	// Seq > after, and the pages together are the log.
	var paged []kith.Event
	var sizes []int
	after := int64(0)
	for range len(all) + 1 {
		page, err := s.ReadEvents(ctx, after, 10)
		if err != nil {
			t.Fatalf("ReadEvents(%d, 10): %v", after, err)
		}
		if len(page) == 0 {
			break
		}
		sizes = append(sizes, len(page))
		for _, e := range page {
			if e.Seq <= after {
				t.Errorf("ReadEvents(%d, 10) returned Seq %d", after, e.Seq)
			}
		}
		paged = append(paged, page...)
		after = page[len(page)-1].Seq
	}
	if diff := cmp.Diff([]int{10, 10, 5}, sizes); diff != "" {
		t.Errorf("page sizes (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(all, paged); diff != "" {
		t.Errorf("paged read (-want +got):\n%s", diff)
	}

	tests := []struct {
		name  string
		after int64
		limit int
		want  []kith.Event
	}{
		{"from the start, limit 1", 0, 1, all[:1]},
		{"from the middle", all[12].Seq, 5, all[13:18]},
		{"limit past the end", all[20].Seq, 100, all[21:]},
		{"after the last", all[len(all)-1].Seq, 10, nil},
		{"far after the last", all[len(all)-1].Seq + 1000, 10, nil},
		{"limit 0", 0, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.ReadEvents(ctx, tt.after, tt.limit)
			if err != nil {
				t.Fatalf("ReadEvents(%d, %d): %v", tt.after, tt.limit, err)
			}
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("ReadEvents(%d, %d) (-want +got):\n%s", tt.after, tt.limit, diff)
			}
		})
	}
}

// An Append whose context is already cancelled may be refused or may go
// through, but what it reports must be what happened: an error means none
// of its events were stored, nil means all of them were.
func testCancelledContext(t *testing.T, s Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	type outcome struct {
		msg string
		res kith.AppendResult
		err error
	}
	var outcomes []outcome
	for i := range 20 {
		batch := []kith.Event{event("src_1", fmt.Sprintf("msg-%02d-a", i)), event("src_1", fmt.Sprintf("msg-%02d-b", i))}
		res, err := s.Append(ctx, batch)
		outcomes = append(outcomes, outcome{fmt.Sprintf("msg-%02d", i), res, err})
	}
	stored := map[string]bool{}
	for _, e := range readAll(t, s) {
		stored[e.MessageID] = true
	}
	for _, o := range outcomes {
		a, b := stored[o.msg+"-a"], stored[o.msg+"-b"]
		if o.err != nil {
			if a || b {
				t.Errorf("Append of %s with a cancelled context returned %v, but stored its events", o.msg, o.err)
			}
			continue
		}
		if !a || !b || o.res != (kith.AppendResult{Appended: 2}) {
			t.Errorf("Append of %s with a cancelled context returned %+v, nil; stored a=%v b=%v; want 2 appended and both stored",
				o.msg, o.res, a, b)
		}
	}
}

// Many clients appending at once, retrying each other's messages, while a
// processor follows the log with a cursor: each (source, messageId) is
// stored once, and the follower sees every event exactly once, in Seq order.
func testConcurrentAppend(t *testing.T, s Store) {
	const (
		clients   = 32
		calls     = 8
		perCall   = 16
		messageID = 64 // distinct messageIds per source
	)
	srcs := []string{"src_1", "src_2"}
	batches := make([][][]kith.Event, clients)
	want := map[string]kith.Event{}
	sent := 0
	for c := range clients {
		for call := range calls {
			var batch []kith.Event
			for i := range perCall {
				// Overlapping ids across clients and calls, and now and then
				// within one call.
				e := event(srcs[(c+i)%2], fmt.Sprintf("m%02d", (c*5+call*perCall+i*3)%messageID))
				batch = append(batch, e)
				want[e.SourceID+"/"+e.MessageID] = e
			}
			batches[c] = append(batches[c], batch)
			sent += len(batch)
		}
	}

	appendsDone := make(chan struct{})
	var followed []kith.Event
	var follower sync.WaitGroup
	follower.Go(func() {
		var after int64
		deadline := time.Now().Add(time.Minute)
		for time.Now().Before(deadline) {
			finished := false
			select {
			case <-appendsDone:
				finished = true
			default:
			}
			page, err := s.ReadEvents(context.Background(), after, 7)
			if err != nil {
				t.Errorf("follower: ReadEvents(%d, 7): %v", after, err)
				return
			}
			if len(page) == 0 {
				if finished {
					return
				}
				time.Sleep(time.Millisecond)
				continue
			}
			if page[0].Seq <= after {
				t.Errorf("follower: ReadEvents(%d, 7) returned Seq %d", after, page[0].Seq)
				return
			}
			followed = append(followed, page...)
			after = page[len(page)-1].Seq
		}
		t.Errorf("follower: not done after a minute")
	})

	results := make([][]kith.AppendResult, clients)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for c := range clients {
		wg.Go(func() {
			<-start
			for _, batch := range batches[c] {
				res, err := s.Append(context.Background(), batch)
				if err != nil {
					t.Errorf("client %d: Append: %v", c, err)
					return
				}
				results[c] = append(results[c], res)
			}
		})
	}
	close(start)
	wg.Wait()
	close(appendsDone)
	follower.Wait()

	var total kith.AppendResult
	for _, rs := range results {
		for _, r := range rs {
			total.Appended += r.Appended
			total.Duplicates += r.Duplicates
		}
	}
	if diff := cmp.Diff(kith.AppendResult{Appended: len(want), Duplicates: sent - len(want)}, total); diff != "" {
		t.Errorf("sum of Append results (-want +got):\n%s", diff)
	}

	got := readAll(t, s)
	checkIncreasing(t, got)
	seen := map[string]int{}
	for _, e := range got {
		k := e.SourceID + "/" + e.MessageID
		seen[k]++
		if seen[k] > 1 {
			t.Errorf("%s stored %d times", k, seen[k])
			continue
		}
		w, ok := want[k]
		if !ok {
			t.Errorf("%s stored but never sent", k)
			continue
		}
		if diff := cmp.Diff(w, e, ignoreSeq); diff != "" {
			t.Errorf("%s (-want +got):\n%s", k, diff)
		}
	}
	for k := range want {
		if seen[k] == 0 {
			t.Errorf("%s sent but not stored", k)
		}
	}

	// The follower read while appends committed; it must have missed none
	// and seen none twice.
	seqs := func(events []kith.Event) []int64 {
		out := make([]int64, len(events))
		for i, e := range events {
			out[i] = e.Seq
		}
		return out
	}
	if diff := cmp.Diff(seqs(got), seqs(followed)); diff != "" {
		t.Errorf("Seqs the follower saw (-stored +followed):\n%s", diff)
	}
	if diff := cmp.Diff(pairs(got), pairs(followed)); diff != "" {
		t.Errorf("events the follower saw (-stored +followed):\n%s", diff)
	}
}

// timePair is a time read back and the time stored.
type timePair struct {
	name      string
	got, want time.Time
}

// checkMicros checks that each time came back within a microsecond, the
// finest every store keeps.
func checkMicros(t *testing.T, pairs []timePair) {
	t.Helper()
	for _, f := range pairs {
		if d := f.got.Sub(f.want); d.Abs() >= time.Microsecond {
			t.Errorf("%s = %v, want %v within a microsecond (off by %v)", f.name, f.got, f.want, d)
		}
	}
}
