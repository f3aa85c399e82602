package audience

import (
	"slices"
	"strings"

	"github.com/expr-lang/expr/ast"
)

// Names an expression reads: a Person field ("stage", "purchases"), or one
// entry of a map field ("traits.plan", "computed.orders_90d",
// "intents.car insurance"). A map field read with a key computed at run
// time is the whole field ("traits").

// reads returns what the expression at root reads, sorted, and where each
// map entry is first read (a rune offset), for messages.
func reads(root ast.Node) ([]string, map[string]int) {
	covered := map[*ast.IdentifierNode]bool{}
	var out []string
	at := map[string]int{}
	add := func(name string, from int) {
		if !slices.Contains(out, name) {
			out = append(out, name)
			at[name] = from
		}
	}
	ast.Walk(&root, visitor(func(n *ast.Node) {
		m, ok := (*n).(*ast.MemberNode)
		if !ok {
			return
		}
		id, ok := m.Node.(*ast.IdentifierNode)
		if !ok || !mapField(id.Value) {
			return
		}
		if key, ok := m.Property.(*ast.StringNode); ok {
			covered[id] = true
			add(id.Value+"."+key.Value, m.Location().From)
		}
	}))
	ast.Walk(&root, visitor(func(n *ast.Node) {
		if id, ok := (*n).(*ast.IdentifierNode); ok && !covered[id] && field(id.Value) {
			add(id.Value, id.Location().From)
		}
	}))
	slices.Sort(out)
	return out, at
}

type visitor func(n *ast.Node)

func (v visitor) Visit(n *ast.Node) { v(n) }

// mapField reports whether a Person field is a map read by key.
func mapField(name string) bool {
	switch name {
	case "traits", "computed", "intents", "identifiers":
		return true
	}
	return false
}

// field reports whether a name is a Person field (an expression may also
// name its own variables and builtins).
func field(name string) bool {
	switch name {
	case "traits", "computed", "intents", "stage", "tier", "channels", "identifiers", "events", "purchases", "spent",
		"days_since_purchase", "last_purchase", "first_seen", "last_seen", "now":
		return true
	}
	return false
}

// clock lists the fields whose value changes with time alone.
var clock = []string{"now", "days_since_purchase", "intents", "stage", "tier"}

// affected reports whether a profile change that touched what touched names
// (the profile processor's vocabulary: "traits.NAME", "computed.NAME",
// "intents", "purchases", "lifecycle", "channels", "events",
// "identifiers", "*") can change the value of an expression that reads
// what reads names.
func affected(reads []string, touched map[string]bool) bool {
	if touched["*"] {
		return true
	}
	for _, r := range reads {
		switch r {
		case "traits", "computed":
			for t := range touched {
				if strings.HasPrefix(t, r+".") {
					return true
				}
			}
		case "intents", "channels", "identifiers", "events", "purchases":
			if touched[r] {
				return true
			}
		case "stage", "tier":
			if touched["purchases"] || touched["lifecycle"] {
				return true
			}
		case "last_seen":
			if touched["events"] {
				return true
			}
		case "spent", "days_since_purchase", "last_purchase":
			if touched["purchases"] {
				return true
			}
		default:
			field, _, _ := strings.Cut(r, ".")
			switch field {
			case "traits", "computed":
				if touched[r] {
					return true
				}
			case "intents", "identifiers":
				if touched[field] {
					return true
				}
			}
		}
	}
	return false
}

// touchKeys returns the touched names (the profile processor's vocabulary)
// that can change an expression that reads what reads names; anyTrait and
// anyComputed say that any "traits." or "computed." name can. It agrees
// with affected, as an index: affected(reads, t) holds exactly when t
// holds "*", one of the keys, or a trait or computed name asked for.
func touchKeys(reads []string) (keys []string, anyTrait, anyComputed bool) {
	add := func(ks ...string) {
		for _, k := range ks {
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
	}
	for _, r := range reads {
		switch r {
		case "traits":
			anyTrait = true
		case "computed":
			anyComputed = true
		case "intents", "channels", "identifiers", "events", "purchases":
			add(r)
		case "stage", "tier":
			add("purchases", "lifecycle")
		case "last_seen":
			add("events")
		case "spent", "days_since_purchase", "last_purchase":
			add("purchases")
		default:
			field, _, _ := strings.Cut(r, ".")
			switch field {
			case "traits", "computed":
				add(r)
			case "intents", "identifiers":
				add(field)
			}
		}
	}
	return keys, anyTrait, anyComputed
}

// index finds the audiences a change can move someone in or out of.
type index struct {
	all         []string            // every audience
	byKey       map[string][]string // touched name → audiences
	anyTrait    []string
	anyComputed []string
}

func newIndex(auds map[string]*saved) *index {
	ix := &index{byKey: map[string][]string{}}
	for id, a := range auds {
		ix.all = append(ix.all, id)
		keys, anyTrait, anyComputed := touchKeys(a.x.Reads)
		for _, k := range keys {
			ix.byKey[k] = append(ix.byKey[k], id)
		}
		if anyTrait {
			ix.anyTrait = append(ix.anyTrait, id)
		}
		if anyComputed {
			ix.anyComputed = append(ix.anyComputed, id)
		}
	}
	return ix
}

// hit adds to into the audiences that touched can affect.
func (ix *index) hit(touched map[string]bool, into map[string]bool) {
	if touched["*"] {
		for _, id := range ix.all {
			into[id] = true
		}
		return
	}
	trait, comp := false, false
	for k := range touched {
		for _, id := range ix.byKey[k] {
			into[id] = true
		}
		trait = trait || strings.HasPrefix(k, "traits.")
		comp = comp || strings.HasPrefix(k, "computed.")
	}
	if trait {
		for _, id := range ix.anyTrait {
			into[id] = true
		}
	}
	if comp {
		for _, id := range ix.anyComputed {
			into[id] = true
		}
	}
}
