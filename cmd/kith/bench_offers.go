package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/bench"
	"github.com/kithhq/kith/offer"
	"github.com/kithhq/kith/profile"
)

func runBenchOffers(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("kith bench offers", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, `Usage: kith bench offers [flags]

Starts an in-process Kith, loads --profiles people straight into its log and
waits until they are profiles, then measures the offer ledger:
  1. granting one offer to every one of them (offer.GrantMany, as
     POST /v1/offers/{code}/grants does), with progress;
  2. redeeming those grants by code through POST /v1/redemptions at --rate
     attempts per second, an open loop (arrivals do not wait for answers),
     each attempt a different grant, and the latency of each.

Flags:
`)
		fs.PrintDefaults()
	}
	people := fs.Int("profiles", 100000, "people to grant the offer to")
	rate := fs.Float64("rate", 2000, "redemption attempts per second")
	dur := fs.Duration("duration", 20*time.Second, "how long to redeem")
	conc := fs.Int("concurrency", 64, "concurrent clients redeeming")
	storeURL := fs.String("store", "", "a postgres:// URL of an empty database to measure PostgreSQL (default: the embedded store)")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of this process to FILE")
	if _, err := parseArgs(fs, args); err != nil {
		return err
	}
	if *people < 1 || *rate <= 0 || *dur <= 0 || *conc < 1 {
		return usageError{"--profiles, --rate, --duration and --concurrency must be positive"}
	}
	if need := int(*rate*dur.Seconds()*1.01) + 1; need > *people {
		return usageError{fmt.Sprintf("--rate × --duration makes %d attempts but there are %d grants; raise --profiles", need, *people)}
	}
	stop, err := startCPUProfile(*cpuprofile)
	if err != nil {
		return err
	}
	defer stop()
	m, done, err := startBenchServer(ctx, "", *storeURL, stderr)
	if err != nil {
		return err
	}
	defer done()
	src, err := m.Access.SourceForWriteKey(ctx, m.Config.BootstrapWriteKey)
	if err != nil {
		return err
	}
	if err := bench.LoadFixtures(ctx, m.DB, src.ID, *people, *people, nil); err != nil {
		return err
	}
	if err := waitProcessed(ctx, m.Processor, stderr); err != nil {
		return err
	}
	var targets []offer.Target
	for after := ""; ; {
		ps, err := m.DB.ScanProfiles(ctx, after, 5000)
		if err != nil {
			return err
		}
		if len(ps) == 0 {
			break
		}
		for _, p := range ps {
			targets = append(targets, offer.Target{Profile: p.ID})
		}
		after = ps[len(ps)-1].ID
	}
	fmt.Fprintf(stderr, "store ready: %d profiles\n", len(targets))

	o := kith.Offer{Code: "BENCH-UPGRADE", Name: "Free upgrade", Terms: kith.Terms{Price: kith.Money{Currency: "USD"}},
		ValidUntil: time.Now().Add(30 * 24 * time.Hour), PerPerson: 1, Channels: []kith.Kind{kith.KindStore},
		Honour: map[kith.Kind]kith.Honour{kith.OtherChannels: {Action: kith.HonourAsGranted}}}
	if _, err := m.Offers.Create(ctx, o); err != nil {
		return err
	}
	start := time.Now()
	lastTenth := 0
	res, err := m.Offers.GrantMany(ctx, offer.GrantRequest{Offer: o.Code, Channel: kith.KindEmail, Campaign: "bench"}, targets, func(done, total int) {
		if tenth := done * 10 / total; tenth > lastTenth {
			lastTenth = tenth
			fmt.Fprintf(stderr, "  granting: %d/%d (%.0f/s)\n", done, total, float64(done)/time.Since(start).Seconds())
		}
	})
	if err != nil {
		return err
	}
	took := time.Since(start)
	fmt.Fprintf(stdout, "granted %s to %d profiles in %s: %.0f grants/s (%d refused)\n", o.Code, res.Granted, took.Round(time.Millisecond),
		float64(res.Granted)/took.Seconds(), res.Refused)

	codes := make([]string, 0, len(targets))
	for i := 0; i < len(targets); i += 500 {
		ids := make([]string, 0, 500)
		for _, t := range targets[i:min(i+500, len(targets))] {
			ids = append(ids, t.Profile)
		}
		gs, err := m.DB.Grants(ctx, ids)
		if err != nil {
			return err
		}
		for _, g := range gs {
			codes = append(codes, g.Code)
		}
	}
	// Let the ledger events of the grants reach the log and the timelines
	// before measuring, so the redemptions are measured on their own.
	if err := waitProcessed(ctx, m.Processor, stderr); err != nil {
		return err
	}
	tr := &http.Transport{MaxIdleConns: *conc, MaxIdleConnsPerHost: *conc}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	lat, err := bench.OpenLoop(ctx, *rate, *dur, *conc, func(ctx context.Context, i int64) error {
		body := fmt.Sprintf(`{"code":%q,"channel":"store","actor":"till %d","location":"bench store"}`, codes[i%int64(len(codes))], i%16)
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, m.URL()+"/v1/redemptions", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+m.Config.BootstrapAPIKey)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			var e struct {
				Error struct{ Message string } `json:"error"`
			}
			json.NewDecoder(resp.Body).Decode(&e)
			return fmt.Errorf("status %s: %s", resp.Status, e.Error.Message)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		return nil
	})
	fmt.Fprintln(stdout, lat.Summary("redemptions by code"))
	return err
}

// waitProcessed waits until the processor has applied every event in the
// log, saying how far it is every 5 s on progress (if set).
func waitProcessed(ctx context.Context, proc *profile.Processor, progress io.Writer) error {
	for said := time.Now(); ; {
		lag, err := proc.Lag(ctx)
		if err != nil {
			return err
		}
		if lag.Events == 0 {
			return nil
		}
		if progress != nil && time.Since(said) >= 5*time.Second {
			fmt.Fprintf(progress, "  processing: %d events to go\n", lag.Events)
			said = time.Now()
		}
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
