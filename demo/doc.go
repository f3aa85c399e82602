// Package demo generates the history of "Harbor Members", a made-up
// membership warehouse club that also sells insurance, mortgages and sporting
// goods online and in its stores, and loads it into a Kith server through the
// public Segment-compatible ingestion API, as the real channels would.
//
// The history spans web, app, e-mail, SMS, call-center and store sources:
// thousands of ordinary people with a long tail of activity, plus a few named
// customers (see Customers) whose stories are the situations of DESIGN.md.
// Generation is deterministic (the same Config gives byte-identical messages)
// and lazy: one person's events at a time, so memory stays small whatever the
// size. `kith serve --demo` uses it:
//
//	d := demo.New(demo.Config{Now: time.Now()})
//	err := d.Load(ctx, baseURL, writeKeys, nil, progress)
package demo
