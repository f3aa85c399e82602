package audience_test

import (
	"testing"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/audience"
)

// FuzzCompile feeds marketers' expressions, good and broken, to the compiler
// and runs what compiles: it must refuse with an error or answer, never
// panic or hang.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{`traits.plan == "internet"`, `stage in ["active", "at_risk"] and tier == "high"`,
		`intents["car insurance"] > 0.5`, `days_since_purchase > 30 or not ("sms" in channels)`, `stage >`, `((((`,
		`traits.a.b.c[0] == 1`, `now - last_purchase > duration("240h")`, `len(identifiers.email) > 0`, `1 ?? 2`} {
		f.Add(s)
	}
	now := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	p := audience.PersonOf(&kith.Profile{ID: "prf_1", Traits: map[string]kith.Trait{"plan": {Value: []byte(`"internet"`)},
		"a": {Value: []byte(`{"b":{"c":[1]}}`)}}}, map[string]float64{"car insurance": 0.7}, "active", "high", now)
	f.Fuzz(func(t *testing.T, src string) {
		x, err := audience.Compile(src)
		if err != nil {
			if !kith.IsCode(err, kith.EINVALID) {
				t.Fatalf("Compile(%q): %v is not invalid input", src, err)
			}
			return
		}
		_, _ = x.Match(p)
	})
}
