package audience

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"github.com/kithhq/kith"
)

// Person is what an audience expression sees of a person. The expr names
// are the snake_case ones in the tags, e.g.
//
//	traits.plan == "internet" and intents["car insurance"] > 0.5 and stage in ["active", "at_risk"]
//	tier == "high" and days_since_purchase > 90
//	"sms" in channels and len(identifiers.phone) > 0
type Person struct {
	Traits      map[string]any      `expr:"traits"`      // each trait's value, as JSON gives it (string, float64, bool, map, list)
	Computed    map[string]any      `expr:"computed"`    // each computed trait's value now (see package computed)
	Intents     map[string]float64  `expr:"intents"`     // topic → strength now (0 when absent)
	Stage       string              `expr:"stage"`       // lifecycle stage: prospect, new, active, at_risk, lapsed, won_back
	Tier        string              `expr:"tier"`        // value tier: high, medium, low, or none
	Channels    []string            `expr:"channels"`    // the channels the person was seen on
	Identifiers map[string][]string `expr:"identifiers"` // type → values
	Events      int                 `expr:"events"`      // events on the timeline
	Purchases   int                 `expr:"purchases"`   // completed orders
	Spent       float64             `expr:"spent"`       // their total
	// DaysSincePurchase is the days since the last order; very large (1e9)
	// for someone who never bought, so "> 30" holds for them too.
	DaysSincePurchase float64   `expr:"days_since_purchase"`
	LastPurchase      time.Time `expr:"last_purchase"` // zero when none
	FirstSeen         time.Time `expr:"first_seen"`
	LastSeen          time.Time `expr:"last_seen"`
	Now               time.Time `expr:"now"`
}

// neverBought is DaysSincePurchase for a person without orders.
const neverBought = 1e9

// Expression is a compiled, type-checked audience expression.
type Expression struct {
	Source string
	// Reads lists what it reads of a person, sorted: fields ("stage"),
	// or entries of traits, computed traits, intents and identifiers
	// ("traits.plan"; "traits" when the key is computed at run time).
	Reads []string
	prog  *vm.Program
	at    map[string]int // where each name is first read, a rune offset
}

// MaxLength is the longest expression accepted.
const MaxLength = 4096

// Compile type-checks an expression against Person and compiles it. An
// error is EINVALID on field "expression", its message giving the line,
// column and reason, and its detail the same as data.
func Compile(src string) (*Expression, error) {
	src = strings.TrimSpace(src)
	if src == "" {
		return nil, kith.Invalid("expression", `an audience needs an expression, e.g. traits.plan == "internet" and stage == "active"`)
	}
	if len(src) > MaxLength {
		return nil, kith.Invalid("expression", "an expression is at most %d characters", MaxLength)
	}
	prog, err := expr.Compile(src, expr.Env(Person{}), expr.AsBool(), expr.MaxNodes(2000))
	if err != nil {
		var fe *file.Error
		if errors.As(err, &fe) {
			reason := firstLine(fe.Message)
			return nil, &kith.Error{Code: kith.EINVALID, Field: "expression",
				Message: fmt.Sprintf("line %d, column %d: %s", fe.Line, fe.Column+1, reason),
				Detail:  map[string]any{"line": fe.Line, "column": fe.Column + 1, "reason": reason}}
		}
		// About the expression as a whole (it does not give a bool).
		reason := firstLine(err.Error())
		return nil, &kith.Error{Code: kith.EINVALID, Field: "expression", Message: "line 1, column 1: " + reason + " (an audience expression says yes or no)",
			Detail: map[string]any{"line": 1, "column": 1, "reason": reason}}
	}
	r, at := reads(prog.Node())
	return &Expression{Source: src, Reads: r, prog: prog, at: at}, nil
}

// CompileWith compiles an expression as Compile does, and refuses one that
// reads a computed trait that is not defined (known says which are), with
// the position of the first such read.
func CompileWith(src string, known func(name string) bool) (*Expression, error) {
	x, err := Compile(src)
	if err != nil || known == nil {
		return x, err
	}
	for _, r := range x.Reads {
		name, ok := strings.CutPrefix(r, "computed.")
		if !ok || known(name) {
			continue
		}
		line, col := position(x.Source, x.at[r])
		reason := fmt.Sprintf("no computed trait is named %q: define it first, or check its spelling", name)
		return nil, &kith.Error{Code: kith.EINVALID, Field: "expression",
			Message: fmt.Sprintf("line %d, column %d: %s", line, col, reason),
			Detail:  map[string]any{"line": line, "column": col, "reason": reason}}
	}
	return x, nil
}

// position turns a rune offset into a line and column, from 1.
func position(src string, offset int) (line, col int) {
	line, col = 1, 1
	for i, r := range []rune(src) {
		if i == offset {
			break
		}
		if r == '\n' {
			line, col = line+1, 1
			continue
		}
		col++
	}
	return line, col
}

// Timed reports whether the expression's truth can change with time alone:
// it reads the clock, the days since a purchase, intents (which fade),
// stage or tier (assessed now), or a computed trait windowed (says which
// are).
func (x *Expression) Timed(windowed func(name string) bool) bool {
	for _, r := range x.Reads {
		field, key, _ := strings.Cut(r, ".")
		if slices.Contains(clock, field) {
			return true
		}
		if field == "computed" && windowed != nil && (key == "" || windowed(key)) {
			return true
		}
	}
	return false
}

// Reading reports whether the expression reads a field, or any entry of
// it.
func (x *Expression) Reading(field string) bool {
	for _, r := range x.Reads {
		if r == field || strings.HasPrefix(r, field+".") {
			return true
		}
	}
	return false
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return strings.TrimSpace(s)
}

// Validate compiles an expression only to check it (see Compile).
func Validate(src string) error {
	_, err := Compile(src)
	return err
}

// Match reports whether a person is in the audience. A run-time error (a
// trait of an unexpected type compared with >, say) means not a member,
// with the reason.
func (x *Expression) Match(p *Person) (bool, error) {
	out, err := expr.Run(x.prog, p)
	if err != nil {
		return false, err
	}
	b, _ := out.(bool)
	return b, nil
}

// PersonOf is what an expression sees of a profile at now. intents gives
// the decayed strengths of its intents; stage and tier come from the
// lifecycle assessment (stage "" reads the recorded one).
func PersonOf(p *kith.Profile, intents map[string]float64, stage, tier string, now time.Time) *Person {
	out := &Person{Traits: make(map[string]any, len(p.Traits)), Computed: map[string]any{}, Intents: intents, Stage: stage, Tier: tier,
		Identifiers: map[string][]string{}, Events: p.Events, Purchases: len(p.Purchases),
		DaysSincePurchase: neverBought, FirstSeen: p.CreatedAt, LastSeen: p.UpdatedAt, Now: now}
	if out.Intents == nil {
		out.Intents = map[string]float64{}
	}
	if out.Stage == "" {
		out.Stage = p.Lifecycle.Current()
	}
	if out.Tier == "" {
		out.Tier = "none"
	}
	for name, t := range p.Traits {
		var v any
		if json.Unmarshal(t.Value, &v) == nil {
			out.Traits[name] = v
		}
	}
	out.channels(p)
	out.purchases(p, now)
	return out
}

// channels fills in the channels a person was seen on, sorted.
func (out *Person) channels(p *kith.Profile) {
	for ch := range p.Channels {
		out.Channels = append(out.Channels, string(ch))
	}
	sort.Strings(out.Channels)
}

// purchases fills in what the person spent and when they last bought.
func (out *Person) purchases(p *kith.Profile, now time.Time) {
	for _, pu := range p.Purchases {
		out.Spent += pu.Amount
		if pu.At.After(out.LastPurchase) {
			out.LastPurchase = pu.At
		}
	}
	if !out.LastPurchase.IsZero() {
		out.DaysSincePurchase = now.Sub(out.LastPurchase).Hours() / 24
	}
}
