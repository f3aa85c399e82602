package clv

import (
	"context"
	"math/rand/v2"
	"testing"
)

// BenchmarkFitCDNOW fits all three models to the 2,357 CDNOW customers.
func BenchmarkFitCDNOW(b *testing.B) {
	cs := cdnowCustomers(b)
	b.ResetTimer()
	for b.Loop() {
		if _, err := Fit(context.Background(), cs, Options{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(cs)), "customers")
}

// BenchmarkFitMillion fits all three models to 1,000,000 customers drawn
// with replacement from CDNOW's (seeded, so every run fits the same data).
// Grouping identical histories is part of what is timed.
func BenchmarkFitMillion(b *testing.B) {
	if testing.Short() {
		b.Skip("a million customers: not in -short")
	}
	src := cdnowCustomers(b)
	rng := rand.New(rand.NewPCG(1, 2))
	cs := make([]Customer, 1_000_000)
	for i := range cs {
		cs[i] = src[rng.IntN(len(src))]
	}
	b.ResetTimer()
	for b.Loop() {
		ms, err := Fit(context.Background(), cs, Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(ms.BGNBD.LL, "BG/NBD-LL")
	}
	b.ReportMetric(float64(len(cs)), "customers")
}
