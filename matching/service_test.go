package matching_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/identity"
	"github.com/kithhq/kith/matching"
	"github.com/kithhq/kith/profile"
	"github.com/kithhq/kith/store/sqlite"
)

var t0 = time.Date(2026, 6, 1, 9, 0, 0, 0, time.UTC)

// world is the live matcher over a real embedded store, processor and
// profiles, driven by hand.
type world struct {
	t         *testing.T
	db        *sqlite.DB
	proc      *profile.Processor
	people    *profile.Service
	svc       *matching.Service
	n         int
	described []string
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	w := &world{t: t, db: db}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	w.proc = profile.NewProcessor(db, profile.Config{Identity: identity.DefaultConfig()}, quiet,
		func(b profile.BatchDone) { w.described = append(w.described, b.Described...) })
	w.people = profile.NewService(db, w.proc)
	src := &kith.Source{ID: "src_match", Name: "kith-match", Kind: kith.KindServer}
	w.svc, err = matching.New(db, db, db, db, matching.Config{Source: src}, quiet)
	if err != nil {
		t.Fatal(err)
	}
	w.people.AfterUndo(w.svc.Undone)
	if err := w.svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	return w
}

// identify sends an identify event and processes it; it returns what the
// matcher did with the profiles the batch described.
func (w *world) identify(ids map[string]string, traits map[string]any) []kith.MatchPair {
	w.t.Helper()
	w.n++
	body := map[string]any{"type": "identify", "traits": traits}
	e := kith.Event{MessageID: fmt.Sprint("m-", w.n), Type: kith.TypeIdentify, SourceID: "src_crm", Channel: kith.KindCallCenter,
		Timestamp: t0, ReceivedAt: t0}
	if u := ids["userId"]; u != "" {
		body["userId"], e.UserID = u, u
	}
	if a := ids["anonymousId"]; a != "" {
		body["anonymousId"], e.AnonymousID = a, a
	}
	e.Payload, _ = json.Marshal(body)
	if _, err := w.db.Append(context.Background(), []kith.Event{e}); err != nil {
		w.t.Fatal(err)
	}
	return w.process()
}

// identifyOnly sends an identify event and folds it, without matching.
func (w *world) identifyOnly(ids map[string]string, traits map[string]any) {
	w.t.Helper()
	w.n++
	body := map[string]any{"type": "identify", "traits": traits, "anonymousId": ids["anonymousId"]}
	e := kith.Event{MessageID: fmt.Sprint("m-", w.n), Type: kith.TypeIdentify, SourceID: "src_crm", Channel: kith.KindCallCenter,
		AnonymousID: ids["anonymousId"], Timestamp: t0, ReceivedAt: t0}
	e.Payload, _ = json.Marshal(body)
	if _, err := w.db.Append(context.Background(), []kith.Event{e}); err != nil {
		w.t.Fatal(err)
	}
	for {
		n, err := w.proc.Step(context.Background())
		if err != nil {
			w.t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	w.described = nil
}

// process folds the log and matches what changed, until nothing does.
func (w *world) process() []kith.MatchPair {
	w.t.Helper()
	var out []kith.MatchPair
	for range 20 {
		for {
			n, err := w.proc.Step(context.Background())
			if err != nil {
				w.t.Fatal(err)
			}
			if n == 0 {
				break
			}
		}
		if len(w.described) == 0 {
			return out
		}
		ids := w.described
		w.described = nil
		for _, id := range ids {
			ps, err := w.svc.Check(context.Background(), id)
			if err != nil {
				w.t.Fatal(err)
			}
			out = append(out, ps...)
		}
	}
	return out
}

func (w *world) profileOf(typ, value string) string {
	w.t.Helper()
	id, err := w.people.Resolve(context.Background(), typ, value)
	if err != nil {
		w.t.Fatal(err)
	}
	return id
}

func maria(first, dob, street string) map[string]any {
	return map[string]any{"first_name": first, "last_name": "Lopez", "birthday": dob,
		"address": map[string]any{"street": street, "city": "Kew", "postalCode": "3101", "state": "VIC"}}
}

func TestAutomaticMergeWithEvidenceAndUndo(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.identify(map[string]string{"anonymousId": "crm-1"}, with(maria("Maria", "1980-05-01", "12 Tullaroop Street"), "email", "maria@example.com"))
	got := w.identify(map[string]string{"anonymousId": "store-7"}, with(maria("Mria", "1980-05-01", "12 Tullaroop Street"), "phone", "+1 415 555 0101"))
	if len(got) != 1 || got[0].Status != kith.MatchMerged {
		t.Fatalf("pairs %+v; want one automatic merge", got)
	}
	pair := got[0]
	if w.profileOf("email", "maria@example.com") != w.profileOf("phone", "+14155550101") {
		t.Fatal("the two profiles were not merged")
	}
	// The merge can be shown with the field weights behind it.
	var ev struct {
		Fields []struct {
			Field, Level string
			Weight       float64
		}
	}
	if err := json.Unmarshal(pair.Evidence, &ev); err != nil || len(ev.Fields) < 5 {
		t.Fatalf("evidence %s: %v", pair.Evidence, err)
	}
	for _, f := range ev.Fields {
		if f.Field == "given_name" && (f.Level == "exact" || f.Weight <= 0) {
			t.Errorf("given name maria/mria: %+v", f)
		}
	}
	survivor := w.profileOf("email", "maria@example.com")
	ids, err := w.people.Identities(kith.WithActor(ctx, kith.Actor{Kind: kith.ActorSystem, PII: true}), survivor)
	if err != nil || len(ids.Merges) != 1 || ids.Merges[0].MessageID != pair.MergeEvent {
		t.Fatalf("merges %+v, %v; want the match event's", ids, err)
	}
	// Undo reverses it, and it is not proposed again.
	if _, err := w.people.UndoMerge(ctx, ids.Merges[0].ID); err != nil {
		t.Fatal(err)
	}
	w.process()
	again := w.identify(map[string]string{"anonymousId": "store-7"}, map[string]any{"loyalty_tier": "gold"})
	if len(again) != 0 {
		t.Errorf("proposed again after undo: %+v", again)
	}
	w.identify(map[string]string{"anonymousId": "store-7"}, map[string]any{"city": "Kew East"}) // the record changes
	if a, b := w.profileOf("email", "maria@example.com"), w.profileOf("phone", "+14155550101"); a == b {
		t.Error("merged again after the undo")
	}
	p, err := w.svc.Pair(ctx, pair.ID)
	if err != nil || p.Status != kith.MatchUndone {
		t.Errorf("pair after undo: %+v, %v", p, err)
	}
}

// atTullaroop is a Lopez at Maria's address, without a birth date.
func atTullaroop(first string) map[string]any {
	return map[string]any{"first_name": first, "last_name": "Lopez",
		"address": map[string]any{"street": "12 Tullaroop Street", "city": "Kew", "postalCode": "3101", "state": "VIC"}}
}

func with(traits map[string]any, kv ...string) map[string]any {
	for i := 0; i+1 < len(kv); i += 2 {
		traits[kv[i]] = kv[i+1]
	}
	return traits
}

// Two user ids never merge, whatever the score.
func TestUniqueConflictNeverMerged(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	w.identify(map[string]string{"userId": "u-1"}, maria("Maria", "1980-05-01", "12 Tullaroop Street"))
	got := w.identify(map[string]string{"userId": "u-2"}, maria("Maria", "1980-05-01", "12 Tullaroop Street"))
	if len(got) != 1 || got[0].Status != kith.MatchRefused {
		t.Fatalf("pairs %+v; want one refused", got)
	}
	if a, b := w.profileOf("user_id", "u-1"), w.profileOf("user_id", "u-2"); a == b {
		t.Fatal("two user ids were merged")
	}
	// With an e-mail to carry, the merge event goes out and identity
	// resolution refuses it: the pair ends refused too.
	w2 := newWorld(t)
	w2.identify(map[string]string{"userId": "u-1"}, maria("Maria", "1980-05-01", "12 Tullaroop Street"))
	got = w2.identify(map[string]string{"userId": "u-2"}, with(maria("Maria", "1980-05-01", "12 Tullaroop Street"), "email", "m2@example.com"))
	if len(got) != 1 {
		t.Fatalf("pairs %+v", got)
	}
	if a, b := w2.profileOf("user_id", "u-1"), w2.profileOf("user_id", "u-2"); a == b {
		t.Fatal("two user ids were merged")
	}
	w2.identify(map[string]string{"userId": "u-2"}, map[string]any{"city": "Hawthorn"})
	p, _ := w2.svc.Pair(ctx, got[0].ID)
	if p.Status != kith.MatchRefused {
		t.Errorf("pair %+v; want refused", p)
	}
}

// A household — one family name and address, other given names and birth
// dates — is not merged.
func TestHouseholdNotMerged(t *testing.T) {
	w := newWorld(t)
	w.identify(map[string]string{"anonymousId": "a"}, with(maria("Maria", "1980-05-01", "12 Tullaroop Street"), "email", "maria@example.com"))
	got := w.identify(map[string]string{"anonymousId": "b"}, with(maria("Lucia", "2011-09-17", "12 Tullaroop Street"), "email", "lucia@example.com"))
	for _, p := range got {
		if p.Status == kith.MatchMerged || p.Status == kith.MatchPending {
			t.Errorf("household pair %+v", p)
		}
	}
	if w.profileOf("email", "maria@example.com") == w.profileOf("email", "lucia@example.com") {
		t.Error("mother and daughter merged")
	}
}

// A pair in the review band waits for a steward; a rejection is
// remembered, an acceptance merges. Different given names at one address
// without birth dates to tell them apart are never merged automatically.
func TestReviewQueue(t *testing.T) {
	w := newWorld(t)
	ctx := kith.WithActor(context.Background(), kith.Actor{Kind: kith.ActorUser, Name: "steward", PII: true})
	w.identify(map[string]string{"anonymousId": "a"}, with(maria("Maria", "1980-05-01", "12 Tullaroop Street"), "email", "maria@example.com"))
	maria := w.profileOf("email", "maria@example.com")
	got := w.identify(map[string]string{"anonymousId": "b"}, with(atTullaroop("Ana"), "email", "ana@example.com"))
	if len(got) != 1 || got[0].Status != kith.MatchPending {
		t.Fatalf("pairs %+v; want one pending", got)
	}
	q, err := w.svc.Pairs(ctx, kith.MatchPending, 10)
	if err != nil || len(q) != 1 || q[0].ID != got[0].ID {
		t.Fatalf("queue %+v, %v", q, err)
	}
	if _, err := w.svc.Reject(ctx, q[0].ID); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Accept(ctx, q[0].ID); !kith.IsCode(err, kith.ECONFLICT) {
		t.Errorf("accepting a rejected pair: %v", err)
	}
	if again := w.identify(map[string]string{"anonymousId": "b"}, map[string]any{"city": "Kew East"}); len(again) != 0 {
		t.Errorf("proposed again after rejection: %+v", again)
	}
	got = w.identify(map[string]string{"anonymousId": "c"}, with(atTullaroop("Luis"), "phone", "+1 415 555 0199"))
	var pending *kith.MatchPair
	for i := range got {
		if got[i].Status == kith.MatchPending && (got[i].Left == maria || got[i].Right == maria) {
			pending = &got[i]
		}
	}
	if pending == nil {
		t.Fatalf("pairs %+v; want one pending with maria", got)
	}
	p, err := w.svc.Accept(ctx, pending.ID)
	if err != nil || p.Status != kith.MatchMerged || p.DecidedBy != "user:steward" {
		t.Fatalf("accept: %+v, %v", p, err)
	}
	w.process()
	if w.profileOf("email", "maria@example.com") != w.profileOf("phone", "+14155550199") {
		t.Error("the accepted pair was not merged")
	}
	if w.profileOf("email", "maria@example.com") == w.profileOf("email", "ana@example.com") {
		t.Error("the rejected pair was merged")
	}
	recs, _ := w.db.Audit(context.Background(), kith.AuditFilter{Action: "match."})
	if len(recs) != 2 {
		t.Errorf("%d audit records of decisions, want 2", len(recs))
	}
}

// Names and a town are not enough to merge without a steward: many people
// share them.
func TestNamesAndTownOnlyReviewed(t *testing.T) {
	w := newWorld(t)
	w.identify(map[string]string{"anonymousId": "a"}, map[string]any{"first_name": "Joseph", "last_name": "Johansson",
		"city": "Portland", "state": "OR", "email": "joseph@example.com"})
	got := w.identify(map[string]string{"anonymousId": "b"}, map[string]any{"first_name": "Jose", "last_name": "Johansson",
		"city": "Portland", "state": "OR", "email": "jose@example.com"})
	for _, p := range got {
		if p.Status == kith.MatchMerged {
			t.Errorf("merged on names and a town: %+v", p)
		}
	}
	if w.profileOf("email", "joseph@example.com") == w.profileOf("email", "jose@example.com") {
		t.Error("two people of one town merged")
	}
}

// Accepting a pair whose profiles have since been joined to people a
// steward set apart is refused: a rejection holds for the people, not only
// for the two profiles.
func TestAcceptRespectsRejections(t *testing.T) {
	w := newWorld(t)
	ctx := kith.WithActor(context.Background(), kith.Actor{Kind: kith.ActorUser, Name: "steward", PII: true})
	w.identify(map[string]string{"anonymousId": "a"}, with(maria("Maria", "1980-05-01", "12 Tullaroop Street"), "email", "maria@example.com"))
	w.identify(map[string]string{"anonymousId": "b"}, with(atTullaroop("Ana"), "email", "ana@example.com"))
	w.identify(map[string]string{"anonymousId": "c"}, with(atTullaroop("Luis"), "email", "luis@example.com"))
	maria, ana, luis := w.profileOf("email", "maria@example.com"), w.profileOf("email", "ana@example.com"), w.profileOf("email", "luis@example.com")
	q, err := w.svc.Pairs(ctx, kith.MatchPending, 10)
	if err != nil || len(q) != 3 {
		t.Fatalf("queue %+v, %v; want maria–ana, maria–luis and ana–luis", q, err)
	}
	if _, err := w.svc.Accept(ctx, matching.PairID(maria, ana)); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Reject(ctx, matching.PairID(maria, luis)); err != nil {
		t.Fatal(err)
	}
	w.process()
	_, err = w.svc.Accept(ctx, matching.PairID(ana, luis))
	if !kith.IsCode(err, kith.ECONFLICT) {
		t.Fatalf("accepting ana–luis after maria–luis was rejected: %v", err)
	}
	w.process()
	if w.profileOf("email", "luis@example.com") == w.profileOf("email", "maria@example.com") {
		t.Error("luis was merged into maria against the rejection")
	}
	p, _ := w.svc.Pair(ctx, matching.PairID(ana, luis))
	if p.Status != kith.MatchRefused {
		t.Errorf("ana–luis %+v; want refused", p)
	}
}
