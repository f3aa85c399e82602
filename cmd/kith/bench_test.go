package main

import (
	"context"
	"strings"
	"testing"

	"github.com/kithhq/kith/store/sqlite"
)

func TestBenchIngestCountsWhatWasStored(t *testing.T) {
	dir := t.TempDir()
	for _, batch := range []string{"50", "1"} {
		out, errOut, err := runKith(t, "bench", "ingest", "--count", "1000", "--batch", batch, "--concurrency", "4", "--people", "100", "--quiet", "--data-dir", dir)
		if err != nil {
			t.Fatalf("bench --batch %s: %v\n%s", batch, err, errOut)
		}
		if !strings.HasPrefix(out, "1000 events acknowledged") || !strings.Contains(out, "p99") {
			t.Errorf("bench --batch %s printed %q", batch, out)
		}
	}
	db, err := sqlite.Open(context.Background(), dir, sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	n, err := db.CountEvents(context.Background())
	if err != nil || n != 2000 {
		t.Errorf("store holds %d events (%v), want the 2000 the bench reported", n, err)
	}
	evs, _ := db.ReadEvents(context.Background(), 0, 2000)
	types := map[string]int{}
	for _, e := range evs {
		types[string(e.Type)]++
		if len(e.Payload) < 300 || len(e.Payload) > 800 {
			t.Fatalf("event of %d bytes; the workload promises about 500: %s", len(e.Payload), e.Payload)
		}
	}
	if types["page"] == 0 || types["track"] == 0 || types["identify"] == 0 {
		t.Errorf("workload mix %v lacks a type", types)
	}
}

func TestBenchRefusesRemoteHosts(t *testing.T) {
	for _, u := range []string{"http://example.com", "http://10.0.0.1:8080", "ftp//"} {
		_, _, err := runKith(t, "bench", "ingest", "--url", u, "--write-key", "k", "--count", "1")
		if err == nil || !strings.Contains(err.Error(), "loopback") && !strings.Contains(err.Error(), "want http") {
			t.Errorf("--url %s: %v; want a refusal", u, err)
		}
	}
}

func TestBenchLookupFindsEveryPhone(t *testing.T) {
	if testing.Short() {
		t.Skip("loads fixtures")
	}
	out, errOut, err := runKith(t, "bench", "lookup", "--profiles", "300", "--events", "1200", "--rate", "400", "--duration", "1s", "--concurrency", "4")
	if err != nil {
		t.Fatalf("bench lookup: %v\n%s", err, errOut)
	}
	// Every lookup must have found its profile: a failed one is reported.
	if !strings.Contains(out, "lookups by phone") || strings.Contains(out, "failed") {
		t.Errorf("bench lookup printed %q", out)
	}
	if !strings.Contains(errOut, "store ready: 300 profiles, 1200 events") {
		t.Errorf("bench lookup progress %q", errOut)
	}
}
