package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/demo"
)

func runBenchConsole(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kith bench console", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: kith bench console [flags]

Starts an in-process 'kith serve --demo' on a fresh data directory and measures
what a person waits for: how soon the console answers after start, how long
the demo takes to load and to be folded into profiles, and how long the
server takes to draw the customer page (its Server-Timing) of each named
customer, the heavy one with --heavy-events events included.

Flags:
`)
		fs.PrintDefaults()
	}
	people := fs.Int("people", DefaultConfig().Demo.People, "people in the demo history")
	heavy := fs.Int("heavy-events", DefaultConfig().Demo.HeavyEvents, "events of the heaviest customer")
	requests := fs.Int("requests", 200, "customer pages to draw per named customer")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "kith-bench-console-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	m := NewMain()
	m.Config.DataDir, m.Config.Addr = tmp, "127.0.0.1:0"
	m.Config.Demo = DemoConfig{Enabled: true, People: *people, HeavyEvents: *heavy}
	m.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	start := time.Now()
	if err := m.Run(ctx); err != nil {
		return err
	}
	defer m.Close()
	hc := &http.Client{Timeout: 30 * time.Second}
	for {
		resp, err := hc.Get(m.URL() + "/login")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	answered := time.Since(start)
	fmt.Fprintf(stdout, "console answers %s after start\n", answered.Round(time.Millisecond))

	var loaded, folded time.Duration
	for loaded == 0 || folded == 0 {
		st := m.status(ctx)
		if st.Demo != nil && st.Demo.Error != "" {
			return fmt.Errorf("demo: %s", st.Demo.Error)
		}
		if loaded == 0 && st.Demo != nil && st.Demo.Done {
			loaded = time.Since(start)
		}
		if loaded != 0 && st.LagEvents == 0 {
			folded = time.Since(start)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	total := m.demo.progress().Total
	fmt.Fprintf(stdout, "demo of %d events loaded through ingestion %s after start (%.0f events/s), folded into profiles %s after start\n",
		total, loaded.Round(time.Millisecond), float64(total)/(loaded-answered).Seconds(), folded.Round(time.Millisecond))

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if err := benchSignIn(browser, m.URL(), "admin", demoPassword(kith.RoleAdmin)); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "\n%-15s %7s %9s %9s %9s   (server-side time to draw the customer page, %d requests)\n",
		"customer", "events", "p50", "p99", "max", *requests)
	for _, c := range demo.Customers() {
		resp, err := browser.Get(m.URL() + "/?q=" + url.QueryEscape(c.Phone))
		if err != nil {
			return err
		}
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/profiles/") {
			return fmt.Errorf("search %s (%s): %d, not one profile", c.Name, c.Phone, resp.StatusCode)
		}
		var durs []float64
		events := ""
		for range *requests {
			resp, err := browser.Get(m.URL() + loc)
			if err != nil {
				return err
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET %s: %d", loc, resp.StatusCode)
			}
			d, err := serverTiming(resp.Header.Get("Server-Timing"))
			if err != nil {
				return err
			}
			durs = append(durs, d)
			if events == "" {
				if m := eventsRE.FindSubmatch(body); m != nil {
					events = string(m[1])
				}
			}
		}
		slices.Sort(durs)
		q := func(p float64) float64 { return durs[min(len(durs)-1, int(p*float64(len(durs))))] }
		fmt.Fprintf(stdout, "%-15s %7s %7.2fms %7.2fms %7.2fms\n", c.Name, events, q(0.5), q(0.99), durs[len(durs)-1])
	}
	return nil
}

var eventsRE = regexp.MustCompile(`· ([0-9]+) events ·`)

// serverTiming reads the duration of "app;dur=12.3" in milliseconds.
func serverTiming(h string) (float64, error) {
	_, v, ok := strings.Cut(h, "dur=")
	if !ok {
		return 0, fmt.Errorf("no Server-Timing duration in %q", h)
	}
	return strconv.ParseFloat(v, 64)
}

var benchTokenRE = regexp.MustCompile(`name="token" value="([^"]+)"`)

func benchSignIn(hc *http.Client, base, name, password string) error {
	resp, err := hc.Get(base + "/login")
	if err != nil {
		return err
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := benchTokenRE.FindSubmatch(page)
	if m == nil {
		return fmt.Errorf("no sign-in form at %s/login", base)
	}
	resp, err = hc.PostForm(base+"/login", url.Values{"name": {name}, "password": {password}, "token": {string(m[1])}})
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		return fmt.Errorf("sign in as %s: %d", name, resp.StatusCode)
	}
	return nil
}
