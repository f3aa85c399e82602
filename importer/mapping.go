package importer

import (
	"fmt"
	"strings"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/identity"
)

// MaxTraitName is the longest trait name an import may set: the processor
// ignores longer ones.
const MaxTraitName = 200

// Field maps one CSV column to an identifier type or a trait.
type Field struct {
	Column     string // the header's name for the column
	Identifier string // an identifier type the identity config knows, or ""
	Trait      string // a trait name, or ""
}

// String returns the field as it is written on the command line.
func (f Field) String() string {
	if f.Identifier != "" {
		return f.Column + "=identifier:" + f.Identifier
	}
	return f.Column + "=trait:" + f.Trait
}

// target names what the field sets, e.g. "identifier:email".
func (f Field) target() string {
	if f.Identifier != "" {
		return "identifier:" + f.Identifier
	}
	return "trait:" + f.Trait
}

// Mapping is how a file's columns become an event: at least one identifier.
type Mapping []Field

// ParseField reads one COLUMN=identifier:TYPE or COLUMN=trait:NAME.
func ParseField(spec string, ids identity.Config) (Field, error) {
	var f Field
	col, target, ok := cutTarget(spec)
	if !ok {
		return f, fmt.Errorf("%q: write COLUMN=identifier:TYPE or COLUMN=trait:NAME", spec)
	}
	col = strings.TrimSpace(col)
	if col == "" {
		return f, fmt.Errorf("%q: the column name is empty", spec)
	}
	f.Column = col
	kind, name, _ := strings.Cut(target, ":")
	name = strings.TrimSpace(name)
	switch kind {
	case "identifier":
		if !ids.IsType(name) {
			return f, fmt.Errorf("%q: unknown identifier type %q; use one of %s", spec, name, strings.Join(ids.Types(), ", "))
		}
		f.Identifier = name
	case "trait":
		switch {
		case name == "":
			return f, fmt.Errorf("%q: the trait name is empty", spec)
		case len(name) > MaxTraitName:
			return f, fmt.Errorf("%q: the trait name is longer than %d bytes", spec, MaxTraitName)
		case ids.IsType(name) || name == "userId" || name == "anonymousId":
			// The processor reads traits named like identifier types as
			// identifiers: they must go through identifier validation.
			return f, fmt.Errorf("%q: %s is an identifier; map it as %s=identifier:%s", spec, name, col, identifierFor(name))
		}
		f.Trait = name
	}
	return f, nil
}

func identifierFor(name string) string {
	switch name {
	case "userId":
		return kith.IDUserID
	case "anonymousId":
		return kith.IDAnonymousID
	}
	return name
}

// cutTarget splits spec at the first "=" followed by "identifier:" or
// "trait:", so column names may themselves hold "=".
func cutTarget(spec string) (col, target string, ok bool) {
	for i := 0; i < len(spec); i++ {
		if spec[i] != '=' {
			continue
		}
		rest := spec[i+1:]
		if strings.HasPrefix(rest, "identifier:") || strings.HasPrefix(rest, "trait:") {
			return spec[:i], rest, true
		}
	}
	return "", "", false
}

// ParseMapping reads the fields of a mapping, one spec each, as given to
// --map. It needs at least one identifier that links profiles, and no
// column or target twice. Errors are EINVALID with the field "map[i]".
func ParseMapping(specs []string, ids identity.Config) (Mapping, error) {
	var m Mapping
	columns := map[string]bool{}
	targets := map[string]bool{}
	for i, spec := range specs {
		f, err := ParseField(spec, ids)
		if err != nil {
			return nil, kith.Invalid(fmt.Sprintf("map[%d]", i), "%v", err)
		}
		if columns[f.Column] {
			return nil, kith.Invalid(fmt.Sprintf("map[%d]", i), "column %q is mapped twice", f.Column)
		}
		if targets[f.target()] {
			return nil, kith.Invalid(fmt.Sprintf("map[%d]", i), "%s is mapped twice; map one column to it", f.target())
		}
		columns[f.Column], targets[f.target()] = true, true
		m = append(m, f)
	}
	if len(m) == 0 {
		return nil, kith.Invalid("map", "no columns are mapped; map at least one to an identifier, e.g. --map email=identifier:email")
	}
	if !m.hasLinkingIdentifier(ids) {
		return nil, kith.Invalid("map", "no column is mapped to an identifier that links profiles (%s); map one, e.g. email=identifier:email", strings.Join(linkingTypes(ids), ", "))
	}
	return m, nil
}

func (m Mapping) hasLinkingIdentifier(ids identity.Config) bool {
	for _, f := range m {
		if f.Identifier != "" && !ids.Rule(f.Identifier).NoLink {
			return true
		}
	}
	return false
}

func linkingTypes(ids identity.Config) []string {
	var out []string
	for _, t := range ids.Types() {
		if !ids.Rule(t).NoLink {
			out = append(out, t)
		}
	}
	return out
}

// String returns the mapping as --map flags would spell it.
func (m Mapping) String() string {
	parts := make([]string, len(m))
	for i, f := range m {
		parts[i] = f.String()
	}
	return strings.Join(parts, ",")
}
