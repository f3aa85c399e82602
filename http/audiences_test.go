package http_test

import (
	"context"
	"encoding/json"
	"net/url"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/audience"
	kithhttp "github.com/kithhq/kith/http"
	"github.com/kithhq/kith/store/sqlite"
)

// newAudiencesEnv serves the API with saved audiences.
func newAudiencesEnv(t *testing.T) *env {
	t.Helper()
	return newEnvWith(t, "web", "web", func(db *sqlite.DB, c *kithhttp.Config) {
		svc := audience.New(db, nil, nil, db)
		svc.SaveTo(db)
		c.Audiences = svc
	})
}

// newKey creates an API key with scopes and returns its secret.
func (e *env) newKey(name string, scopes ...string) string {
	e.t.Helper()
	b, _ := json.Marshal(map[string]any{"name": name, "scopes": scopes})
	status, body, _ := e.do("POST", "/v1/keys", b, bearer(adminKey))
	if status != 201 {
		e.t.Fatalf("create key %s: %d %s", name, status, body)
	}
	var k struct{ Secret string }
	json.Unmarshal(body, &k)
	return k.Secret
}

// An audience's sizes over time: the last 30 days unless asked, oldest
// first; refused without profiles:read.
func TestAudienceSizes(t *testing.T) {
	e := newAudiencesEnv(t)
	status, body, _ := e.do("POST", "/v1/audiences", []byte(`{"name":"Internet","expression":"traits.plan == \"internet\""}`), bearer(adminKey))
	if status != 201 {
		t.Fatalf("create audience: %d %s", status, body)
	}
	var a kith.AudienceDef
	json.Unmarshal(body, &a)
	now := time.Now().UTC().Truncate(time.Minute)
	points := []kith.AudienceSize{{At: now.Add(-40 * 24 * time.Hour), Size: 1}, {At: now.Add(-48 * time.Hour), Size: 7}, {At: now.Add(-time.Hour), Size: 9}}
	for _, p := range points {
		if err := e.db.RecordAudienceSizes(context.Background(), p.At, map[string]int{a.ID: p.Size}); err != nil {
			t.Fatal(err)
		}
	}
	type answer struct {
		Audience string              `json:"audience"`
		Since    time.Time           `json:"since"`
		Sizes    []kith.AudienceSize `json:"sizes"`
	}
	reader := e.newKey("reporting", "profiles:read")
	for _, c := range []struct {
		name, query string
		key         string
		want        []kith.AudienceSize
	}{
		{"the last 30 days", "", reader, points[1:]},
		{"since a time", "?since=" + url.QueryEscape(now.Add(-50*24*time.Hour).Format(time.RFC3339)), reader, points},
		{"since a time with an offset", "?since=" + url.QueryEscape(now.Add(-2*time.Hour).In(time.FixedZone("", -5*3600)).Format(time.RFC3339)), reader, points[2:]},
		{"nothing since", "?since=" + url.QueryEscape(now.Add(time.Hour).Format(time.RFC3339)), adminKey, []kith.AudienceSize{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, body, _ := e.do("GET", "/v1/audiences/"+a.ID+"/sizes"+c.query, nil, bearer(c.key))
			if status != 200 {
				t.Fatalf("%d %s", status, body)
			}
			var got answer
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("%v: %s", err, body)
			}
			if got.Audience != a.ID || got.Since.IsZero() || got.Sizes == nil {
				t.Errorf("answer %s", body)
			}
			if diff := cmp.Diff(c.want, got.Sizes); diff != "" {
				t.Errorf("sizes (-want +got):\n%s", diff)
			}
		})
	}

	status, body, _ = e.do("GET", "/v1/audiences/"+a.ID+"/sizes?since=yesterday", nil, bearer(reader))
	wantError(t, status, body, 400, "invalid", "since")
	status, body, _ = e.do("GET", "/v1/audiences/"+a.ID+"/sizes?since=2026-11-01", nil, bearer(reader))
	wantError(t, status, body, 400, "invalid", "since")
	status, body, _ = e.do("GET", "/v1/audiences/aud_none/sizes", nil, bearer(reader))
	wantError(t, status, body, 404, "not_found", "")
	status, body, _ = e.do("GET", "/v1/audiences/"+a.ID+"/sizes", nil, bearer(e.newKey("loader", "profiles:write")))
	wantError(t, status, body, 403, "forbidden", "")
	status, body, _ = e.do("GET", "/v1/audiences/"+a.ID+"/sizes", nil)
	wantError(t, status, body, 401, "unauthorized", "")
}
