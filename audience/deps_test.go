package audience

import (
	"slices"
	"testing"
)

func TestReads(t *testing.T) {
	tests := []struct {
		src  string
		want []string
	}{
		{`traits.plan == "internet"`, []string{"traits.plan"}},
		{`traits["plan"] == "internet" and traits.city == "Leeds"`, []string{"traits.city", "traits.plan"}},
		{`traits[traits.key] == 1`, []string{"traits", "traits.key"}},
		{`computed.orders_90d >= 2 and stage in ["active", "at_risk"]`, []string{"computed.orders_90d", "stage"}},
		{`intents["car insurance"] > 0.5`, []string{"intents.car insurance"}},
		{`len(identifiers.email) > 0 and "sms" in channels`, []string{"channels", "identifiers.email"}},
		{`any(channels, # == "sms")`, []string{"channels"}},
		{`let d = days_since_purchase; d > 30 and now.Year() > 2000`, []string{"days_since_purchase", "now"}},
		{`true`, nil},
	}
	for _, tt := range tests {
		x, err := Compile(tt.src)
		if err != nil {
			t.Fatalf("Compile(%s): %v", tt.src, err)
		}
		if !slices.Equal(x.Reads, tt.want) {
			t.Errorf("%s reads %q, want %q", tt.src, x.Reads, tt.want)
		}
	}
}

func TestAffected(t *testing.T) {
	set := func(fs ...string) map[string]bool {
		m := map[string]bool{}
		for _, f := range fs {
			m[f] = true
		}
		return m
	}
	tests := []struct {
		reads   []string
		touched map[string]bool
		want    bool
	}{
		{[]string{"traits.plan"}, set("traits.plan", "events"), true},
		{[]string{"traits.plan"}, set("traits.city", "events", "channels"), false},
		{[]string{"traits"}, set("traits.city"), true},
		{[]string{"traits"}, set("computed.x"), false},
		{[]string{"computed.orders"}, set("computed.orders"), true},
		{[]string{"computed.orders"}, set("computed.spend"), false},
		{[]string{"computed"}, set("computed.spend"), true},
		{[]string{"intents.car"}, set("intents"), true},
		{[]string{"identifiers.email"}, set("identifiers"), true},
		{[]string{"stage"}, set("purchases"), true},
		{[]string{"tier"}, set("lifecycle"), true},
		{[]string{"stage"}, set("traits.x", "events"), false},
		{[]string{"days_since_purchase"}, set("purchases"), true},
		{[]string{"last_seen"}, set("events"), true},
		{[]string{"first_seen"}, set("events"), false},
		{[]string{"now"}, set("events", "traits.x"), false},
		{[]string{"first_seen"}, set("*"), true},
		{nil, set("*"), true},
	}
	for _, tt := range tests {
		if got := affected(tt.reads, tt.touched); got != tt.want {
			t.Errorf("affected(%q, %v) = %v, want %v", tt.reads, tt.touched, got, tt.want)
		}
		// The index agrees.
		x := &Expression{Reads: tt.reads}
		hit := map[string]bool{}
		newIndex(map[string]*saved{"a": {id: "a", x: x}}).hit(tt.touched, hit)
		if hit["a"] != tt.want {
			t.Errorf("index of %q for %v: %v, want %v", tt.reads, tt.touched, hit["a"], tt.want)
		}
	}
}

func TestTimed(t *testing.T) {
	windowed := func(name string) bool { return name == "orders_30d" }
	for src, want := range map[string]bool{
		`traits.plan == "x"`:                 false,
		`days_since_purchase > 30`:           true,
		`stage == "active"`:                  true,
		`computed.orders_30d > 1`:            true,
		`computed.total_spend > 100`:         false,
		`last_seen < now - duration("720h")`: true,
		`intents["car"] > 0.2`:               true,
	} {
		x, err := Compile(src)
		if err != nil {
			t.Fatal(err)
		}
		if got := x.Timed(windowed); got != want {
			t.Errorf("%s: Timed = %v, want %v", src, got, want)
		}
	}
}
