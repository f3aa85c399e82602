package http_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/kithhq/kith"
	"github.com/kithhq/kith/access"
	kithhttp "github.com/kithhq/kith/http"
	"github.com/kithhq/kith/ingest"
	"github.com/kithhq/kith/metrics"
	"github.com/kithhq/kith/store/sqlite"
)

const (
	writeKey = "wk-http-test-0001"
	adminKey = "admin-http-test-secret-0001"
)

type env struct {
	t       *testing.T
	db      *sqlite.DB
	access  *access.Service
	srv     *httptest.Server
	source  *kith.Source
	handler *kithhttp.Server
}

func newEnv(t *testing.T) *env { return newEnvWith(t, "web", "web", nil) }

// newEnvWith serves the API over a fresh embedded store with a source of
// that name and kind and an admin key; more, if set, adds to the server's
// configuration.
func newEnvWith(t *testing.T, source, kind string, more func(db *sqlite.DB, c *kithhttp.Config)) *env {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, t.TempDir(), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	acc := access.New(db, db, time.Minute)
	src, err := acc.EnsureSource(ctx, source, kind, writeKey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := acc.EnsureKey(ctx, "admin", adminKey, []string{"admin"}); err != nil {
		t.Fatal(err)
	}
	cfg := kithhttp.Config{Ingest: ingest.New(db, acc), Access: acc, Metrics: metrics.New(), Version: "test", Ready: db.Ready}
	if more != nil {
		more(db, &cfg)
	}
	h := kithhttp.NewServer(cfg)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{t: t, db: db, access: acc, srv: srv, source: src, handler: h}
}

type reqOpt func(*http.Request)

func basic(user, pass string) reqOpt {
	return func(r *http.Request) { r.SetBasicAuth(user, pass) }
}

func header(k, v string) reqOpt { return func(r *http.Request) { r.Header.Set(k, v) } }

func bearer(key string) reqOpt { return header("Authorization", "Bearer "+key) }

// do sends a request and returns the status and the body.
func (e *env) do(method, path string, body []byte, opts ...reqOpt) (int, []byte, http.Header) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.srv.URL+path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for _, o := range opts {
		o(req)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b, resp.Header
}

func (e *env) events() []kith.Event {
	e.t.Helper()
	evs, err := e.db.ReadEvents(context.Background(), 0, 100000)
	if err != nil {
		e.t.Fatal(err)
	}
	return evs
}

func gz(t *testing.T, b []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b)
	zw.Close()
	return buf.Bytes()
}

type errBody struct {
	Error struct{ Code, Field, Message string } `json:"error"`
}

func wantError(t *testing.T, status int, body []byte, wantStatus int, wantCode, wantField string) {
	t.Helper()
	if status != wantStatus {
		t.Errorf("status = %d, want %d; body %s", status, wantStatus, body)
	}
	var eb errBody
	if err := json.Unmarshal(body, &eb); err != nil {
		t.Fatalf("error body is not JSON: %q", body)
	}
	if eb.Error.Code != wantCode || eb.Error.Field != wantField || eb.Error.Message == "" {
		t.Errorf("error = %+v; want code %q field %q and a message", eb.Error, wantCode, wantField)
	}
}

func TestEveryPathStoresItsType(t *testing.T) {
	e := newEnv(t)
	paths := map[string]string{
		"track": "track", "t": "track", "identify": "identify", "i": "identify", "page": "page", "p": "page",
		"screen": "screen", "s": "screen", "group": "group", "g": "group", "alias": "alias", "a": "alias",
	}
	for path, typ := range paths {
		body := `{"userId":"u-` + path + `","messageId":"m-` + path + `","event":"E","previousId":"old","groupId":"g1"}`
		status, resp, _ := e.do("POST", "/v1/"+path, []byte(body), basic(writeKey, ""))
		if status != 200 || string(resp) != "{\"success\":true}\n" {
			t.Errorf("POST /v1/%s: %d %s", path, status, resp)
			continue
		}
		ev, err := e.db.EventByMessageID(context.Background(), e.source.ID, "m-"+path)
		if err != nil {
			t.Errorf("/v1/%s: %v", path, err)
			continue
		}
		if string(ev.Type) != typ || ev.UserID != "u-"+path || ev.Channel != kith.KindWeb || ev.SourceID != e.source.ID {
			t.Errorf("/v1/%s stored %+v", path, ev)
		}
		if string(ev.Payload) != body {
			t.Errorf("/v1/%s payload %q, want as sent", path, ev.Payload)
		}
	}
	for _, path := range []string{"batch", "import"} {
		body := `{"batch":[{"type":"screen","anonymousId":"a","messageId":"b-` + path + `"}]}`
		if status, resp, _ := e.do("POST", "/v1/"+path, []byte(body), basic(writeKey, "")); status != 200 {
			t.Errorf("POST /v1/%s: %d %s", path, status, resp)
		}
	}
	if got := len(e.events()); got != len(paths)+2 {
		t.Errorf("stored %d events, want %d", got, len(paths)+2)
	}
}

func TestWireVariants(t *testing.T) {
	batch := func(id string) []byte {
		return []byte(`{"batch":[{"type":"track","userId":"u","event":"E","messageId":"` + id + `"}]}`)
	}
	tests := []struct {
		name string
		path string
		body []byte
		opts []reqOpt
	}{
		{"json basic auth", "/v1/batch", batch("v1"), []reqOpt{basic(writeKey, ""), header("Content-Type", "application/json")}},
		{"analytics.js text/plain short path", "/v1/t", []byte(`{"userId":"u","event":"E","messageId":"v2"}`), []reqOpt{basic(writeKey, ""), header("Content-Type", "text/plain")}},
		{"rudderstack node form-encoded gzip", "/v1/batch", gz(t, batch("v3")), []reqOpt{basic(writeKey, ""), header("Content-Type", "application/x-www-form-urlencoded"), header("Content-Encoding", "gzip")}},
		{"rudderstack browser json charset", "/v1/track", []byte(`{"userId":"u","event":"E","messageId":"v4"}`), []reqOpt{basic(writeKey, ""), header("Content-Type", "application/json;charset=UTF-8")}},
		{"gzip without header", "/v1/batch", gz(t, batch("v5")), []reqOpt{basic(writeKey, "")}},
		{"no content type", "/v1/batch", batch("v6"), []reqOpt{basic(writeKey, "")}},
		{"write key in body", "/v1/track", []byte(`{"writeKey":"` + writeKey + `","userId":"u","event":"E","messageId":"v7"}`), nil},
		{"write key in batch envelope", "/v1/batch", []byte(`{"writeKey":"` + writeKey + `","batch":[{"type":"page","anonymousId":"a","messageId":"v8"}]}`), nil},
		{"write key as basic password", "/v1/page", []byte(`{"anonymousId":"a","messageId":"v9"}`), []reqOpt{basic("", writeKey)}},
		{"traits in context.traits", "/v1/identify", []byte(`{"userId":"u","context":{"traits":{"email":"a@example.com"}},"messageId":"v10"}`), []reqOpt{basic(writeKey, "")}},
		{"retry header", "/v1/p", []byte(`{"anonymousId":"a","messageId":"v11"}`), []reqOpt{basic(writeKey, ""), header("X-Retry-Count", "2")}},
	}
	e := newEnv(t)
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, _ := e.do("POST", tt.path, tt.body, tt.opts...)
			if status != 200 {
				t.Fatalf("status %d: %s", status, body)
			}
			mid := "v" + strconv.Itoa(i+1) // each case sends messageId v1, v2, … in order
			if _, err := e.db.EventByMessageID(context.Background(), e.source.ID, mid); err != nil {
				t.Errorf("event %s not stored: %v", mid, err)
			}
		})
	}
}

func TestDedupeByMessageID(t *testing.T) {
	e := newEnv(t)
	body := []byte(`{"batch":[{"type":"track","userId":"u","event":"E","messageId":"same"},{"type":"track","userId":"u","event":"E","messageId":"same"}]}`)
	for range 3 {
		if status, resp, _ := e.do("POST", "/v1/batch", body, basic(writeKey, "")); status != 200 {
			t.Fatalf("status %d: %s", status, resp)
		}
	}
	if got := len(e.events()); got != 1 {
		t.Errorf("stored %d events for one messageId sent 6 times, want 1", got)
	}
	_, metricsBody, _ := e.do("GET", "/metrics", nil)
	for _, want := range []string{`kith_ingest_events_total{result="accepted"} 1`, `kith_ingest_events_total{result="duplicate"} 5`} {
		if !bytes.Contains(metricsBody, []byte(want)) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

func TestBatchRejectsOnlyInvalidMessages(t *testing.T) {
	e := newEnv(t)
	body := []byte(`{"batch":[
		{"type":"track","userId":"u1","event":"A","messageId":"ok-1"},
		{"type":"track","event":"no ids","messageId":"bad-1"},
		{"type":"page","anonymousId":"a2","messageId":"ok-2"},
		{"type":"mystery","userId":"u","messageId":"bad-2"}]}`)
	status, resp, _ := e.do("POST", "/v1/batch", body, basic(writeKey, ""))
	if status != 200 {
		t.Fatalf("status %d: %s", status, resp)
	}
	var got struct {
		Success  bool               `json:"success"`
		Rejected []ingest.Rejection `json:"rejected"`
	}
	if err := json.Unmarshal(resp, &got); err != nil {
		t.Fatal(err)
	}
	want := []ingest.Rejection{
		{Index: 1, Code: "invalid", Field: "batch[1].userId", Message: "userId or anonymousId is required"},
		{Index: 3, Code: "invalid", Field: "batch[3].type", Message: `unknown type "mystery": use track, identify, page, screen, group or alias`},
	}
	if !got.Success {
		t.Error("success = false")
	}
	if diff := cmp.Diff(want, got.Rejected); diff != "" {
		t.Errorf("rejected (-want +got):\n%s", diff)
	}
	var ids []string
	for _, ev := range e.events() {
		ids = append(ids, ev.MessageID)
	}
	if diff := cmp.Diff([]string{"ok-1", "ok-2"}, ids); diff != "" {
		t.Errorf("stored (-want +got):\n%s", diff)
	}
	_, metricsBody, _ := e.do("GET", "/metrics", nil)
	if !bytes.Contains(metricsBody, []byte(`kith_ingest_rejections_total{code="invalid"} 2`)) {
		t.Errorf("metrics do not count 2 rejections:\n%s", grep(metricsBody, "kith_ingest"))
	}
}

func grep(b []byte, s string) string {
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.Contains(l, s) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func TestIngestErrors(t *testing.T) {
	e := newEnv(t)
	big := func(n int) []byte {
		return []byte(`{"batch":[{"type":"track","userId":"u","event":"E","properties":{"x":"` + strings.Repeat("a", n) + `"}}]}`)
	}
	// 600 KB of one repeated byte compresses to under 1 KB: the limit applies after decompression.
	bomb := gz(t, []byte(`{"batch":[],"pad":"`+strings.Repeat("a", 600*1024)+`"}`))
	tests := []struct {
		name        string
		path        string
		body        []byte
		opts        []reqOpt
		status      int
		code, field string
	}{
		{"malformed JSON", "/v1/track", []byte(`{"userId":"u",`), []reqOpt{basic(writeKey, "")}, 400, "invalid", ""},
		{"not JSON at all", "/v1/batch", []byte(`hello`), []reqOpt{basic(writeKey, "")}, 400, "invalid", ""},
		{"single message invalid", "/v1/track", []byte(`{"userId":"u"}`), []reqOpt{basic(writeKey, "")}, 400, "invalid", "event"},
		{"single message missing ids", "/v1/identify", []byte(`{"traits":{}}`), []reqOpt{basic(writeKey, "")}, 400, "invalid", "userId"},
		{"message over 32 KB", "/v1/track", []byte(`{"userId":"u","event":"E","properties":{"x":"` + strings.Repeat("a", 33*1024) + `"}}`), []reqOpt{basic(writeKey, "")}, 413, "too_large", ""},
		{"batch over 500 KB", "/v1/batch", big(501 * 1024), []reqOpt{basic(writeKey, "")}, 413, "too_large", ""},
		{"gzip over 500 KB decompressed", "/v1/batch", bomb, []reqOpt{basic(writeKey, ""), header("Content-Encoding", "gzip")}, 413, "too_large", ""},
		{"bad gzip", "/v1/batch", []byte("not gzip"), []reqOpt{basic(writeKey, ""), header("Content-Encoding", "gzip")}, 400, "invalid", "Content-Encoding"},
		{"unsupported encoding", "/v1/batch", []byte("{}"), []reqOpt{basic(writeKey, ""), header("Content-Encoding", "br")}, 400, "invalid", "Content-Encoding"},
		{"unknown write key", "/v1/track", []byte(`{"userId":"u","event":"E"}`), []reqOpt{basic("nope", "")}, 401, "unauthorized", ""},
		{"missing write key", "/v1/track", []byte(`{"userId":"u","event":"E"}`), nil, 401, "unauthorized", ""},
		{"unknown body write key", "/v1/batch", []byte(`{"writeKey":"nope","batch":[]}`), nil, 401, "unauthorized", ""},
		{"unknown endpoint", "/v1/tracks", []byte(`{}`), []reqOpt{basic(writeKey, "")}, 404, "not_found", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, _ := e.do("POST", tt.path, tt.body, tt.opts...)
			wantError(t, status, body, tt.status, tt.code, tt.field)
		})
	}
	if n := len(e.events()); n != 0 {
		t.Errorf("%d events stored from rejected requests", n)
	}
}

func TestRevokedSourceIsRefused(t *testing.T) {
	e := newEnv(t)
	body := []byte(`{"userId":"u","event":"E"}`)
	if status, resp, _ := e.do("POST", "/v1/track", body, basic(writeKey, "")); status != 200 {
		t.Fatalf("before revoke: %d %s", status, resp)
	}
	status, resp, _ := e.do("POST", "/v1/sources/web/revoke", nil, bearer(adminKey))
	if status != 200 {
		t.Fatalf("revoke: %d %s", status, resp)
	}
	status, resp, _ = e.do("POST", "/v1/track", []byte(`{"userId":"u","event":"F"}`), basic(writeKey, ""))
	wantError(t, status, resp, 401, "unauthorized", "")
	if n := len(e.events()); n != 1 {
		t.Errorf("stored %d events, want 1", n)
	}
}

func TestSettingsForAnalyticsJS(t *testing.T) {
	e := newEnv(t)
	status, body, h := e.do("GET", "/v1/projects/"+writeKey+"/settings", nil, header("Origin", "http://shop.example"))
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	if got := h.Get("Access-Control-Allow-Origin"); got != "http://shop.example" {
		t.Errorf("Access-Control-Allow-Origin = %q", got)
	}
	var s struct {
		Integrations map[string]struct {
			APIKey   string `json:"apiKey"`
			APIHost  string `json:"apiHost"`
			Protocol string `json:"protocol"`
		} `json:"integrations"`
	}
	if err := json.Unmarshal(body, &s); err != nil {
		t.Fatal(err)
	}
	got := s.Integrations["Segment.io"]
	host := strings.TrimPrefix(e.srv.URL, "http://")
	if got.APIKey != writeKey || got.APIHost != host+"/v1" || got.Protocol != "http" {
		t.Errorf("Segment.io settings = %+v; want apiKey %s apiHost %s/v1 protocol http", got, writeKey, host)
	}
	status, body, _ = e.do("GET", "/v1/projects/unknown-key/settings", nil)
	wantError(t, status, body, 401, "unauthorized", "")
}

func TestCORSPreflight(t *testing.T) {
	e := newEnv(t)
	for _, path := range []string{"/v1/t", "/v1/batch", "/v1/projects/" + writeKey + "/settings"} {
		status, _, h := e.do("OPTIONS", path, nil, header("Origin", "http://shop.example"),
			header("Access-Control-Request-Method", "POST"), header("Access-Control-Request-Headers", "authorization,x-retry-count,content-type"))
		if status != 204 {
			t.Errorf("OPTIONS %s: status %d", path, status)
		}
		for k, want := range map[string]string{
			"Access-Control-Allow-Origin":  "http://shop.example",
			"Access-Control-Allow-Headers": "authorization,x-retry-count,content-type",
			"Access-Control-Allow-Methods": "GET, POST, OPTIONS",
		} {
			if got := h.Get(k); got != want {
				t.Errorf("OPTIONS %s: %s = %q, want %q", path, k, got, want)
			}
		}
	}
	_, _, h := e.do("POST", "/v1/t", []byte(`{"userId":"u","event":"E"}`), basic(writeKey, ""), header("Origin", "http://shop.example"))
	if got := h.Get("Access-Control-Allow-Origin"); got != "http://shop.example" {
		t.Errorf("POST Access-Control-Allow-Origin = %q", got)
	}
}

func TestAdminAPI(t *testing.T) {
	e := newEnv(t)
	// Create a source.
	status, body, _ := e.do("POST", "/v1/sources", []byte(`{"name":"call-center","kind":"call_center"}`), bearer(adminKey))
	if status != 201 {
		t.Fatalf("create source: %d %s", status, body)
	}
	var src struct{ ID, Name, Kind, WriteKey string }
	json.Unmarshal(body, &src)
	if src.Kind != "call_center" || len(src.WriteKey) < 20 || !strings.HasPrefix(src.ID, "src_") {
		t.Errorf("created source %+v", src)
	}
	// Its write key sends, and events record its channel.
	if status, body, _ := e.do("POST", "/v1/track", []byte(`{"userId":"u","event":"Call Ended","messageId":"cc-1"}`), basic(src.WriteKey, "")); status != 200 {
		t.Fatalf("ingest with new key: %d %s", status, body)
	}
	ev, err := e.db.EventByMessageID(context.Background(), src.ID, "cc-1")
	if err != nil || ev.Channel != kith.KindCallCenter {
		t.Errorf("event channel: %v %v", ev, err)
	}
	status, body, _ = e.do("GET", "/v1/sources", nil, bearer(adminKey))
	if status != 200 || !bytes.Contains(body, []byte(`"call-center"`)) || !bytes.Contains(body, []byte(`"web"`)) {
		t.Errorf("list sources: %d %s", status, body)
	}

	// Bad input: status, field and reason; nothing stored.
	status, body, _ = e.do("POST", "/v1/sources", []byte(`{"name":"x","kind":"fax"}`), bearer(adminKey))
	wantError(t, status, body, 400, "invalid", "kind")
	status, body, _ = e.do("POST", "/v1/sources", []byte(`{"name":"bad name!","kind":"web"}`), bearer(adminKey))
	wantError(t, status, body, 400, "invalid", "name")
	status, body, _ = e.do("POST", "/v1/sources", []byte(`{"name":"call-center","kind":"web"}`), bearer(adminKey))
	wantError(t, status, body, 409, "conflict", "")
	status, body, _ = e.do("POST", "/v1/sources", []byte(`{"name":1}`), bearer(adminKey))
	wantError(t, status, body, 400, "invalid", "name")
	status, body, _ = e.do("POST", "/v1/sources/nope/revoke", nil, bearer(adminKey))
	wantError(t, status, body, 404, "not_found", "")
	if srcs, _ := e.access.Sources(context.Background()); len(srcs) != 2 {
		t.Errorf("%d sources after bad requests, want 2", len(srcs))
	}

	// Keys: a profiles:read key cannot administer.
	status, body, _ = e.do("POST", "/v1/keys", []byte(`{"name":"agent-desktop","scopes":["profiles:read"]}`), bearer(adminKey))
	if status != 201 {
		t.Fatalf("create key: %d %s", status, body)
	}
	var key struct{ ID, Secret string }
	json.Unmarshal(body, &key)
	if !strings.HasPrefix(key.Secret, "kith_") {
		t.Fatalf("secret %q", key.Secret)
	}
	status, body, _ = e.do("GET", "/v1/keys", nil, bearer(key.Secret))
	wantError(t, status, body, 403, "forbidden", "")
	status, body, _ = e.do("GET", "/v1/keys", nil, bearer(adminKey))
	if status != 200 || bytes.Contains(body, []byte(key.Secret)) || !bytes.Contains(body, []byte("agent-desktop")) {
		t.Errorf("list keys: %d %s (must list the key and never its secret)", status, body)
	}
	status, body, _ = e.do("POST", "/v1/keys", []byte(`{"name":"k2","scopes":["root"]}`), bearer(adminKey))
	wantError(t, status, body, 400, "invalid", "scopes")
	status, body, _ = e.do("DELETE", "/v1/keys/"+key.ID, nil, bearer(adminKey))
	if status != 200 || !bytes.Contains(body, []byte("revokedAt")) {
		t.Errorf("revoke key: %d %s", status, body)
	}
	status, body, _ = e.do("GET", "/v1/sources", nil, bearer(key.Secret))
	wantError(t, status, body, 401, "unauthorized", "")

	// No key, a write key, or a wrong key cannot administer.
	status, body, h := e.do("GET", "/v1/sources", nil)
	wantError(t, status, body, 401, "unauthorized", "")
	if h.Get("WWW-Authenticate") == "" {
		t.Error("401 without WWW-Authenticate")
	}
	status, body, _ = e.do("GET", "/v1/sources", nil, bearer(writeKey))
	wantError(t, status, body, 401, "unauthorized", "")
	status, body, _ = e.do("GET", "/v1/sources", nil, header("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(adminKey+":"))))
	wantError(t, status, body, 401, "unauthorized", "")
}

func TestHealthz(t *testing.T) {
	e := newEnv(t)
	status, body, _ := e.do("GET", "/healthz", nil)
	if status != 200 || !bytes.Contains(body, []byte(`"ok"`)) {
		t.Errorf("healthz: %d %s", status, body)
	}
}

func TestReadyz(t *testing.T) {
	e := newEnv(t)
	if status, body, _ := e.do("GET", "/readyz", nil); status != 200 || !bytes.Contains(body, []byte(`"ready"`)) {
		t.Errorf("readyz: %d %s", status, body)
	}
	e.handler.Drain()
	if status, body, _ := e.do("GET", "/readyz", nil); status != 503 || !bytes.Contains(body, []byte("shutting down")) {
		t.Errorf("readyz while draining: %d %s", status, body)
	}
	// Liveness is not readiness: the node still answers /healthz.
	if status, _, _ := e.do("GET", "/healthz", nil); status != 200 {
		t.Errorf("healthz while draining: %d", status)
	}
}

func TestReadyzStoreDown(t *testing.T) {
	e := newEnv(t)
	e.db.Close()
	if status, body, _ := e.do("GET", "/readyz", nil); status != 503 || !bytes.Contains(body, []byte("store does not answer")) {
		t.Errorf("readyz with the store closed: %d %s", status, body)
	}
}
