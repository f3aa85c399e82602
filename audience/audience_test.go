package audience_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/audience"
	"github.com/kithhq/kith/identity"
	"github.com/kithhq/kith/profile"
	"github.com/kithhq/kith/store/sqlite"
)

func TestCompileErrors(t *testing.T) {
	cases := []struct {
		src          string
		line, column int
		reason       string
	}{
		{`stage == "active" and`, 1, 21, "unexpected token EOF"},
		{`stage > 5`, 1, 7, "invalid operation: > (mismatched types string and int)"},
		{`events + 1`, 1, 1, "expected bool, but got int"},
		{`plan == "internet"`, 1, 1, "unknown name plan"},
		{"stage == \"active\"\n  and tier == 3", 2, 12, "invalid operation: == (mismatched types string and int)"},
	}
	for _, c := range cases {
		_, err := audience.Compile(c.src)
		d, _ := kith.ErrorDetail(err).(map[string]any)
		if !kith.IsCode(err, kith.EINVALID) || kith.ErrorField(err) != "expression" || d["line"] != c.line || d["column"] != c.column || d["reason"] != c.reason {
			t.Errorf("Compile(%q) = %v %v; want line %d column %d: %s", c.src, err, d, c.line, c.column, c.reason)
		}
	}
	if _, err := audience.Compile("  "); kith.ErrorField(err) != "expression" {
		t.Errorf("an empty expression: %v", err)
	}
}

func TestMatch(t *testing.T) {
	now := time.Date(2026, 11, 1, 12, 0, 0, 0, time.UTC)
	p := &kith.Profile{ID: "prf_1", Events: 12, CreatedAt: now.Add(-100 * 24 * time.Hour), UpdatedAt: now,
		Traits:    map[string]kith.Trait{"plan": {Value: []byte(`"internet"`)}, "age": {Value: []byte(`42`)}, "vip": {Value: []byte(`true`)}},
		Channels:  map[kith.Kind]*kith.ChannelSeen{kith.KindWeb: {}, kith.KindSMS: {}},
		Purchases: []kith.Purchase{{At: now.Add(-40 * 24 * time.Hour), Amount: 30}, {At: now.Add(-10 * 24 * time.Hour), Amount: 12.5}},
		Lifecycle: kith.Lifecycle{Stage: kith.StageActive}}
	person := audience.PersonOf(p, map[string]float64{"car insurance": 0.8}, "", "high", now)
	person.Identifiers["phone"] = []string{"+14155550101"}
	cases := map[string]bool{
		`traits.plan == "internet"`:                                true,
		`traits.age >= 40 and traits.vip`:                          true,
		`intents["car insurance"] > 0.5`:                           true,
		`intents["mortgage"] > 0.5`:                                false,
		`stage in ["active", "at_risk"] and tier == "high"`:        true,
		`"sms" in channels and len(identifiers.phone) > 0`:         true,
		`purchases == 2 and spent > 40`:                            true,
		`days_since_purchase > 30`:                                 false,
		`days_since_purchase > 9.9 and days_since_purchase < 10.1`: true,
		`now - last_purchase > duration("240h")`:                   false,
		`traits.missing == nil`:                                    true,
		`traits.plan startsWith "inter"`:                           true,
		`not (events > 10)`:                                        false,
	}
	for src, want := range cases {
		x, err := audience.Compile(src)
		if err != nil {
			t.Errorf("Compile(%q): %v", src, err)
			continue
		}
		if got, err := x.Match(person); err != nil || got != want {
			t.Errorf("%s = %v, %v; want %v", src, got, err, want)
		}
	}
	never := audience.PersonOf(&kith.Profile{ID: "prf_2"}, nil, "", "", now)
	x, _ := audience.Compile(`days_since_purchase > 30 and stage == "prospect" and tier == "none"`)
	if ok, err := x.Match(never); !ok || err != nil {
		t.Errorf("someone who never bought: %v, %v", ok, err)
	}
}

// people stores 30 people, a third of them on the internet plan, and
// returns the audience service over them.
func people(t *testing.T) (*audience.Service, *sqlite.DB) {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	proc := profile.NewProcessor(db, profile.Config{Identity: identity.DefaultConfig()}, quiet, nil)
	var evs []kith.Event
	now := time.Now().UTC()
	for i := range 30 {
		plan := "mobile"
		if i%3 == 0 {
			plan = "internet"
		}
		body, _ := json.Marshal(map[string]any{"type": "identify", "userId": fmt.Sprint("u", i),
			"traits": map[string]any{"plan": plan, "first_name": "P", "last_name": fmt.Sprint("N", i), "email": fmt.Sprintf("p%d@example.com", i)}})
		evs = append(evs, kith.Event{MessageID: fmt.Sprint("m-", i), Type: kith.TypeIdentify, SourceID: "src", Channel: kith.KindWeb,
			UserID: fmt.Sprint("u", i), Timestamp: now, ReceivedAt: now, Payload: body})
	}
	if _, err := db.Append(ctx, evs); err != nil {
		t.Fatal(err)
	}
	for {
		n, err := proc.Step(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
	}
	cfg := proc.Config()
	svc := audience.New(db, cfg.Intents.Strengths, nil, db)
	svc.SaveTo(db)
	return svc, db
}

func TestPreview(t *testing.T) {
	ctx := context.Background()
	svc, db := people(t)
	agent := kith.WithActor(ctx, kith.Actor{Kind: kith.ActorUser, Name: "ann", PII: true})
	pv, err := svc.Preview(agent, `traits.plan == "internet"`, 3, profile.DisplayName)
	if err != nil {
		t.Fatal(err)
	}
	if pv.Count != 10 || pv.Scanned != 30 || len(pv.Sample) != 3 || pv.Sample[0].Name == "" {
		t.Errorf("preview %+v", pv)
	}
	recs, _ := db.Audit(ctx, kith.AuditFilter{Action: kith.AuditProfileSearch})
	if len(recs) != 3 {
		t.Errorf("%d audit records for the sample, want 3", len(recs))
	}
	analyst := kith.WithActor(ctx, kith.Actor{Kind: kith.ActorUser, Name: "al", Role: kith.RoleAnalyst})
	pv, err = svc.Preview(analyst, `len(identifiers.email) > 0 and traits.plan != "internet"`, 2, profile.DisplayName)
	if err != nil || pv.Count != 20 || pv.Sample[0].Name != "" {
		t.Errorf("analyst preview %+v, %v; want no names", pv, err)
	}
	pv, err = svc.Preview(agent, `traits.plan > 3`, 2, nil)
	if err != nil || pv.Count != 0 || pv.Errors != 30 || pv.FirstError == "" {
		t.Errorf("a run-time type error: %+v, %v", pv, err)
	}
	if _, err := svc.Preview(agent, `stage >`, 2, nil); !kith.IsCode(err, kith.EINVALID) {
		t.Errorf("a syntax error: %v", err)
	}
}

func TestSavedAudience(t *testing.T) {
	ctx := kith.WithActor(context.Background(), kith.Actor{Kind: kith.ActorUser, Name: "mia", PII: true})
	svc, db := people(t)
	if _, err := svc.Create(ctx, "Bad", `traits.plan ==`); kith.ErrorField(err) != "expression" {
		t.Errorf("an audience with a broken expression: %v", err)
	}
	if _, err := svc.Create(ctx, " ", `true`); kith.ErrorField(err) != "name" {
		t.Errorf("an audience without a name: %v", err)
	}
	a, err := svc.Create(ctx, "Internet", ` traits.plan == "internet" `)
	if err != nil || a.Expression != `traits.plan == "internet"` || a.CreatedBy != "user:mia" {
		t.Fatalf("Create = %+v, %v", a, err)
	}
	if _, err := svc.Create(ctx, "Internet", `true`); !kith.IsCode(err, kith.ECONFLICT) || kith.ErrorField(err) != "name" {
		t.Errorf("a second audience named Internet: %v", err)
	}
	if list, _ := svc.Audiences(ctx); len(list) != 1 {
		t.Errorf("audiences %+v", list)
	}
	var all []string
	after := ""
	for range 10 {
		page, err := svc.Members(ctx, a.ID, after, 4, profile.DisplayName)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range page.Members {
			all = append(all, m.ID)
		}
		if page.Next == "" {
			break
		}
		after = page.Next
	}
	if len(all) != 10 {
		t.Errorf("%d members over pages, want 10", len(all))
	}
	var exported []audience.Member
	n, err := svc.Export(ctx, a.ID, profile.DisplayName, func(m audience.Member) error { exported = append(exported, m); return nil })
	if err != nil || n != 10 || len(exported) != 10 || exported[0].Name == "" {
		t.Errorf("Export = %d, %v, %+v", n, err, exported)
	}
	recs, _ := db.Audit(ctx, kith.AuditFilter{Action: "audience."})
	if len(recs) != 2 {
		t.Errorf("%d audience audit records (create, export), want 2", len(recs))
	}
	if _, err := svc.Members(ctx, "aud_none", "", 10, nil); !kith.IsCode(err, kith.ENOTFOUND) {
		t.Errorf("members of a missing audience: %v", err)
	}
}
