package profile

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/kithhq/kith"
)

// auditedService is a Service over a real store that records reads, with
// one customer who identified on the web and visited a car-insurance page.
func auditedService(t *testing.T) (*Service, kith.AuditLog, string) {
	t.Helper()
	ctx := context.Background()
	db := openStore(t)
	now := time.Now().UTC()
	appendEvents(t, db, []kith.Event{
		{SourceID: "src", MessageID: "m1", Type: kith.TypeIdentify, Channel: kith.KindWeb, UserID: "u-ann", Timestamp: now.Add(-time.Hour),
			ReceivedAt: now, Payload: []byte(`{"type":"identify","userId":"u-ann","traits":{"email":"ann@example.com","name":"Ann Lee","plan":"gold","loyalty_id":"L-1"}}`)},
		{SourceID: "src", MessageID: "m2", Type: kith.TypePage, Channel: kith.KindWeb, UserID: "u-ann", Timestamp: now.Add(-time.Minute),
			ReceivedAt: now, Payload: []byte(`{"type":"page","userId":"u-ann","properties":{"path":"/insurance/car","category":"car insurance","email":"ann@example.com"}}`)},
	})
	p := NewProcessor(db, testConfig(true, 100), quietLog(), nil)
	if _, err := p.Step(ctx); err != nil {
		t.Fatal(err)
	}
	svc := NewService(db, p)
	actx := kith.WithActor(ctx, kith.Actor{Kind: kith.ActorSystem, PII: true})
	v, _, err := svc.Lookup(actx, kith.IDUserID, "u-ann")
	if err != nil {
		t.Fatal(err)
	}
	svc.RecordTo(db)
	return svc, db, v.ID
}

func TestReadsNeedAnActor(t *testing.T) {
	svc, _, id := auditedService(t)
	ctx := context.Background()
	if _, err := svc.Get(ctx, id); !kith.IsCode(err, kith.EUNAUTHORIZED) {
		t.Errorf("Get without an actor: %v, want EUNAUTHORIZED", err)
	}
	if _, err := svc.Customer(ctx, id, 10); !kith.IsCode(err, kith.EUNAUTHORIZED) {
		t.Errorf("Customer without an actor: %v, want EUNAUTHORIZED", err)
	}
	if _, err := svc.Timeline(ctx, id, "", 10); !kith.IsCode(err, kith.EUNAUTHORIZED) {
		t.Errorf("Timeline without an actor: %v, want EUNAUTHORIZED", err)
	}
}

func TestEveryReadRecordedOnce(t *testing.T) {
	svc, log, id := auditedService(t)
	ann := kith.Actor{Kind: kith.ActorUser, ID: "usr_1", Name: "ann", Role: kith.RoleAgent, PII: true, Addr: "10.0.0.9:1234", Via: "console"}
	ctx := kith.WithActor(context.Background(), ann)
	reads := []struct {
		action string
		read   func() error
	}{
		{kith.AuditProfileRead, func() error { _, err := svc.Get(ctx, id); return err }},
		{kith.AuditProfileRead, func() error { _, err := svc.Customer(ctx, id, 10); return err }},
		{kith.AuditProfileRead, func() error { _, err := svc.Timeline(ctx, id, "", 10); return err }},
		{kith.AuditProfileRead, func() error { _, err := svc.Identities(ctx, id); return err }},
		{kith.AuditProfileLookup, func() error { _, _, err := svc.Lookup(ctx, kith.IDEmail, "ANN@example.com"); return err }},
		{kith.AuditProfileSearch, func() error { _, err := svc.Search(ctx, "ann", 10); return err }},
	}
	for i, r := range reads {
		if err := r.read(); err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		recs, err := log.Audit(context.Background(), kith.AuditFilter{Target: id})
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != i+1 {
			t.Fatalf("after read %d (%s): %d records, want %d", i, r.action, len(recs), i+1)
		}
		got := recs[0]
		if got.Action != r.action || got.Actor.Name != "ann" || got.Actor.Addr != ann.Addr || got.Actor.Role != kith.RoleAgent {
			t.Errorf("read %d recorded %+v, want %s by ann from %s", i, got, r.action, ann.Addr)
		}
	}
	recs, _ := log.Audit(context.Background(), kith.AuditFilter{Target: id, Action: kith.AuditProfileLookup})
	if len(recs) != 1 || recs[0].Detail != "email ann@example.com" {
		t.Errorf("lookup recorded %+v, want the normalised identifier in the detail", recs)
	}
	// A read that fails (no such profile) records nothing about anyone.
	if _, err := svc.Get(ctx, "prf_missing"); !kith.IsCode(err, kith.ENOTFOUND) {
		t.Errorf("Get(missing) = %v", err)
	}
	if recs, _ := log.Audit(context.Background(), kith.AuditFilter{Target: "prf_missing"}); len(recs) != 0 {
		t.Errorf("a failed read was recorded: %+v", recs)
	}
}

func TestAnalystSeesNoPersonalData(t *testing.T) {
	svc, _, id := auditedService(t)
	analyst := kith.Actor{Kind: kith.ActorUser, Name: "bo", Role: kith.RoleAnalyst, PII: false, Via: "console"}
	ctx := kith.WithActor(context.Background(), analyst)
	c, err := svc.Customer(ctx, id, 10)
	if err != nil {
		t.Fatal(err)
	}
	if c.Name != "" || len(c.SearchKeys) != 0 {
		t.Errorf("name %q, search keys %v shown to an analyst", c.Name, c.SearchKeys)
	}
	for _, l := range append(c.Identifiers, c.Identities.Links...) {
		if l.Value != Hidden {
			t.Errorf("identifier %s shown to an analyst", l.Identifier)
		}
	}
	for k, tr := range c.Traits {
		hidden := string(tr.Value) == `"`+Hidden+`"`
		if hidden != (k != "plan") {
			t.Errorf("trait %s = %s: hidden %v", k, tr.Value, hidden)
		}
	}
	if len(c.TopIntents) == 0 || c.TopIntents[0].Topic != "car insurance" {
		t.Errorf("intents %+v, want car insurance shown", c.TopIntents)
	}
	for _, e := range c.Timeline.Events {
		body := string(e.Payload)
		if e.UserID != "" || strings.Contains(body, "ann") || strings.Contains(body, "Ann") {
			t.Errorf("timeline entry shows who: userId %q, body %s", e.UserID, body)
		}
	}
	if page := c.Timeline.Events[0]; !strings.Contains(string(page.Payload), `"path":"/insurance/car"`) {
		t.Errorf("the page view lost its path: %s", page.Payload)
	}
	// Hiding works on copies: a reader with access still sees everything.
	full := kith.WithActor(context.Background(), kith.Actor{Kind: kith.ActorKey, Name: "crm", PII: true})
	v, err := svc.Get(full, id)
	if err != nil {
		t.Fatal(err)
	}
	if v.Name != "Ann Lee" || string(v.Traits["email"].Value) != `"ann@example.com"` {
		t.Errorf("after an analyst's read the profile reads %q %s", v.Name, v.Traits["email"].Value)
	}
	for _, read := range []func() error{
		func() error { _, err := svc.Search(ctx, "ann", 10); return err },
		func() error { _, _, err := svc.Lookup(ctx, kith.IDEmail, "ann@example.com"); return err },
	} {
		if err := read(); !kith.IsCode(err, kith.EFORBIDDEN) || !strings.Contains(kith.ErrorMessage(err), "analyst") {
			t.Errorf("an analyst searching by personal data: %v, want EFORBIDDEN naming the role", err)
		}
	}
}

func TestPersonal(t *testing.T) {
	for name, want := range map[string]bool{"email": true, "Email": true, "first_name": true, "lastName": true, "phone": true,
		"mobilePhone": true, "work_email": true, "loyalty_id": true, "address": true, "birthday": true,
		"plan": false, "lifetime_value": false, "tier": false, "company_size": false} {
		if got := Personal(name); got != want {
			t.Errorf("Personal(%q) = %v, want %v", name, got, want)
		}
	}
}
