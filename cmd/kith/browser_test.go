package main

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/google/go-cmp/cmp"

	"github.com/kithhq/kith"
)

// analyticsNextVersion is the version of @segment/analytics-next that
// scripts/fetch-analytics-next.sh installs; the SDK reports it in every event.
const analyticsNextVersion = "1.84.3"

// TestBrowserAnalyticsNext loads Segment's stock browser SDK, analytics-next,
// in headless Chromium on a page of another origin, as a customer's site
// would, pointed at a real Kith server by nothing but its write key and
// cdnURL. The SDK must get its settings from Kith and send its events to the
// apiHost those settings name, and Kith must store each event once, exactly as
// the browser sent it.
func TestBrowserAnalyticsNext(t *testing.T) {
	umdDir := analyticsNextDir(t)
	chromium := chromiumPath(t)

	m := startMain(t, nil)
	src, err := m.DB.SourceByWriteKey(t.Context(), testWriteKey)
	if err != nil {
		t.Fatalf("bootstrap source: %v", err)
	}
	site := newTestSite(t, umdDir, m.URL())
	browser := newBrowser(t, chromium)

	var first, second *visit
	t.Run("page identify track", func(t *testing.T) {
		v := visitPage(t, browser, site)
		stored := waitForEvents(t, m.DB, 0, 3)
		checkVisit(t, v, stored, src, m.URL())
		if n, err := m.DB.CountEvents(t.Context()); err != nil || n != 3 {
			t.Errorf("CountEvents = %d, %v; want 3", n, err)
		}
		if !t.Failed() {
			first = v
		}
	})

	t.Run("new browser context is a new visitor", func(t *testing.T) {
		if first == nil {
			t.Skip("the first visit did not pass")
		}
		v := visitPage(t, browser, site)
		stored := waitForEvents(t, m.DB, first.lastSeq, 3)
		checkVisit(t, v, stored, src, m.URL())
		if n, err := m.DB.CountEvents(t.Context()); err != nil || n != 6 {
			t.Errorf("CountEvents = %d, %v; want 6", n, err)
		}
		if v.anonymousID == first.anonymousID {
			t.Errorf("both browser contexts have anonymousId %q; a new context must be a new visitor", v.anonymousID)
		}
		for _, id := range v.messageIDs {
			for _, old := range first.messageIDs {
				if id == old {
					t.Errorf("messageId %q was sent by both visitors", id)
				}
			}
		}
		second = v
	})

	t.Run("both browsers end in one profile", func(t *testing.T) {
		if first == nil || second == nil {
			t.Skip("the visits did not pass")
		}
		deadline := time.Now().Add(10 * time.Second)
		for {
			lag, err := m.Processor.Lag(t.Context())
			if err != nil {
				t.Fatal(err)
			}
			if lag.Events == 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("processing still %d events behind after 10 s", lag.Events)
			}
			time.Sleep(20 * time.Millisecond)
		}
		// The same person logged in on two browsers: one profile holding
		// both anonymous ids, with all six events on its timeline.
		// Reads are audited: the test reads as an operator would.
		actx := kith.WithActor(t.Context(), kith.Actor{Kind: kith.ActorSystem, Name: "test", PII: true})
		v, candidates, err := m.Profiles.Lookup(actx, "user_id", "user-1")
		if err != nil {
			t.Fatalf("lookup user-1: %v (candidates %v)", err, candidates)
		}
		for _, anon := range []string{first.anonymousID, second.anonymousID} {
			w, _, err := m.Profiles.Lookup(actx, "anonymous_id", anon)
			if err != nil || w.ID != v.ID {
				t.Errorf("anonymous id %s resolves to %v (%v), want profile %s", anon, w, err, v.ID)
			}
		}
		if v.Events != 6 {
			t.Errorf("profile %s has %d events, want 6", v.ID, v.Events)
		}
		if got := string(v.Traits["email"].Value); got != `"user-1@example.com"` {
			t.Errorf("email trait %s, want the one identify sent", got)
		}
	})
}

// analyticsNextDir returns the dist/umd directory of analytics-next, named by
// KITH_TEST_ANALYTICS_NEXT_DIR.
func analyticsNextDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("KITH_TEST_ANALYTICS_NEXT_DIR")
	if dir == "" {
		skipOrFail(t, "browser", "KITH_TEST_ANALYTICS_NEXT_DIR is not set; run: export KITH_TEST_ANALYTICS_NEXT_DIR=$(scripts/fetch-analytics-next.sh)")
	}
	if _, err := os.Stat(filepath.Join(dir, "index.js")); err != nil {
		t.Fatalf("KITH_TEST_ANALYTICS_NEXT_DIR is not analytics-next's dist/umd directory (rerun scripts/fetch-analytics-next.sh): %v", err)
	}
	return dir
}

// chromiumPath returns the Chromium binary to drive.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	skipOrFail(t, "browser", "no chromium on PATH; apt-get install -y chromium")
	return ""
}

// testSite is a customer's web site: the test page and the analytics-next
// files, served from an origin that is not Kith's.
type testSite struct {
	url string // the page, http://localhost:PORT/
}

var pageTemplate = template.Must(template.New("page").Parse(`<!doctype html>
<html>
<head>
<meta charset="utf-8">
<title>Kith browser test</title>
<script>
// The UMD build fixes where it loads its lazy chunks from when index.js runs:
// window.analytics._cdn, else https://cdn.segment.com. The cdnURL load option
// comes too late for that, so the page names its own origin first.
window.analytics = {_cdn: {{.Origin}}};
</script>
<script src="/analytics-next/bundles/index.js"></script>
</head>
<body>
<script>
(async function () {
  var result = {err: '', anonymousId: ''};
  try {
    // Only the write key and where the settings are: no cdnSettings, so the
    // SDK must fetch them from Kith and send events where they say.
    var analytics = AnalyticsNext.AnalyticsBrowser.load({writeKey: {{.WriteKey}}, cdnURL: {{.KithURL}}});
    await analytics.page();
    await analytics.identify('user-1', {email: 'user-1@example.com'});
    await analytics.track('Clicked', {button: 'buy', price: 9.5});
    result.anonymousId = (await analytics.user()).anonymousId();
  } catch (e) {
    result.err = String((e && e.stack) || e) || 'unknown error';
  }
  window.__result = result;
})();
</script>
</body>
</html>
`))

// newTestSite serves the test page and umdDir on localhost, so that the page
// and Kith (on 127.0.0.1) are different sites: the browser preflights every
// request to Kith and sends it no cookies, as on a real site.
func newTestSite(t *testing.T, umdDir, kithURL string) *testSite {
	t.Helper()
	var origin string
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		err := pageTemplate.Execute(w, map[string]string{"Origin": origin, "WriteKey": testWriteKey, "KithURL": kithURL})
		if err != nil {
			t.Errorf("render test page: %v", err)
		}
	})
	mux.Handle("GET /analytics-next/bundles/", http.StripPrefix("/analytics-next/bundles/", http.FileServerFS(os.DirFS(umdDir))))
	mux.HandleFunc("GET /favicon.ico", func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	_, port, err := net.SplitHostPort(srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	origin = "http://localhost:" + port
	return &testSite{url: origin + "/"}
}

// newBrowser starts headless Chromium and returns a chromedp context bound to
// it. The browser is closed, and its process waited for, when the test ends.
func newBrowser(t *testing.T, execPath string) context.Context {
	t.Helper()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(execPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.Flag("disable-gpu", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		// Close gracefully and wait for the process to exit before
		// t.TempDir removes its profile.
		cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
		defer ccancel()
		if err := chromedp.Cancel(cctx); err != nil {
			t.Logf("close chromium: %v", err)
		}
		cancel()
		cancelAlloc()
	})
	// The first run starts the browser and ties its life to ctx, which
	// therefore carries no timeout.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start %s: %v", execPath, err)
	}
	return ctx
}

// visit is what one load of the test page did, as the browser saw it.
type visit struct {
	pageURL     string
	anonymousID string    // the SDK's own, read in the page
	requests    []request // in the order the browser sent them
	messageIDs  []string  // of the events stored for it
	lastSeq     int64     // of the events stored for it
}

// request is one request the browser sent, and what became of it.
type request struct {
	method, url string
	body        []byte
	status      int64  // 0 if no response arrived
	failure     string // why it failed, if it did
}

func (r request) String() string {
	s := fmt.Sprintf("%s %s -> %d", r.method, r.url, r.status)
	if r.failure != "" {
		s += " FAILED: " + r.failure
	}
	return s
}

// pageResult is what the test page's script reports in window.__result.
type pageResult struct {
	Err         string `json:"err"`
	AnonymousID string `json:"anonymousId"`
}

// visitPage opens the test page in a new browser context, with no cookies or
// storage, so each visit is a new visitor, and waits for its script to end.
func visitPage(t *testing.T, browser context.Context, site *testSite) *visit {
	t.Helper()
	tab, closeTab := chromedp.NewContext(browser, chromedp.WithNewBrowserContext())
	t.Cleanup(closeTab)
	// Open the tab with a context that has no deadline: the tab lives as
	// long as the context of its first run.
	if err := chromedp.Do(tab); err != nil {
		t.Fatalf("open tab: %v", err)
	}

	var mu sync.Mutex
	var reqs []*request
	byID := map[network.RequestID]*request{}
	err := chromedp.Listen(tab, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			r := &request{method: e.Request.Method, url: e.Request.URL}
			for _, p := range e.Request.PostDataEntries {
				r.body = append(r.body, p.Bytes...)
			}
			reqs = append(reqs, r)
			byID[e.RequestID] = r
		case *network.EventResponseReceived:
			if r := byID[e.RequestID]; r != nil {
				r.status = e.Response.Status
			}
		case *network.EventLoadingFailed:
			if r := byID[e.RequestID]; r != nil {
				r.failure = e.ErrorText
				if e.CorsErrorStatus != nil {
					r.failure += fmt.Sprintf(" (CORS: %s %s)", e.CorsErrorStatus.CorsError, e.CorsErrorStatus.FailedParameter)
				}
			}
		}
	})
	if err != nil {
		t.Fatalf("listen to the network: %v", err)
	}
	consoleCtx, stopConsole := context.WithCancel(tab)
	var console []string
	var consoleDone sync.WaitGroup
	consoleDone.Go(func() {
		for msg, err := range chromedp.Console(consoleCtx) {
			if err != nil {
				return
			}
			mu.Lock()
			console = append(console, msg.String())
			mu.Unlock()
		}
	})
	snapshot := func() []request {
		mu.Lock()
		defer mu.Unlock()
		out := make([]request, len(reqs))
		for i, r := range reqs {
			out[i] = *r
		}
		return out
	}
	t.Cleanup(func() {
		stopConsole()
		consoleDone.Wait()
		if t.Failed() {
			for _, r := range snapshot() {
				t.Logf("browser: %v", r)
			}
			for _, l := range console {
				t.Logf("console: %s", l)
			}
		}
	})

	ctx, cancel := context.WithTimeout(tab, 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := chromedp.Do(ctx, chromedp.Navigate(site.url)); err != nil {
		t.Fatalf("load %s: %v", site.url, err)
	}
	// The page sets window.__result when its calls are done; each resolves
	// once Kith has answered its POST.
	res, err := chromedp.Run(ctx, chromedp.Poll[pageResult](`window.__result`,
		chromedp.WithPollingInterval(10*time.Millisecond)))
	if err != nil {
		t.Fatalf("wait for the page's script: %v", err)
	}
	if res.Err != "" {
		t.Fatalf("page script: %s", res.Err)
	}
	t.Logf("page loaded and sent its events in %v", time.Since(start).Round(time.Millisecond))
	// The browser may report a response just after the script saw it.
	for {
		reqs := snapshot()
		settled := true
		for _, r := range reqs {
			if r.method != http.MethodOptions && r.status == 0 && r.failure == "" {
				settled = false
			}
		}
		if settled {
			return &visit{pageURL: site.url, anonymousID: res.AnonymousID, requests: reqs}
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the browser's requests did not end: %v", ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// waitForEvents polls Kith's event log until it holds at least n events after
// seq after, and returns all of them.
func waitForEvents(t *testing.T, db kith.EventReader, after int64, n int) []kith.Event {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	for {
		evs, err := db.ReadEvents(ctx, after, n+100)
		if err != nil {
			t.Fatalf("read events: %v", err)
		}
		if len(evs) >= n {
			return evs
		}
		select {
		case <-ctx.Done():
			t.Fatalf("Kith stored %d events, want %d: %v", len(evs), n, ctx.Err())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// storedEvent is what Kith made of an event, apart from its payload and times.
type storedEvent struct {
	Type        kith.EventType
	UserID      string
	AnonymousID string
	Channel     kith.Kind
	SourceID    string
}

// checkVisit checks that the visit's page, identify and track calls reached
// Kith through the settings Kith served, and that stored holds each of them
// once, as the browser sent it. It records the stored ids in v.
func checkVisit(t *testing.T, v *visit, stored []kith.Event, src *kith.Source, kithURL string) {
	t.Helper()

	// The browser talked to the site and to Kith only: the settings came
	// from Kith, and the apiHost in them sent the events there too.
	settingsURL := kithURL + "/v1/projects/" + testWriteKey + "/settings"
	site := strings.TrimSuffix(v.pageURL, "/")
	var settings int
	var posts []request
	for _, r := range v.requests {
		if !strings.HasPrefix(r.url, site+"/") && !strings.HasPrefix(r.url, kithURL+"/") {
			t.Errorf("browser requested %s, outside the site and Kith", r.url)
		}
		if r.failure != "" {
			t.Errorf("browser request failed: %v", r)
		}
		switch {
		case r.method == http.MethodGet && r.url == settingsURL:
			settings++
			if r.status != http.StatusOK {
				t.Errorf("settings: %v, want 200", r)
			}
		case r.method == http.MethodPost:
			posts = append(posts, r)
		}
	}
	if settings != 1 {
		t.Errorf("browser fetched %s %d times, want once", settingsURL, settings)
	}
	var postURLs []string
	for _, r := range posts {
		postURLs = append(postURLs, r.url)
		if r.status != http.StatusOK {
			t.Errorf("%v, want 200", r)
		}
	}
	// One request per call, in call order: the page awaits each call, and
	// a retry would show up as a fourth POST.
	wantURLs := []string{kithURL + "/v1/p", kithURL + "/v1/i", kithURL + "/v1/t"}
	if diff := cmp.Diff(wantURLs, postURLs); diff != "" {
		t.Fatalf("event POSTs (-want +got):\n%s", diff)
	}

	if len(stored) != 3 {
		t.Fatalf("Kith stored %d events for the visit, want 3", len(stored))
	}
	if v.anonymousID == "" {
		t.Fatal("the SDK reported no anonymousId")
	}
	want := []storedEvent{
		{Type: kith.TypePage, AnonymousID: v.anonymousID},
		{Type: kith.TypeIdentify, UserID: "user-1", AnonymousID: v.anonymousID},
		{Type: kith.TypeTrack, UserID: "user-1", AnonymousID: v.anonymousID},
	}
	for i := range want {
		// Events take the channel of the source that sent them; the
		// bootstrap source is a server source.
		want[i].Channel, want[i].SourceID = kith.KindServer, src.ID
	}
	var got []storedEvent
	for _, e := range stored {
		got = append(got, storedEvent{Type: e.Type, UserID: e.UserID, AnonymousID: e.AnonymousID,
			Channel: e.Channel, SourceID: e.SourceID})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("stored events (-want +got):\n%s", diff)
	}

	v.messageIDs = nil
	seen := map[string]bool{}
	for i, e := range stored {
		// Kith stores the message exactly as the browser sent it.
		if diff := cmp.Diff(string(posts[i].body), string(e.Payload)); diff != "" {
			t.Errorf("%s: stored payload differs from the body the browser sent (-sent +stored):\n%s", e.Type, diff)
		}
		var p struct {
			Type      string `json:"type"`
			MessageID string `json:"messageId"`
			WriteKey  string `json:"writeKey"`
			Event     string `json:"event"`
			Context   struct {
				Library struct {
					Name    string `json:"name"`
					Version string `json:"version"`
				} `json:"library"`
				Page struct {
					URL string `json:"url"`
				} `json:"page"`
			} `json:"context"`
			Traits     map[string]any `json:"traits"`
			Properties map[string]any `json:"properties"`
		}
		if err := json.Unmarshal(e.Payload, &p); err != nil {
			t.Errorf("%s: stored payload is not JSON: %v", e.Type, err)
			continue
		}
		if p.Type != string(e.Type) || p.MessageID != e.MessageID || p.WriteKey != testWriteKey {
			t.Errorf("%s: payload says type %q, messageId %q, writeKey %q; want %q, %q, %q",
				e.Type, p.Type, p.MessageID, p.WriteKey, e.Type, e.MessageID, testWriteKey)
		}
		if lib := p.Context.Library; lib.Name != "analytics.js" || lib.Version != "next-"+analyticsNextVersion {
			t.Errorf("%s: context.library = %+v, want analytics.js next-%s", e.Type, lib, analyticsNextVersion)
		}
		if p.Context.Page.URL != v.pageURL {
			t.Errorf("%s: context.page.url = %q, want %q", e.Type, p.Context.Page.URL, v.pageURL)
		}
		switch e.Type {
		case kith.TypeIdentify:
			if p.Traits["email"] != "user-1@example.com" {
				t.Errorf("identify traits = %v, want email user-1@example.com", p.Traits)
			}
		case kith.TypeTrack:
			if p.Event != "Clicked" || p.Properties["button"] != "buy" || p.Properties["price"] != 9.5 {
				t.Errorf("track event %q properties %v, want Clicked {button: buy, price: 9.5}", p.Event, p.Properties)
			}
		}

		if !strings.HasPrefix(e.MessageID, "ajs-next-") {
			t.Errorf("%s: messageId %q is not the SDK's (ajs-next-…)", e.Type, e.MessageID)
		}
		if seen[e.MessageID] {
			t.Errorf("messageId %q stored twice", e.MessageID)
		}
		seen[e.MessageID] = true
		v.messageIDs = append(v.messageIDs, e.MessageID)

		// Kith read the SDK's clock: browser and server share one here, so
		// the skew-corrected time is within moments of arrival.
		if e.OriginalTimestamp.IsZero() || e.SentAt.IsZero() {
			t.Errorf("%s: timestamp %v, sentAt %v; want both from the SDK", e.Type, e.OriginalTimestamp, e.SentAt)
		}
		if d := e.ReceivedAt.Sub(e.Timestamp); d < 0 || d > 5*time.Second {
			t.Errorf("%s: received %v after its timestamp, want between 0 and 5s", e.Type, d)
		}
	}
	v.lastSeq = stored[len(stored)-1].Seq
}
