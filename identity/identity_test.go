package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"net/mail"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/kithhq/kith"
)

func TestNormalizeEmail(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"ann@example.com", "ann@example.com"},
		{" Ann@Example.COM ", "ann@example.com"},
		{"\tANN.LEE+news@Mail.Example.co.uk\n", "ann.lee+news@mail.example.co.uk"},
	} {
		got, err := NormalizeEmail(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("NormalizeEmail(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{
		"",
		"   ",
		"ann",
		"ann@",
		"@example.com",
		"ann@localhost",             // no dot in the domain
		"Ann Lee <ann@example.com>", // a display name is not an address
		"ann@example.com, bob@example.com",
		"ann lee@example.com",
		strings.Repeat("a", 250) + "@example.com", // longer than 254
	} {
		if got, err := NormalizeEmail(in); err == nil {
			t.Errorf("NormalizeEmail(%q) = %q, want an error", in, got)
		}
	}
}

func TestNormalizePhone(t *testing.T) {
	// Several spellings of one number give one E.164 value.
	for _, in := range []string{
		"+14155550199",
		"+1 415-555-0199",
		"+1 (415) 555-0199",
		"(415) 555-0199",
		"415.555.0199",
		"415 555 0199",
		"4155550199",
		"1-415-555-0199",
		"0014155550199", // international "00" prefix
		"  +1 415 555 0199  ",
	} {
		got, err := NormalizePhone(in, "US")
		if err != nil || got != "+14155550199" {
			t.Errorf("NormalizePhone(%q, US) = %q, %v; want +14155550199", in, got, err)
		}
	}
	// The default region decides numbers written without a country code;
	// a number with one ignores it.
	for _, tc := range []struct {
		in, region, want string
	}{
		{"020 7946 0018", "GB", "+442079460018"},
		{"020 7946 0018", "gb", "+442079460018"}, // region case does not matter
		{"+44 20 7946 0018", "US", "+442079460018"},
		{"0044 20 7946 0018", "US", "+442079460018"},
		{"+1 415 555 0199", "GB", "+14155550199"},
		{"030 123456", "DE", "+4930123456"},
	} {
		got, err := NormalizePhone(tc.in, tc.region)
		if err != nil || got != tc.want {
			t.Errorf("NormalizePhone(%q, %s) = %q, %v; want %q", tc.in, tc.region, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "12", "not a phone", "+1 000 000 0000", "555-0199", "+999 1234 5678", "415 555 01999999"} {
		if got, err := NormalizePhone(in, "US"); err == nil {
			t.Errorf("NormalizePhone(%q, US) = %q, want an error", in, got)
		}
	}
}

func TestNormalizeForLookup(t *testing.T) {
	c := DefaultConfig()
	for _, tc := range []struct {
		typ, in, want string
	}{
		{kith.IDEmail, " Ann@Example.COM ", "ann@example.com"},
		{kith.IDPhone, "(415) 555-0199", "+14155550199"},
		{kith.IDUserID, " member-7 ", "member-7"},
		{"loyalty_id", "L-1", "L-1"},
	} {
		got, err := c.Normalize(tc.typ, tc.in)
		if err != nil || got != tc.want {
			t.Errorf("Normalize(%s, %q) = %q, %v; want %q", tc.typ, tc.in, got, err, tc.want)
		}
	}
	for _, tc := range []struct{ typ, in string }{{kith.IDEmail, "ann"}, {kith.IDPhone, "12"}, {kith.IDUserID, "  "}} {
		if got, err := c.Normalize(tc.typ, tc.in); err == nil {
			t.Errorf("Normalize(%s, %q) = %q, want an error", tc.typ, tc.in, got)
		}
	}
}

func traits(t *testing.T, kv ...any) map[string]json.RawMessage {
	t.Helper()
	out := map[string]json.RawMessage{}
	for i := 0; i < len(kv); i += 2 {
		b, err := json.Marshal(kv[i+1])
		if err != nil {
			t.Fatal(err)
		}
		out[kv[i].(string)] = b
	}
	return out
}

func id(typ, value string) kith.Identifier { return kith.Identifier{Type: typ, Value: value} }

func TestExtract(t *testing.T) {
	for _, tc := range []struct {
		name     string
		cfg      func(*Config)
		s        Signals
		want     []kith.Identifier
		warnings []string // each must appear in one warning, in order
	}{
		{
			name: "user and anonymous ids",
			s:    Signals{UserID: "member-7", AnonymousID: "anon-1"},
			want: []kith.Identifier{id(kith.IDUserID, "member-7"), id(kith.IDAnonymousID, "anon-1")},
		},
		{
			name: "anonymous only",
			s:    Signals{AnonymousID: "anon-1"},
			want: []kith.Identifier{id(kith.IDAnonymousID, "anon-1")},
		},
		{
			name: "email from traits, phone from context.traits, normalised",
			s: Signals{AnonymousID: "a", Traits: traits(t, "email", " Ann@Example.COM ", "name", "Ann"),
				ContextTraits: traits(t, "phone", "(415) 555-0199")},
			want: []kith.Identifier{id(kith.IDEmail, "ann@example.com"), id(kith.IDPhone, "+14155550199"), id(kith.IDAnonymousID, "a")},
		},
		{
			name: "email and phone from context.traits only",
			s:    Signals{UserID: "u", ContextTraits: traits(t, "email", "bob@example.org", "phone", "+44 20 7946 0018")},
			want: []kith.Identifier{id(kith.IDUserID, "u"), id(kith.IDEmail, "bob@example.org"), id(kith.IDPhone, "+442079460018")},
		},
		{
			name: "context device id",
			s:    Signals{AnonymousID: "a", DeviceID: "B5372DB0-C21E-11E4-8DFC-AA07A5B093DB"},
			want: []kith.Identifier{id(kith.IDAnonymousID, "a"), id(kith.IDDeviceID, "B5372DB0-C21E-11E4-8DFC-AA07A5B093DB")},
		},
		{
			name: "custom types loyalty_id and wechat_openid, string or number, trimmed",
			s: Signals{UserID: "u", Traits: traits(t, "loyalty_id", " L-0042 "),
				ContextTraits: traits(t, "wechat_openid", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")},
			want: []kith.Identifier{id(kith.IDUserID, "u"), id("loyalty_id", "L-0042"), id("wechat_openid", "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o")},
		},
		{
			name: "numeric custom identifier",
			s:    Signals{AnonymousID: "a", Traits: traits(t, "loyalty_id", 123456)},
			want: []kith.Identifier{id("loyalty_id", "123456"), id(kith.IDAnonymousID, "a")},
		},
		{
			// A type without a rule gets DefaultRule's priority, below anonymous_id.
			name: "custom type named in configuration",
			cfg:  func(c *Config) { c.CustomTypes = append(c.CustomTypes, "member_no") },
			s:    Signals{AnonymousID: "a", Traits: traits(t, "member_no", "M-9", "loyalty_id", "L-1")},
			want: []kith.Identifier{id("loyalty_id", "L-1"), id(kith.IDAnonymousID, "a"), id("member_no", "M-9")},
		},
		{
			name: "a trait not named in configuration is not an identifier",
			s:    Signals{AnonymousID: "a", Traits: traits(t, "member_no", "M-9", "customer_id", "C-1")},
			want: []kith.Identifier{id(kith.IDAnonymousID, "a")},
		},
		{
			name:     "invalid values become warnings, not identifiers",
			s:        Signals{UserID: "u", Traits: traits(t, "email", "not-an-email", "phone", "12"), ContextTraits: traits(t, "email", 42)},
			want:     []kith.Identifier{id(kith.IDUserID, "u")},
			warnings: []string{`email "not-an-email" ignored`, `phone "12" ignored`, `email "42" ignored`},
		},
		{
			name: "values of other JSON kinds and blank strings are skipped silently",
			s:    Signals{AnonymousID: "a", Traits: traits(t, "email", true, "phone", map[string]any{"x": 1}, "loyalty_id", "   ", "wechat_openid", nil)},
			want: []kith.Identifier{id(kith.IDAnonymousID, "a")},
		},
		{
			name: "priority order: user_id, custom unique ids, email, phone, anonymous_id, device_id",
			s: Signals{DeviceID: "dev", AnonymousID: "anon", UserID: "user",
				Traits:        traits(t, "phone", "+1 415 555 0199", "wechat_openid", "wx", "email", "ann@example.com"),
				ContextTraits: traits(t, "loyalty_id", "L-1")},
			want: []kith.Identifier{id(kith.IDUserID, "user"), id("wechat_openid", "wx"), id("loyalty_id", "L-1"),
				id(kith.IDEmail, "ann@example.com"), id(kith.IDPhone, "+14155550199"), id(kith.IDAnonymousID, "anon"), id(kith.IDDeviceID, "dev")},
		},
		{
			name: "the same identifier in two spellings is listed once",
			s: Signals{UserID: "u", Traits: traits(t, "email", "ann@example.com", "phone", "+1 415 555 0199"),
				ContextTraits: traits(t, "email", " ANN@example.COM", "phone", "(415) 555-0199")},
			want: []kith.Identifier{id(kith.IDUserID, "u"), id(kith.IDEmail, "ann@example.com"), id(kith.IDPhone, "+14155550199")},
		},
		{
			name: "two different e-mails are both identifiers",
			s:    Signals{UserID: "u", Traits: traits(t, "email", "ann@example.com"), ContextTraits: traits(t, "email", "ann@work.example")},
			want: []kith.Identifier{id(kith.IDUserID, "u"), id(kith.IDEmail, "ann@example.com"), id(kith.IDEmail, "ann@work.example")},
		},
		{
			name: "default region decides a national number",
			cfg:  func(c *Config) { c.DefaultRegion = "GB" },
			s:    Signals{AnonymousID: "a", Traits: traits(t, "phone", "020 7946 0018")},
			want: []kith.Identifier{id(kith.IDPhone, "+442079460018"), id(kith.IDAnonymousID, "a")},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			if tc.cfg != nil {
				tc.cfg(&c)
			}
			got, warnings := c.Extract(tc.s)
			if diff := cmp.Diff(tc.want, got, cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("identifiers (-want +got):\n%s", diff)
			}
			if len(warnings) != len(tc.warnings) {
				t.Fatalf("warnings %q, want %d", warnings, len(tc.warnings))
			}
			for i, w := range tc.warnings {
				if !strings.Contains(warnings[i], w) {
					t.Errorf("warning %d = %q, want it to mention %q", i, warnings[i], w)
				}
			}
		})
	}
}

// fakeGraph is an in-memory identity graph.
type fakeGraph struct {
	profiles map[string]*kith.Profile
	held     map[string][]kith.Identifier
	dnl      [][2]string
	asked    []kith.Identifier // every identifier ProfilesFor was asked about
}

// profile is one profile of a fakeGraph: its id, the event that created it
// and the identifiers it holds.
type profile struct {
	id  string
	seq int64
	ids []kith.Identifier
}

func newFakeGraph(ps ...profile) *fakeGraph {
	g := &fakeGraph{profiles: map[string]*kith.Profile{}, held: map[string][]kith.Identifier{}}
	for _, p := range ps {
		g.profiles[p.id] = &kith.Profile{ID: p.id, CreatedSeq: p.seq}
		g.held[p.id] = p.ids
	}
	return g
}

func (g *fakeGraph) ProfilesFor(ctx context.Context, ids []kith.Identifier) (map[kith.Identifier][]string, error) {
	g.asked = append(g.asked, ids...)
	out := map[kith.Identifier][]string{}
	for _, id := range ids {
		for p, held := range g.held {
			if slices.Contains(held, id) {
				out[id] = append(out[id], p)
			}
		}
		sort.Strings(out[id]) // as the store answers: by profile id, not by age
	}
	return out, nil
}

func (g *fakeGraph) Identifiers(ctx context.Context, profileID string) ([]kith.Identifier, error) {
	return g.held[profileID], nil
}

func (g *fakeGraph) Profile(ctx context.Context, id string) (*kith.Profile, error) {
	p, ok := g.profiles[id]
	if !ok {
		return nil, kith.Errorf(kith.ENOTFOUND, "no profile %s", id)
	}
	return p, nil
}

func (g *fakeGraph) DoNotLink(ctx context.Context, a, b string) (bool, error) {
	for _, r := range g.dnl {
		if r == [2]string{a, b} || r == [2]string{b, a} {
			return true, nil
		}
	}
	return false, nil
}

func emails(n int, prefix string) []kith.Identifier {
	var out []kith.Identifier
	for i := range n {
		out = append(out, id(kith.IDEmail, prefix+string(rune('a'+i))+"@example.com"))
	}
	return out
}

func TestResolve(t *testing.T) {
	uid := func(v string) kith.Identifier { return id(kith.IDUserID, v) }
	anon := func(v string) kith.Identifier { return id(kith.IDAnonymousID, v) }
	email := func(v string) kith.Identifier { return id(kith.IDEmail, v) }
	phone := func(v string) kith.Identifier { return id(kith.IDPhone, v) }
	device := func(v string) kith.Identifier { return id(kith.IDDeviceID, v) }

	// conflict is what a test checks of a kith.Conflict: the profiles it
	// names and words its reason must contain.
	type conflict struct {
		Profiles []string
		Reason   string
	}
	type want struct {
		Target    string
		Absorb    []string
		Reasons   map[string]string
		Links     []kith.Identifier
		Conflicts []conflict
		Warnings  []string // one per warning, a part of it
	}
	for _, tc := range []struct {
		name     string
		profiles []profile
		dnl      [][2]string
		event    []kith.Identifier // highest priority first, as Extract returns them
		want     want
	}{
		{
			name:  "no candidate: a new profile holding every identifier",
			event: []kith.Identifier{uid("u1"), email("ann@example.com"), anon("a1")},
			want:  want{Links: []kith.Identifier{uid("u1"), email("ann@example.com"), anon("a1")}},
		},
		{
			name:     "one candidate: attach and link what it lacks",
			profiles: []profile{{"p1", 4, []kith.Identifier{anon("a1")}}},
			event:    []kith.Identifier{uid("u1"), email("ann@example.com"), anon("a1")},
			want:     want{Target: "p1", Links: []kith.Identifier{uid("u1"), email("ann@example.com")}},
		},
		{
			name:     "an identifier already held is not linked again",
			profiles: []profile{{"p1", 4, []kith.Identifier{uid("u1"), anon("a1")}}},
			event:    []kith.Identifier{uid("u1"), anon("a1")},
			want:     want{Target: "p1"},
		},
		{
			name:     "a known person with a new device id: attach and record the device",
			profiles: []profile{{"p1", 4, []kith.Identifier{uid("u1"), anon("a1")}}},
			event:    []kith.Identifier{uid("u1"), anon("a1"), device("phone-1")},
			want:     want{Target: "p1", Links: []kith.Identifier{device("phone-1")}},
		},
		{
			name: "two profiles linked: the oldest survives even when found last",
			profiles: []profile{
				{"p-new", 9, []kith.Identifier{uid("u1"), anon("dev-b")}},
				{"p-old", 3, []kith.Identifier{anon("dev-a")}},
			},
			event: []kith.Identifier{uid("u1"), anon("dev-a")},
			want: want{Target: "p-old", Absorb: []string{"p-new"},
				Reasons: map[string]string{"p-new": "anonymous_id:dev-a"}},
		},
		{
			name: "two anonymous profiles joined by a login",
			profiles: []profile{
				{"p-a", 1, []kith.Identifier{anon("dev-a"), uid("u1")}},
				{"p-b", 2, []kith.Identifier{anon("dev-b")}},
			},
			event: []kith.Identifier{uid("u1"), anon("dev-b")},
			want: want{Target: "p-a", Absorb: []string{"p-b"},
				Reasons: map[string]string{"p-b": "anonymous_id:dev-b"}},
		},
		{
			name: "three profiles: the oldest absorbs the other two",
			profiles: []profile{
				{"pa", 5, []kith.Identifier{email("ann@example.com")}},
				{"pb", 2, []kith.Identifier{phone("+14155550199")}},
				{"pc", 8, []kith.Identifier{anon("a3")}},
			},
			event: []kith.Identifier{email("ann@example.com"), phone("+14155550199"), anon("a3")},
			want: want{Target: "pb", Absorb: []string{"pa", "pc"},
				// pa seeded the group, so no identifier of the event "joined" it:
				// any reason will do, as long as there is one.
				Reasons: map[string]string{"pa": "*", "pc": "anonymous_id:a3"}},
		},
		{
			name:     "two different user_ids: no merge, a conflict, and a new profile",
			profiles: []profile{{"p1", 1, []kith.Identifier{uid("u1"), email("shared@example.com")}}},
			event:    []kith.Identifier{uid("u2"), email("shared@example.com")},
			want: want{Links: []kith.Identifier{uid("u2"), email("shared@example.com")},
				Conflicts: []conflict{{[]string{"p1"}, "different user_id"}}},
		},
		{
			name: "two profiles with different user_ids: no merge, a conflict naming both",
			profiles: []profile{
				{"p1", 1, []kith.Identifier{uid("u1")}},
				{"p2", 2, []kith.Identifier{uid("u2"), anon("a2")}},
			},
			event: []kith.Identifier{uid("u1"), anon("a2")},
			want: want{Target: "p1", Links: []kith.Identifier{anon("a2")},
				Conflicts: []conflict{{[]string{"p2", "p1"}, "different user_id"}}},
		},
		{
			name: "an identifier held by two profiles after a conflict: the oldest is chosen, the other conflicts",
			profiles: []profile{
				{"p1", 7, []kith.Identifier{uid("u1"), email("shared@example.com")}},
				{"p2", 4, []kith.Identifier{uid("u2"), email("shared@example.com")}},
			},
			event: []kith.Identifier{email("shared@example.com")},
			want: want{Target: "p2",
				Conflicts: []conflict{{[]string{"p1", "p2"}, "different user_id"}}},
		},
		{
			name:     "a unique custom type: two loyalty ids never merge",
			profiles: []profile{{"p1", 1, []kith.Identifier{id("loyalty_id", "L1"), email("ann@example.com")}}},
			event:    []kith.Identifier{id("loyalty_id", "L2"), email("ann@example.com")},
			want: want{Links: []kith.Identifier{id("loyalty_id", "L2"), email("ann@example.com")},
				Conflicts: []conflict{{[]string{"p1"}, "different loyalty_id"}}},
		},
		{
			name:     "max 5 e-mails: a 6th is not linked, with a warning",
			profiles: []profile{{"p1", 1, append([]kith.Identifier{uid("u1")}, emails(5, "ann-")...)}},
			event:    []kith.Identifier{uid("u1"), email("ann-f@example.com")},
			want:     want{Target: "p1", Warnings: []string{"email:ann-f@example.com not linked: the profile already holds 5"}},
		},
		{
			name:  "max 5 e-mails in one event: the 6th is not linked",
			event: append(emails(6, "bob-"), anon("a1")),
			want: want{Links: append(emails(5, "bob-"), anon("a1")),
				Warnings: []string{"email:bob-f@example.com not linked"}},
		},
		{
			name: "max 5 e-mails: two profiles that together would hold 6 do not merge",
			profiles: []profile{
				{"p1", 1, emails(3, "x-")},
				{"p2", 2, emails(3, "y-")},
			},
			event: []kith.Identifier{email("x-a@example.com"), email("y-a@example.com")},
			want: want{Target: "p1", Links: []kith.Identifier{email("y-a@example.com")},
				Conflicts: []conflict{{[]string{"p2", "p1"}, "6 email values (at most 5)"}}},
		},
		{
			name:     "device_id never attaches: a shared tablet is not a person",
			profiles: []profile{{"p1", 1, []kith.Identifier{anon("a1"), device("tablet")}}},
			event:    []kith.Identifier{anon("a2"), device("tablet")},
			want:     want{Links: []kith.Identifier{anon("a2"), device("tablet")}},
		},
		{
			name:     "device_id alone: a new profile that records it",
			profiles: []profile{{"p1", 1, []kith.Identifier{anon("a1"), device("tablet")}}},
			event:    []kith.Identifier{device("tablet")},
			want:     want{Links: []kith.Identifier{device("tablet")}},
		},
		{
			name: "device_id never merges two profiles that share it",
			profiles: []profile{
				{"p1", 1, []kith.Identifier{anon("a1"), device("tablet")}},
				{"p2", 2, []kith.Identifier{anon("a2"), device("tablet")}},
			},
			event: []kith.Identifier{anon("a2"), device("tablet")},
			want:  want{Target: "p2"},
		},
		{
			name: "do-not-link: the same evidence does not merge again; a conflict instead",
			profiles: []profile{
				{"p1", 1, []kith.Identifier{uid("u1"), anon("a1")}},
				{"p2", 2, []kith.Identifier{anon("a2")}},
			},
			dnl:   [][2]string{{"p1", "p2"}},
			event: []kith.Identifier{uid("u1"), anon("a2")},
			// a2 stays with p2 alone: linking it to p1 would send p2's
			// future events to p1 against the rule.
			want: want{Target: "p1",
				Conflicts: []conflict{{[]string{"p2", "p1"}, "do-not-link"}},
				Warnings:  []string{"anonymous_id:a2 not linked: a do-not-link rule"}},
		},
		{
			name: "do-not-link holds in either order",
			profiles: []profile{
				{"p1", 1, []kith.Identifier{anon("a1")}},
				{"p2", 2, []kith.Identifier{anon("a2")}},
			},
			dnl:   [][2]string{{"p2", "p1"}},
			event: []kith.Identifier{anon("a1"), anon("a2")},
			want: want{Target: "p1",
				Conflicts: []conflict{{[]string{"p2", "p1"}, "do-not-link"}},
				Warnings:  []string{"anonymous_id:a2 not linked: a do-not-link rule"}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newFakeGraph(tc.profiles...)
			g.dnl = tc.dnl
			plan, err := DefaultConfig().Resolve(context.Background(), g, tc.event)
			if err != nil {
				t.Fatal(err)
			}
			got := want{Target: plan.Target, Absorb: plan.Absorb, Reasons: map[string]string{}, Links: plan.Links}
			for p, r := range plan.Reasons {
				if tc.want.Reasons[p] == "*" && r != "" {
					r = "*"
				}
				got.Reasons[p] = r
			}
			for _, c := range plan.Conflicts {
				got.Conflicts = append(got.Conflicts, conflict{c.Profiles, c.Reason})
			}
			got.Warnings = plan.Warnings
			opts := []cmp.Option{
				cmpopts.EquateEmpty(),
				cmp.FilterPath(func(p cmp.Path) bool { return p.Last().String() == ".Reason" || p.Last().String() == ".Warnings" }, cmp.Ignore()),
			}
			if diff := cmp.Diff(tc.want, got, opts...); diff != "" {
				t.Errorf("plan (-want +got):\n%s", diff)
			}
			for i := range min(len(tc.want.Conflicts), len(got.Conflicts)) {
				if !strings.Contains(got.Conflicts[i].Reason, tc.want.Conflicts[i].Reason) {
					t.Errorf("conflict %d reason %q, want it to mention %q", i, got.Conflicts[i].Reason, tc.want.Conflicts[i].Reason)
				}
			}
			if len(got.Warnings) != len(tc.want.Warnings) {
				t.Errorf("warnings %q, want %d", got.Warnings, len(tc.want.Warnings))
			}
			for i := range min(len(tc.want.Warnings), len(got.Warnings)) {
				if !strings.Contains(got.Warnings[i], tc.want.Warnings[i]) {
					t.Errorf("warning %d = %q, want it to mention %q", i, got.Warnings[i], tc.want.Warnings[i])
				}
			}
			for _, a := range g.asked {
				if a.Type == kith.IDDeviceID {
					t.Errorf("resolve looked up %s: device ids must never decide the profile", a)
				}
			}
		})
	}
}

// A number already in E.164 form skips parsing; the answer must be the
// one parsing gives, for valid numbers and invalid ones, in every region.
func TestNormalizePhoneE164AsParsed(t *testing.T) {
	ins := []string{"+14155550123", "+19254130182", "+12125550000", "+1212555000", "+121255500001", "+16464200000",
		"+442079460958", "+441624123456", "+390612345678", "+393123456789", "+3906123", "+861012345678",
		"+79161234567", "+77011234567", "+4915123456789", "+33612345678", "+35312345678", "+5511912345678",
		"+0123", "+999123456789", "+800123456789", "+882123456789", "+8001234", "+1", "+12", "+1234567",
		"+12345678901234567", "+1415555012a", " +14155550123", "+14155550123 ", "+18005550123", "+19005550123"}
	for area := 200; area < 1000; area += 37 {
		for x := 0; x < 10000; x += 1111 {
			ins = append(ins, fmt.Sprintf("+1%03d%03d%04d", area, 200+x%800, x))
		}
	}
	for _, in := range slices.Clone(ins) {
		if len(in) > 8 && in[0] == '+' {
			// Spaced and hyphenated spellings, and some parsing must judge.
			ins = append(ins, in[:2]+" "+in[2:5]+"-"+in[5:8]+"-"+in[8:], in[:3]+" "+in[3:6]+" "+in[6:],
				in[:2]+"  "+in[2:], in[:2]+"- "+in[2:], in+"-", "+ "+in[1:], in[:2]+" ("+in[2:5]+") "+in[5:], " "+in[:4]+"-"+in[4:]+" ")
		}
	}
	for _, region := range []string{"US", "GB", "IT"} {
		for _, in := range ins {
			got, gotErr := NormalizePhone(in, region)
			want, wantErr := parsePhone(in, region)
			if got != want || (gotErr == nil) != (wantErr == nil) {
				t.Errorf("NormalizePhone(%q, %s) = %q, %v; parsing gives %q, %v", in, region, got, gotErr, want, wantErr)
			}
		}
	}
}

// An address of the plainest shape skips net/mail; the answer must be the
// one the full check gives.
func TestNormalizeEmailPlainAsParsed(t *testing.T) {
	full := func(s string) (string, bool) {
		s = strings.ToLower(strings.TrimSpace(s))
		a, err := mail.ParseAddress(s)
		if len(s) > 254 || err != nil || a.Address != s || !strings.Contains(s[strings.LastIndexByte(s, '@')+1:], ".") {
			return "", false
		}
		return s, true
	}
	for _, in := range []string{"ann@example.com", "Ann@Example.COM", " ann@example.com ", "a.b@c.d", "a..b@c.d", ".a@c.d", "a.@c.d",
		"a@c..d", "a@.c.d", "a@c.d.", "a@c", "a@", "@c.d", "a@@c.d", "a@b@c.d", "a+tag@c.d", "a_b%c-d@e-f.g", "a-@-e.g", "a@e-.g",
		"a b@c.d", "a@c d.e", "a\"b@c.d", "\"a\"@c.d", "a@[1.2.3.4]", "zoë@example.com", "ann@exämple.com", "a(b)@c.d", "a@c.d(x)",
		"Ann <ann@example.com>", "a!b@c.d", "a/b@c.d", "1@2.3", "customer12@example.com", "a@b_c.d", "a@b.c_d", "a;b@c.d", "a,b@c.d",
		strings.Repeat("a", 250) + "@example.com", strings.Repeat("a", 64) + "@example.com", strings.Repeat("a", 65) + "@example.com",
		"a@" + strings.Repeat("b", 64) + ".com"} {
		got, err := NormalizeEmail(in)
		want, ok := full(in)
		if got != want || (err == nil) != ok {
			t.Errorf("NormalizeEmail(%q) = %q, %v; the full check gives %q, %v", in, got, err, want, ok)
		}
	}
}

// The memo of valid numbers holds two generations: a number is
// remembered until two more generations have filled.
func TestPhoneMemoGenerations(t *testing.T) {
	m := phoneMemo{size: 2}
	for _, s := range []string{"a", "b", "c"} {
		m.add(s)
	}
	for _, s := range []string{"a", "b", "c"} {
		if !m.has(s) {
			t.Errorf("%s forgotten after one generation", s)
		}
	}
	m.add("d")
	m.add("e") // cur {c d} is full: it becomes prev, and a, b go
	for s, want := range map[string]bool{"a": false, "b": false, "c": true, "d": true, "e": true, "f": false} {
		if got := m.has(s); got != want {
			t.Errorf("has(%s) = %v, want %v", s, got, want)
		}
	}
}

// An invalid number is never remembered, and a valid one gives the same
// answer from the memo as checked.
func TestNormalizedPhoneMemo(t *testing.T) {
	for range 2 {
		if !normalizedPhone("+14155550123") {
			t.Error("+14155550123 not valid")
		}
		if normalizedPhone("+19995550123") {
			t.Error("+19995550123 valid")
		}
	}
	if validNumbers.has("+19995550123") {
		t.Error("an invalid number was remembered")
	}
	if !validNumbers.has("+14155550123") {
		t.Error("a valid number was not remembered")
	}
}
