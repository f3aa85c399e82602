package offer

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"

	"github.com/kithhq/kith"
)

// The eligibility operators.
var ops = []string{"eq", "ne", "gt", "gte", "lt", "lte", "in", "exists", "missing"}

func validConditions(cs []kith.Condition) error {
	for i, c := range cs {
		field := fmt.Sprintf("eligibility[%d]", i)
		if c.Trait == "" {
			return kith.Invalid(field+".trait", "a condition names the trait it tests")
		}
		if !slices.Contains(ops, c.Op) {
			return kith.Invalid(field+".op", "unknown operator %q; use one of eq, ne, gt, gte, lt, lte, in, exists, missing", c.Op)
		}
		if c.Op == "exists" || c.Op == "missing" {
			continue
		}
		var v any
		if len(c.Value) == 0 || json.Unmarshal(c.Value, &v) != nil || v == nil {
			return kith.Invalid(field+".value", "operator %s compares with a value", c.Op)
		}
		switch c.Op {
		case "gt", "gte", "lt", "lte":
			if _, ok := v.(float64); !ok {
				return kith.Invalid(field+".value", "operator %s compares numbers", c.Op)
			}
		case "in":
			if _, ok := v.([]any); !ok {
				return kith.Invalid(field+".value", "operator in takes a list of values")
			}
		}
	}
	return nil
}

// Eligible reports whether a profile meets every condition, and if not, the
// first it fails, in words.
func Eligible(p *kith.Profile, cs []kith.Condition) (bool, string) {
	for _, c := range cs {
		t, ok := p.Traits[c.Trait]
		has := ok && len(t.Value) > 0 && !bytes.Equal(t.Value, []byte("null"))
		if !meets(c, t.Value, has) {
			return false, describe(c)
		}
	}
	return true, ""
}

func meets(c kith.Condition, raw json.RawMessage, has bool) bool {
	switch c.Op {
	case "exists":
		return has
	case "missing":
		return !has
	}
	if !has {
		return c.Op == "ne"
	}
	var got, want any
	if json.Unmarshal(raw, &got) != nil || json.Unmarshal(c.Value, &want) != nil {
		return false
	}
	switch c.Op {
	case "eq":
		return equal(got, want)
	case "ne":
		return !equal(got, want)
	case "in":
		list, _ := want.([]any)
		for _, w := range list {
			if equal(got, w) {
				return true
			}
		}
		return false
	}
	g, ok1 := number(got)
	w, ok2 := number(want)
	if !ok1 || !ok2 {
		return false
	}
	switch c.Op {
	case "gt":
		return g > w
	case "gte":
		return g >= w
	case "lt":
		return g < w
	case "lte":
		return g <= w
	}
	return false
}

// equal compares JSON values; a number and a numeric string are equal, as
// sources send "42" and 42 for one thing.
func equal(a, b any) bool {
	if x, ok := number(a); ok {
		if y, ok := number(b); ok {
			return x == y
		}
	}
	sa, oka := a.(string)
	sb, okb := b.(string)
	if oka && okb {
		return sa == sb
	}
	ba, _ := json.Marshal(a)
	bb, _ := json.Marshal(b)
	return bytes.Equal(ba, bb)
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case string:
		if f, err := strconv.ParseFloat(x, 64); err == nil && !math.IsNaN(f) && !math.IsInf(f, 0) {
			return f, true
		}
	}
	return 0, false
}

func describe(c kith.Condition) string {
	switch c.Op {
	case "exists":
		return fmt.Sprintf("trait %s is required", c.Trait)
	case "missing":
		return fmt.Sprintf("trait %s must be absent", c.Trait)
	}
	words := map[string]string{"eq": "=", "ne": "≠", "gt": ">", "gte": "≥", "lt": "<", "lte": "≤", "in": "in"}
	return fmt.Sprintf("%s %s %s", c.Trait, words[c.Op], string(c.Value))
}
