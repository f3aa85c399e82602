package consent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/consent"
	"github.com/kithhq/kith/identity"
	"github.com/kithhq/kith/profile"
	"github.com/kithhq/kith/store/sqlite"
)

var now = time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)

// world is the gate over a real embedded store with people in it.
type world struct {
	t    *testing.T
	db   *sqlite.DB
	proc *profile.Processor
	svc  *consent.Service
	n    int
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	proc := profile.NewProcessor(db, profile.Config{Identity: identity.DefaultConfig()}, quiet, nil)
	people := profile.NewService(db, proc)
	svc := consent.New(db, people, db, consent.Config{}, quiet)
	svc.SetClock(func() time.Time { return now })
	return &world{t: t, db: db, proc: proc, svc: svc}
}

// person sends an identify call and returns the profile it made.
func (w *world) person(user string, traits map[string]any) string {
	w.t.Helper()
	ctx := context.Background()
	w.n++
	body, _ := json.Marshal(map[string]any{"type": "identify", "userId": user, "traits": traits})
	ev := kith.Event{MessageID: fmt.Sprint("m-", w.n), Type: kith.TypeIdentify, SourceID: "src_crm", Channel: kith.KindCallCenter,
		UserID: user, Timestamp: now.Add(-time.Hour), ReceivedAt: now.Add(-time.Hour), Payload: body}
	if _, err := w.db.Append(ctx, []kith.Event{ev}); err != nil {
		w.t.Fatal(err)
	}
	for {
		n, err := w.proc.Step(ctx)
		if err != nil {
			w.t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	ids, err := w.db.ProfileIDsFor(ctx, kith.Identifier{Type: kith.IDUserID, Value: user})
	if err != nil || len(ids) != 1 {
		w.t.Fatalf("profile of %s: %v, %v", user, ids, err)
	}
	return ids[0]
}

func (w *world) check(profileID, purpose, channel string) *consent.Decision {
	w.t.Helper()
	d, err := w.svc.Check(context.Background(), consent.Who{Profile: profileID}, purpose, channel)
	if err != nil {
		w.t.Fatalf("Check(%s, %s, %s): %v", profileID, purpose, channel, err)
	}
	return d
}

func agent(name string) context.Context {
	return kith.WithActor(context.Background(), kith.Actor{Kind: kith.ActorUser, ID: "usr_" + name, Name: name, PII: true})
}

// Situation 5: during a call a mother asks that promotional SMS stop going
// to her under-age daughter's phone and that alerts go to hers. The very
// next check honours both, and the history says who changed what, when
// and through which channel.
func TestSituation5(t *testing.T) {
	w := newWorld(t)
	ctx := agent("agent-jo")
	mother := w.person("u-maria", map[string]any{"name": "Maria Ramirez", "phone": "+44 7911 123451"})
	daughter := w.person("u-lucia", map[string]any{"name": "Lucia Ramirez", "phone": "+44 7911 123452", "birthday": "2011-03-14"})
	// Before the call, a marketing opt-in the daughter gave on the web.
	w.svc.SetClock(func() time.Time { return now.Add(-30 * 24 * time.Hour) })
	defer w.svc.SetClock(func() time.Time { return now })
	if _, err := w.svc.Record(context.Background(), consent.Change{Who: consent.Who{Profile: daughter}, Purpose: kith.PurposeMarketing,
		Channel: kith.ContactSMS, State: kith.ConsentOptedIn, Basis: "consent", Via: "api", DecidedAt: now.Add(-30 * 24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	w.svc.SetClock(func() time.Time { return now })

	// The call.
	if _, err := w.svc.Relate(ctx, kith.Relationship{From: mother, To: daughter, Kind: kith.RelationGuardian, Household: "Ramirez", Recipient: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.Record(ctx, consent.Change{Who: consent.Who{Profile: daughter}, Purpose: kith.PurposeMarketing, Channel: kith.ContactSMS,
		Address: "+44 7911 123452", State: kith.ConsentOptedOut, Via: "call_center", Wording: "no more promotional texts to Lucia's phone"}); err != nil {
		t.Fatal(err)
	}

	// The very next checks.
	if d := w.check(daughter, kith.PurposeMarketing, kith.ContactSMS); d.Allowed || !d.Minor {
		t.Errorf("marketing SMS to the daughter: %+v; want refused, as a minor", d)
	}
	d := w.check(daughter, kith.PurposeAlerts, kith.ContactSMS)
	if !d.Allowed || d.Recipient != mother || d.ContactPoint == nil || d.ContactPoint.Address != "+447911123451" {
		t.Errorf("alerts for the daughter: %+v; want the mother's number", d)
	}
	if !strings.Contains(d.Reason, "guardian") {
		t.Errorf("the reason %q does not say it goes to the guardian", d.Reason)
	}
	// The mother's own messages are hers.
	if d := w.check(mother, kith.PurposeAlerts, kith.ContactSMS); !d.Allowed || d.ContactPoint.Address != "+447911123451" {
		t.Errorf("the mother's alerts: %+v", d)
	}

	h, err := w.svc.History(context.Background(), consent.Who{Profile: daughter})
	if err != nil || len(h) != 2 {
		t.Fatalf("history %+v, %v; want 2 decisions", h, err)
	}
	last := h[1]
	if last.State != kith.ConsentOptedOut || last.Via != "call_center" || last.Actor != "user:agent-jo" || !last.RecordedAt.Equal(now) ||
		last.Address != "+447911123452" || last.Wording == "" {
		t.Errorf("the call's decision recorded as %+v", last)
	}
	if h[0].State != kith.ConsentOptedIn {
		t.Errorf("the earlier opt-in was changed: %+v", h[0])
	}
}

// A 15-year-old with every opt-in set gets no marketing anywhere; a
// service message goes to the guardian.
func TestMinorGetsNoMarketing(t *testing.T) {
	w := newWorld(t)
	guardian := w.person("u-g", map[string]any{"email": "grace@example.com"})
	teen := w.person("u-t", map[string]any{"email": "tom@example.com", "phone": "+1 415 555 0100", "birthday": "2011-06-01"})
	for _, ch := range kith.ContactChannels {
		for _, p := range kith.Purposes {
			if _, err := w.svc.Record(context.Background(), consent.Change{Who: consent.Who{Profile: teen}, Purpose: p, Channel: ch,
				State: kith.ConsentOptedIn, Basis: "consent"}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, ch := range kith.ContactChannels {
		if d := w.check(teen, kith.PurposeMarketing, ch); d.Allowed || !d.Minor || !strings.Contains(d.Reason, "15 years old") {
			t.Errorf("marketing by %s to a 15-year-old: %+v", ch, d)
		}
	}
	// Without a guardian named, the teen's own address.
	if d := w.check(teen, kith.PurposeService, kith.ContactEmail); !d.Allowed || d.ContactPoint.Address != "tom@example.com" {
		t.Errorf("a service e-mail without a guardian: %+v", d)
	}
	if _, err := w.svc.Relate(context.Background(), kith.Relationship{From: guardian, To: teen, Kind: kith.RelationParent, Recipient: true}); err != nil {
		t.Fatal(err)
	}
	if d := w.check(teen, kith.PurposeService, kith.ContactEmail); !d.Allowed || d.Recipient != guardian || d.ContactPoint.Address != "grace@example.com" {
		t.Errorf("a service e-mail with a guardian: %+v", d)
	}
	// Turning 18 ends it.
	w.svc.SetClock(func() time.Time { return time.Date(2029, 6, 1, 0, 0, 0, 0, time.UTC) })
	if d := w.check(teen, kith.PurposeMarketing, kith.ContactEmail); !d.Allowed || d.Minor {
		t.Errorf("marketing on the 18th birthday, opted in: %+v", d)
	}
}

// Decisions resolve by when the person decided, not when Kith heard; a
// decision for one address and one for the whole channel compete by time.
func TestLatestDecisionWins(t *testing.T) {
	w := newWorld(t)
	ann := w.person("u-ann", map[string]any{"email": "ann@example.com"})
	rec := func(state, address string, decided time.Duration) {
		t.Helper()
		if _, err := w.svc.Record(context.Background(), consent.Change{Who: consent.Who{Profile: ann}, Purpose: kith.PurposeMarketing,
			Channel: kith.ContactEmail, Address: address, State: state, DecidedAt: now.Add(decided)}); err != nil {
			t.Fatal(err)
		}
	}
	if d := w.check(ann, kith.PurposeMarketing, kith.ContactEmail); d.Allowed || !strings.Contains(d.Reason, "no opt-in") {
		t.Errorf("marketing with no decision: %+v", d)
	}
	if d := w.check(ann, kith.PurposeService, kith.ContactEmail); !d.Allowed {
		t.Errorf("service with no decision: %+v", d)
	}
	rec(kith.ConsentOptedIn, "", -2*time.Hour)
	if d := w.check(ann, kith.PurposeMarketing, kith.ContactEmail); !d.Allowed || len(d.Decisions) != 1 {
		t.Errorf("after an opt-in: %+v", d)
	}
	// An opt-out said earlier but entered later does not override it.
	rec(kith.ConsentOptedOut, "", -3*time.Hour)
	if d := w.check(ann, kith.PurposeMarketing, kith.ContactEmail); !d.Allowed {
		t.Errorf("an older opt-out entered later won: %+v", d)
	}
	// An opt-out of the one address, said after, does.
	rec(kith.ConsentOptedOut, "Ann@Example.com", -time.Hour)
	if d := w.check(ann, kith.PurposeMarketing, kith.ContactEmail); d.Allowed || !strings.Contains(d.Reason, "opted out") {
		t.Errorf("after an opt-out of the address: %+v", d)
	}
	// Unset withdraws a choice back to the default.
	rec(kith.ConsentUnset, "ann@example.com", -time.Minute)
	if d := w.check(ann, kith.PurposeMarketing, kith.ContactEmail); d.Allowed || !strings.Contains(d.Reason, "no opt-in") {
		t.Errorf("after unset: %+v", d)
	}
}

// Hard bounces and STOP replies apply at once; a STOP still lets service
// messages through.
func TestSuppression(t *testing.T) {
	w := newWorld(t)
	bo := w.person("u-bo", map[string]any{"email": "bo@example.com", "phone": "+44 7911 123453"})
	for _, ch := range []string{kith.ContactEmail, kith.ContactSMS} {
		if _, err := w.svc.Record(context.Background(), consent.Change{Who: consent.Who{Profile: bo}, Purpose: kith.PurposeMarketing,
			Channel: ch, State: kith.ConsentOptedIn}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.svc.Suppress(context.Background(), consent.Who{}, kith.ContactSMS, "+447911123453", "stop", ""); err != nil {
		t.Fatal(err)
	}
	if d := w.check(bo, kith.PurposeMarketing, kith.ContactSMS); d.Allowed || !strings.Contains(d.Reason, "STOP") {
		t.Errorf("marketing SMS after STOP: %+v", d)
	}
	if d := w.check(bo, kith.PurposeService, kith.ContactSMS); !d.Allowed {
		t.Errorf("service SMS after STOP: %+v", d)
	}
	if _, err := w.svc.Suppress(context.Background(), consent.Who{}, kith.ContactEmail, "BO@example.com", "hard_bounce", ""); err != nil {
		t.Fatal(err)
	}
	if d := w.check(bo, kith.PurposeService, kith.ContactEmail); d.Allowed || !strings.Contains(d.Reason, "bounced") {
		t.Errorf("service e-mail after a hard bounce: %+v", d)
	}
	// A new, verified address is used instead.
	if _, err := w.svc.SetContactPoint(context.Background(), consent.Who{Profile: bo}, kith.ContactPoint{Channel: kith.ContactEmail,
		Address: "bo@work.example", Status: kith.ContactVerified}); err != nil {
		t.Fatal(err)
	}
	if d := w.check(bo, kith.PurposeMarketing, kith.ContactEmail); !d.Allowed || d.ContactPoint.Address != "bo@work.example" {
		t.Errorf("marketing e-mail with a verified address: %+v", d)
	}
}

// Bad input is refused with its field, and nothing of a batch is kept.
func TestBadInput(t *testing.T) {
	w := newWorld(t)
	ann := w.person("u-ann", nil)
	who := consent.Who{Profile: ann}
	for _, c := range []struct {
		change consent.Change
		field  string
	}{
		{consent.Change{Who: who, Purpose: "spam", Channel: kith.ContactSMS, State: kith.ConsentOptedIn}, "purpose"},
		{consent.Change{Who: who, Purpose: kith.PurposeService, Channel: "pigeon", State: kith.ConsentOptedIn}, "channel"},
		{consent.Change{Who: who, Purpose: kith.PurposeService, Channel: kith.ContactSMS, State: "maybe"}, "state"},
		{consent.Change{Who: who, Purpose: kith.PurposeService, Channel: kith.ContactSMS, State: kith.ConsentOptedIn, Basis: "whim"}, "basis"},
		{consent.Change{Who: who, Purpose: kith.PurposeService, Channel: kith.ContactSMS, State: kith.ConsentOptedIn, Via: "telepathy"}, "via"},
		{consent.Change{Who: who, Purpose: kith.PurposeService, Channel: kith.ContactSMS, State: kith.ConsentOptedIn, Address: "not a number"}, "address"},
		{consent.Change{Who: who, Purpose: kith.PurposeService, Channel: kith.ContactSMS, State: kith.ConsentOptedIn, DecidedAt: now.Add(time.Hour)}, "decided_at"},
		{consent.Change{Purpose: kith.PurposeService, Channel: kith.ContactSMS, State: kith.ConsentOptedIn}, "profile"},
	} {
		_, err := w.svc.Record(context.Background(), c.change)
		if kith.ErrorCode(err) != kith.EINVALID || kith.ErrorField(err) != c.field {
			t.Errorf("Record(%+v) = %v; want invalid %s", c.change, err, c.field)
		}
	}
	if _, err := w.svc.Record(context.Background(), consent.Change{Who: consent.Who{Profile: "prf_nobody"}, Purpose: kith.PurposeService,
		Channel: kith.ContactSMS, State: kith.ConsentOptedIn}); kith.ErrorCode(err) != kith.ENOTFOUND {
		t.Errorf("a decision about nobody: %v", err)
	}
	// A batch with one bad decision keeps none.
	_, err := w.svc.Record(context.Background(),
		consent.Change{Who: who, Purpose: kith.PurposeService, Channel: kith.ContactSMS, State: kith.ConsentOptedOut},
		consent.Change{Who: who, Purpose: kith.PurposeService, Channel: kith.ContactSMS, State: "nope"})
	if kith.ErrorField(err) != "consents[1].state" {
		t.Errorf("a bad second decision: %v", err)
	}
	if h, _ := w.svc.History(context.Background(), who); len(h) != 0 {
		t.Errorf("%d decisions kept from refused input", len(h))
	}
	if _, err := w.svc.Check(context.Background(), who, kith.PurposeMarketing, "fax"); kith.ErrorField(err) != "channel" {
		t.Errorf("Check on a fax: %v", err)
	}
	if _, err := w.svc.Relate(context.Background(), kith.Relationship{From: ann, To: ann, Kind: kith.RelationParent}); kith.ErrorField(err) != "to" {
		t.Errorf("a person their own parent: %v", err)
	}
}

// On a merge the most restrictive choice of the two profiles wins per
// purpose and channel, whichever was said later.
func TestMergeMostRestrictiveWins(t *testing.T) {
	w := newWorld(t)
	send := func(user, anon string) {
		t.Helper()
		w.n++
		body, _ := json.Marshal(map[string]any{"type": "identify", "userId": user, "anonymousId": anon})
		ev := kith.Event{MessageID: fmt.Sprint("m-", w.n), Type: kith.TypeIdentify, SourceID: "src_web", Channel: kith.KindWeb,
			UserID: user, AnonymousID: anon, Timestamp: now, ReceivedAt: now, Payload: body}
		if _, err := w.db.Append(context.Background(), []kith.Event{ev}); err != nil {
			t.Fatal(err)
		}
		for {
			n, err := w.proc.Step(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				return
			}
		}
	}
	holder := func(typ, v string) string {
		t.Helper()
		ids, err := w.db.ProfileIDsFor(context.Background(), kith.Identifier{Type: typ, Value: v})
		if err != nil || len(ids) != 1 {
			t.Fatalf("holders of %s %s: %v, %v", typ, v, ids, err)
		}
		return ids[0]
	}
	send("", "anon-kim")
	send("u-kim", "")
	visitor, customer := holder(kith.IDAnonymousID, "anon-kim"), holder(kith.IDUserID, "u-kim")
	rec := func(p, state string, ago time.Duration) {
		t.Helper()
		if _, err := w.svc.Record(context.Background(), consent.Change{Who: consent.Who{Profile: p}, Purpose: kith.PurposeMarketing,
			Channel: kith.ContactPush, State: state, DecidedAt: now.Add(-ago)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.svc.SetContactPoint(context.Background(), consent.Who{Profile: customer}, kith.ContactPoint{Channel: kith.ContactPush,
		Address: "token-kim", Status: kith.ContactVerified}); err != nil {
		t.Fatal(err)
	}
	rec(visitor, kith.ConsentOptedOut, 2*time.Hour) // the older decision, on the visitor's profile
	rec(customer, kith.ConsentOptedIn, time.Hour)
	if d := w.check(customer, kith.PurposeMarketing, kith.ContactPush); !d.Allowed {
		t.Fatalf("before the merge: %+v", d)
	}
	send("u-kim", "anon-kim") // one person after all
	if a, b := holder(kith.IDAnonymousID, "anon-kim"), holder(kith.IDUserID, "u-kim"); a != b {
		t.Fatalf("no merge happened: %s and %s", a, b)
	}
	for _, p := range []string{visitor, customer} {
		if d := w.check(p, kith.PurposeMarketing, kith.ContactPush); d.Allowed || !strings.Contains(d.Reason, "opted out") {
			t.Errorf("after the merge, asked by %s: %+v; want the opt-out of either profile to win", p, d)
		}
	}
}

// Consent carried by events (Segment's context.consent.categoryPreferences)
// reaches the gate once the event is applied: recorded once, however often
// the log is read, and ordered with the API's decisions by decision time.
func TestConsentFromEvents(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	follower := consent.NewFollower(w.svc, w.db, func(ctx context.Context) (int64, error) {
		l, err := w.proc.Lag(ctx)
		return l.Cursor, err
	}, nil)
	send := func(id string, at time.Time, prefs map[string]any, apply bool) {
		t.Helper()
		body, _ := json.Marshal(map[string]any{"type": "track", "event": "Consent Updated", "userId": "u-eve",
			"context": map[string]any{"traits": map[string]any{"email": "eve@example.com"}, "consent": map[string]any{"categoryPreferences": prefs}}})
		ev := kith.Event{MessageID: id, Type: kith.TypeTrack, SourceID: "src_web", Channel: kith.KindWeb, UserID: "u-eve",
			Timestamp: at, ReceivedAt: at, Payload: body}
		if _, err := w.db.Append(ctx, []kith.Event{ev}); err != nil {
			t.Fatal(err)
		}
		for apply {
			n, err := w.proc.Step(ctx)
			if err != nil {
				t.Fatal(err)
			}
			apply = n > 0
		}
	}
	follow := func() int {
		t.Helper()
		total := 0
		for {
			n, err := follower.Step(ctx, 1000)
			if err != nil {
				t.Fatal(err)
			}
			if n == 0 {
				return total
			}
			total += n
		}
	}
	send("c-1", now.Add(-2*time.Hour), map[string]any{"Advertising": true, "Analytics": false}, true)
	follow()
	eve := consent.Who{Identifier: &kith.Identifier{Type: kith.IDEmail, Value: "eve@example.com"}}
	d, err := w.svc.Check(ctx, eve, kith.PurposeMarketing, kith.ContactEmail)
	if err != nil || !d.Allowed || len(d.Decisions) != 1 {
		t.Fatalf("after the banner's opt-in: %+v, %v", d, err)
	}
	h, _ := w.svc.History(ctx, eve)
	if len(h) != len(kith.ContactChannels) || h[0].Via != "event" || h[0].Actor != "source:src_web" || !h[0].DecidedAt.Equal(now.Add(-2*time.Hour)) {
		t.Fatalf("decisions from the event: %d, first %+v", len(h), h[0])
	}

	// Not applied yet: not read.
	send("c-2", now.Add(-time.Hour), map[string]any{"Advertising": false}, false)
	if n := follow(); n != 0 {
		t.Errorf("the follower read %d events the processor had not applied", n)
	}
	for {
		n, err := w.proc.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	follow()
	if d, _ := w.svc.Check(ctx, eve, kith.PurposeMarketing, kith.ContactEmail); d.Allowed {
		t.Errorf("after the banner's opt-out: %+v", d)
	}

	// An agent's opt-in decided after the event wins; the event's decision
	// time is when the person clicked, not when Kith read it.
	if _, err := w.svc.Record(ctx, consent.Change{Who: eve, Purpose: kith.PurposeMarketing, Channel: kith.ContactEmail,
		State: kith.ConsentOptedIn, DecidedAt: now.Add(-30 * time.Minute), Via: "call_center"}); err != nil {
		t.Fatal(err)
	}
	if d, _ := w.svc.Check(ctx, eve, kith.PurposeMarketing, kith.ContactEmail); !d.Allowed {
		t.Errorf("an opt-in decided after the event's opt-out: %+v", d)
	}

	// Reading the log again records nothing twice.
	before, _ := w.svc.History(ctx, eve)
	if err := w.db.Process(ctx, consent.FollowerCursor, 0, func(kith.ProfileTx) error { return nil }); err != nil {
		t.Fatal(err)
	}
	if n := follow(); n == 0 {
		t.Fatal("the follower did not read the log again")
	}
	if after, _ := w.svc.History(ctx, eve); len(after) != len(before) {
		t.Errorf("reading the log again: %d decisions, was %d", len(after), len(before))
	}
}

func TestEventDecisionsAndCategories(t *testing.T) {
	cats := map[string]consent.Category{"Ads": {Purposes: []string{kith.PurposeMarketing}, Channels: []string{kith.ContactEmail, kith.ContactSMS}}}
	ev := &kith.Event{MessageID: "m-1", Timestamp: now, ReceivedAt: now.Add(time.Second),
		Payload: []byte(`{"context":{"consent":{"categoryPreferences":{"Ads":false,"Analytics":true,"Odd":"yes"}}}}`)}
	recs := consent.EventDecisions(ev, "prf_1", cats, "source:web")
	if len(recs) != 2 || recs[0].State != kith.ConsentOptedOut || recs[0].Channel != kith.ContactEmail || recs[1].Channel != kith.ContactSMS ||
		recs[0].ID == recs[1].ID || !recs[0].DecidedAt.Equal(now) {
		t.Errorf("decisions %+v", recs)
	}
	if again := consent.EventDecisions(ev, "prf_1", cats, "source:web"); again[0].ID != recs[0].ID {
		t.Error("the same event gave another id")
	}
	for _, bad := range []map[string]consent.Category{
		{"X": {}},
		{"X": {Purposes: []string{"spam"}}},
		{"X": {Purposes: []string{kith.PurposeMarketing}, Channels: []string{"fax"}}},
	} {
		if consent.CheckCategories(bad) == nil {
			t.Errorf("CheckCategories(%v) accepted it", bad)
		}
	}
	if err := consent.CheckCategories(consent.DefaultCategories()); err != nil {
		t.Error(err)
	}
}

// A list check answers for each person what Check answers for them.
func TestCheckListAgreesWithCheck(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	mother := w.person("u-m", map[string]any{"email": "m@example.com", "phone": "+44 7911 123451"})
	child := w.person("u-c", map[string]any{"email": "c@example.com", "birthday": "2014-01-01"})
	adult := w.person("u-a", map[string]any{"email": "a@example.com", "phone": "+44 7911 123459"})
	quiet := w.person("u-q", map[string]any{"email": "q@example.com"})
	if _, err := w.svc.Relate(ctx, kith.Relationship{From: mother, To: child, Kind: kith.RelationGuardian, Recipient: true}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []consent.Change{
		{Who: consent.Who{Profile: adult}, Purpose: kith.PurposeMarketing, Channel: kith.ContactEmail, State: kith.ConsentOptedIn},
		{Who: consent.Who{Profile: adult}, Purpose: kith.PurposeService, Channel: kith.ContactSMS, State: kith.ConsentOptedOut},
		{Who: consent.Who{Profile: quiet}, Purpose: kith.PurposeAlerts, Channel: kith.ContactEmail, State: kith.ConsentOptedOut},
		{Who: consent.Who{Profile: child}, Purpose: kith.PurposeMarketing, Channel: kith.ContactEmail, State: kith.ConsentOptedIn},
	} {
		if _, err := w.svc.Record(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.svc.Suppress(ctx, consent.Who{}, kith.ContactEmail, "m@example.com", "hard_bounce", ""); err != nil {
		t.Fatal(err)
	}
	ids := []string{adult, child, "prf_nobody", mother, quiet, adult}
	for _, purpose := range kith.Purposes {
		for _, channel := range []string{kith.ContactEmail, kith.ContactSMS, kith.ContactPush} {
			list, err := w.svc.CheckList(ctx, ids, purpose, channel)
			if err != nil {
				t.Fatal(err)
			}
			if len(list) != len(ids) {
				t.Fatalf("%d decisions for %d ids", len(list), len(ids))
			}
			for i, id := range ids {
				if id == "prf_nobody" {
					if list[i].Allowed || !strings.Contains(list[i].Reason, "no profile") {
						t.Errorf("an unknown id: %+v", list[i])
					}
					continue
				}
				one := w.check(id, purpose, channel)
				got := list[i]
				if got.Allowed != one.Allowed || got.Reason != one.Reason || got.Recipient != one.Recipient || got.Minor != one.Minor ||
					(got.ContactPoint == nil) != (one.ContactPoint == nil) || got.ContactPoint != nil && got.ContactPoint.Address != one.ContactPoint.Address {
					t.Errorf("%s by %s for %s: list %+v, check %+v", purpose, channel, id, got, one)
				}
			}
		}
	}
	if _, err := w.svc.CheckList(ctx, nil, kith.PurposeAlerts, kith.ContactSMS); kith.ErrorField(err) != "profiles" {
		t.Errorf("an empty list: %v", err)
	}
}

// Preference links: signed, expiring, revocable; one-click unsubscribe
// behind them applies at once; a tampered, expired or withdrawn link is
// refused and changes nothing.
func TestPreferenceLinks(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	ann := w.person("u-ann", map[string]any{"email": "ann@example.com"})
	if _, err := w.svc.Record(ctx, consent.Change{Who: consent.Who{Profile: ann}, Purpose: kith.PurposeMarketing, Channel: kith.ContactEmail,
		State: kith.ConsentOptedIn, DecidedAt: now.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	token, link, err := w.svc.IssueLink(ctx, consent.Who{Profile: ann}, kith.ContactEmail, "Ann@example.com", 7*24*time.Hour)
	if err != nil || link.Address != "ann@example.com" || !link.Expires.Equal(now.Add(7*24*time.Hour)) {
		t.Fatalf("IssueLink = %+v, %v", link, err)
	}
	if l, err := w.svc.OpenLink(ctx, token); err != nil || l.Profile != ann {
		t.Fatalf("OpenLink = %+v, %v", l, err)
	}
	refused := func(what, tok string) {
		t.Helper()
		if _, err := w.svc.Unsubscribe(ctx, tok); kith.ErrorCode(err) != kith.EFORBIDDEN || kith.ErrorField(err) != "link" {
			t.Errorf("%s: %v; want forbidden", what, err)
		}
	}
	body, sig, _ := strings.Cut(token, ".")
	other, _, _ := w.svc.IssueLink(ctx, consent.Who{Profile: w.person("u-bob", nil)}, "", "", 0)
	obody, _, _ := strings.Cut(other, ".")
	refused("a link with another's body", obody+"."+sig)
	refused("a link with a changed signature", body+"."+strings.Repeat("A", len(sig)))
	refused("garbage", "not-a-link")
	w.svc.SetClock(func() time.Time { return now.Add(8 * 24 * time.Hour) })
	refused("an expired link", token)
	w.svc.SetClock(func() time.Time { return now })
	if d := w.check(ann, kith.PurposeMarketing, kith.ContactEmail); !d.Allowed {
		t.Fatalf("refused links changed something: %+v", d)
	}

	recs, err := w.svc.Unsubscribe(ctx, token)
	if err != nil || len(recs) != 1 || recs[0].Via != "preference_centre" || recs[0].Actor != "customer:"+ann {
		t.Fatalf("Unsubscribe = %+v, %v", recs, err)
	}
	if d := w.check(ann, kith.PurposeMarketing, kith.ContactEmail); d.Allowed {
		t.Errorf("after one-click unsubscribe: %+v", d)
	}

	// Withdrawing links refuses the ones issued before.
	if err := w.svc.RevokeLinks(ctx, consent.Who{Profile: ann}); err != nil {
		t.Fatal(err)
	}
	refused("a withdrawn link", token)
	w.svc.SetClock(func() time.Time { return now.Add(time.Minute) })
	fresh, _, err := w.svc.IssueLink(ctx, consent.Who{Profile: ann}, "", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.svc.OpenLink(ctx, fresh); err != nil {
		t.Errorf("a link issued after the withdrawal: %v", err)
	}
	if _, _, err := w.svc.IssueLink(ctx, consent.Who{Profile: ann}, "", "", 500*24*time.Hour); kith.ErrorField(err) != "ttl" {
		t.Errorf("a link for 500 days: %v", err)
	}
}

// march is a day of March 2026 at an hour.
func march(day, hour int) time.Time { return time.Date(2026, 3, day, hour, 0, 0, 0, time.UTC) }

// clock sets the service's clock to t.
func (w *world) clock(t time.Time) { w.svc.SetClock(func() time.Time { return t }) }

func (w *world) checkAt(profileID, purpose, channel string, at time.Time) *consent.Decision {
	w.t.Helper()
	d, err := w.svc.CheckAt(context.Background(), consent.Who{Profile: profileID}, purpose, channel, at)
	if err != nil {
		w.t.Fatalf("CheckAt(%s, %s, %s, %s): %v", profileID, purpose, channel, at, err)
	}
	return d
}

// "Why didn't she get that SMS on 3 March?" She opted in in February,
// opted out of marketing texts on 2 March; her number hard-bounced on 4
// March and was verified again on 6 March. Asked on 8 March, the gate
// answers for each day as it did then, naming the records and the
// contact point's status of that day.
func TestWhyNoSMSOn3March(t *testing.T) {
	w := newWorld(t)
	sofia := w.person("u-sofia", map[string]any{"name": "Sofia Duarte", "phone": "+44 7911 123454"})
	ctx := agent("agent-jo")
	record := func(state string, decided time.Time) kith.ConsentRecord {
		t.Helper()
		w.clock(decided)
		recs, err := w.svc.Record(ctx, consent.Change{Who: consent.Who{Profile: sofia}, Purpose: kith.PurposeMarketing,
			Channel: kith.ContactSMS, State: state, Basis: "consent"})
		if err != nil {
			t.Fatal(err)
		}
		return recs[0]
	}
	setStatus := func(when time.Time, status, reason string) {
		t.Helper()
		w.clock(when)
		if _, err := w.svc.SetContactPoint(ctx, consent.Who{Profile: sofia}, kith.ContactPoint{Channel: kith.ContactSMS,
			Address: "+44 7911 123454", Status: status, Label: "mobile", Reason: reason}); err != nil {
			t.Fatal(err)
		}
	}
	setStatus(time.Date(2026, 2, 27, 9, 0, 0, 0, time.UTC), kith.ContactVerified, "code sent by text")
	optIn := record(kith.ConsentOptedIn, time.Date(2026, 2, 27, 9, 5, 0, 0, time.UTC))
	optOut := record(kith.ConsentOptedOut, march(2, 9))
	w.clock(march(4, 9))
	if _, err := w.svc.Suppress(context.Background(), consent.Who{}, kith.ContactSMS, "+447911123454", "hard_bounce", ""); err != nil {
		t.Fatal(err)
	}
	setStatus(march(6, 9), kith.ContactVerified, "re-verified by code")
	asked := march(8, 10)
	w.clock(asked)

	for _, c := range []struct {
		day              int
		purpose          string
		allowed          bool
		reason           string
		decisions        []string
		status, cpReason string // of the contact point used, when allowed
	}{
		{1, kith.PurposeMarketing, true, "opted in to marketing by sms", []string{optIn.ID}, kith.ContactVerified, "code sent by text"},
		{1, kith.PurposeAlerts, true, "alerts messages are sent unless opted out", nil, kith.ContactVerified, "code sent by text"},
		{3, kith.PurposeMarketing, false, "+447911123454: opted out of marketing by sms", []string{optOut.ID}, "", ""},
		{3, kith.PurposeAlerts, true, "alerts messages are sent unless opted out", nil, kith.ContactVerified, "code sent by text"},
		{5, kith.PurposeMarketing, false, "+447911123454: the address bounced (hard bounce)", []string{optOut.ID}, "", ""},
		{5, kith.PurposeAlerts, false, "+447911123454: the address bounced (hard bounce)", nil, "", ""},
		{7, kith.PurposeMarketing, false, "+447911123454: opted out of marketing by sms", []string{optOut.ID}, "", ""},
		{7, kith.PurposeAlerts, true, "alerts messages are sent unless opted out", nil, kith.ContactVerified, "re-verified by code"},
	} {
		at := march(c.day, 12)
		d := w.checkAt(sofia, c.purpose, kith.ContactSMS, at)
		name := fmt.Sprintf("%s on %d March", c.purpose, c.day)
		if d.Allowed != c.allowed || d.Reason != c.reason || !slices.Equal(d.Decisions, c.decisions) {
			t.Errorf("%s: allowed %v, %q, records %v; want %v, %q, %v", name, d.Allowed, d.Reason, d.Decisions, c.allowed, c.reason, c.decisions)
		}
		if !d.AsOf.Equal(at) || !d.CheckedAt.Equal(asked) {
			t.Errorf("%s: as of %s, checked at %s; want %s, %s", name, d.AsOf, d.CheckedAt, at, asked)
		}
		switch {
		case !c.allowed && d.ContactPoint != nil:
			t.Errorf("%s: refused with a contact point %+v", name, d.ContactPoint)
		case c.allowed && (d.ContactPoint == nil || d.ContactPoint.Status != c.status || d.ContactPoint.Reason != c.cpReason):
			t.Errorf("%s: contact point %+v; want %s (%s)", name, d.ContactPoint, c.status, c.cpReason)
		}
	}

	// Before any contact point, the phone identifier, as unverified.
	if d := w.checkAt(sofia, kith.PurposeAlerts, kith.ContactSMS, time.Date(2026, 2, 20, 0, 0, 0, 0, time.UTC)); !d.Allowed ||
		d.ContactPoint == nil || d.ContactPoint.Status != kith.ContactUnverified {
		t.Errorf("alerts before the contact point was set: %+v", d)
	}
	// The answer now is the one of 7 March.
	for _, purpose := range []string{kith.PurposeMarketing, kith.PurposeAlerts} {
		now, then := w.check(sofia, purpose, kith.ContactSMS), w.checkAt(sofia, purpose, kith.ContactSMS, march(7, 12))
		if now.Allowed != then.Allowed || now.Reason != then.Reason || !slices.Equal(now.Decisions, then.Decisions) || !now.AsOf.Equal(asked) {
			t.Errorf("%s now %+v; on 7 March %+v", purpose, now, then)
		}
	}
	// The history that explains it: every status the number had.
	h, err := w.svc.ContactPointHistory(context.Background(), consent.Who{Profile: sofia})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, cp := range h {
		got = append(got, cp.UpdatedAt.Format("2 Jan")+" "+cp.Status+" ("+cp.Reason+") by "+cp.UpdatedBy)
	}
	want := []string{"27 Feb verified (code sent by text) by user:agent-jo", "4 Mar bounced (hard bounce) by ",
		"6 Mar verified (re-verified by code) by user:agent-jo"}
	if !slices.Equal(got, want) {
		t.Errorf("contact point history %q, want %q", got, want)
	}
}

// A past answer uses only what Kith had recorded by then: an opt-out said
// on 2 March but entered on 4 March is not used on 3 March, and from 4
// March on it wins by when it was said, over an opt-in entered later but
// said earlier.
func TestCheckAtUsesOnlyWhatWasRecorded(t *testing.T) {
	w := newWorld(t)
	ann := w.person("u-ann", map[string]any{"email": "ann@example.com"})
	record := func(state string, decided, recorded time.Time) kith.ConsentRecord {
		t.Helper()
		w.clock(recorded)
		recs, err := w.svc.Record(context.Background(), consent.Change{Who: consent.Who{Profile: ann}, Purpose: kith.PurposeMarketing,
			Channel: kith.ContactEmail, State: state, DecidedAt: decided, Via: "call_center"})
		if err != nil {
			t.Fatal(err)
		}
		return recs[0]
	}
	in := record(kith.ConsentOptedIn, march(1, 9), march(1, 9))
	out := record(kith.ConsentOptedOut, march(2, 9), march(4, 9))
	record(kith.ConsentOptedIn, march(1, 18), march(6, 9))
	w.clock(march(8, 9))
	for _, c := range []struct {
		at        time.Time
		allowed   bool
		decisions []string
	}{
		{march(1, 8), false, nil},
		{march(1, 9), true, []string{in.ID}}, // recorded at that very instant
		{march(3, 12), true, []string{in.ID}},
		{march(4, 9), false, []string{out.ID}},
		{march(5, 12), false, []string{out.ID}},
		{march(7, 12), false, []string{out.ID}},
	} {
		d := w.checkAt(ann, kith.PurposeMarketing, kith.ContactEmail, c.at)
		if d.Allowed != c.allowed || !slices.Equal(d.Decisions, c.decisions) {
			t.Errorf("as of %s: allowed %v, records %v (%s); want %v, %v", c.at, d.Allowed, d.Decisions, d.Reason, c.allowed, c.decisions)
		}
	}
}

// The minor rule takes the person's age on the day asked.
func TestCheckAtMinorByAgeThen(t *testing.T) {
	w := newWorld(t)
	kai := w.person("u-kai", map[string]any{"email": "kai@example.com", "birthday": "2008-06-01"})
	w.clock(time.Date(2026, 1, 10, 9, 0, 0, 0, time.UTC))
	if _, err := w.svc.Record(context.Background(), consent.Change{Who: consent.Who{Profile: kai}, Purpose: kith.PurposeMarketing,
		Channel: kith.ContactEmail, State: kith.ConsentOptedIn}); err != nil {
		t.Fatal(err)
	}
	w.clock(now)
	if d := w.check(kai, kith.PurposeMarketing, kith.ContactEmail); !d.Allowed || d.Minor {
		t.Errorf("marketing now, at 18: %+v", d)
	}
	if d := w.checkAt(kai, kith.PurposeMarketing, kith.ContactEmail, time.Date(2026, 5, 31, 12, 0, 0, 0, time.UTC)); d.Allowed || !d.Minor ||
		!strings.Contains(d.Reason, "17 years old") {
		t.Errorf("marketing the day before the 18th birthday: %+v", d)
	}
	if d := w.checkAt(kai, kith.PurposeMarketing, kith.ContactEmail, time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)); !d.Allowed || d.Minor {
		t.Errorf("marketing on the 18th birthday: %+v", d)
	}
}

// A time to answer for must be given and not be in the future.
func TestCheckAtRefusesTheFuture(t *testing.T) {
	w := newWorld(t)
	ann := w.person("u-ann", map[string]any{"email": "ann@example.com"})
	who := consent.Who{Profile: ann}
	for _, at := range []time.Time{{}, now.Add(time.Second), now.Add(24 * time.Hour)} {
		if _, err := w.svc.CheckAt(context.Background(), who, kith.PurposeService, kith.ContactEmail, at); kith.ErrorCode(err) != kith.EINVALID ||
			kith.ErrorField(err) != "at" {
			t.Errorf("CheckAt(%s) = %v; want invalid at", at, err)
		}
	}
	if d := w.checkAt(ann, kith.PurposeService, kith.ContactEmail, now); !d.Allowed || !d.AsOf.Equal(now) {
		t.Errorf("CheckAt(now): %+v", d)
	}
}
