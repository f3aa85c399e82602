package matching

import (
	"encoding/json"
	"maps"
	"slices"
	"strings"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/match"
)

// DefaultTraits maps trait names to the matcher's fields: Segment's spec
// (firstName, lastName, birthday, address.street/city/postalCode/state) and
// the snake_case spellings sources send.
func DefaultTraits() map[string]match.Field {
	return map[string]match.Field{
		"first_name": match.GivenName, "firstName": match.GivenName, "given_name": match.GivenName,
		"last_name": match.Surname, "lastName": match.Surname, "surname": match.Surname,
		"birthday": match.DateOfBirth, "date_of_birth": match.DateOfBirth, "dob": match.DateOfBirth,
		"street_number": match.StreetNumber, "street": match.Address1, "address_1": match.Address1,
		"address_2": match.Address2, "city": match.Suburb, "suburb": match.Suburb,
		"postal_code": match.Postcode, "postalCode": match.Postcode, "postcode": match.Postcode, "zip": match.Postcode,
		"state": match.State, "soc_sec_id": match.SocSecID,
	}
}

// Record is a profile's person record: each field from the first trait
// that names it (an address object's parts count as traits), "name" split
// into given and family name when those are missing.
func Record(p *kith.Profile, traits map[string]match.Field) match.Record {
	r := match.Record{ID: p.ID}
	set := func(f match.Field, v string) {
		if r.Values[f] == "" {
			r.Values[f] = strings.TrimSpace(v)
		}
	}
	// Top-level traits first, in name order, then an address object's
	// parts: the record does not depend on map order.
	names := slices.Sorted(maps.Keys(p.Traits))
	for _, name := range names {
		if f, ok := traits[name]; ok && name != "address" {
			set(f, text(p.Traits[name].Value))
		}
	}
	if t, ok := p.Traits["address"]; ok {
		var addr map[string]json.RawMessage
		if json.Unmarshal(t.Value, &addr) == nil {
			for _, k := range slices.Sorted(maps.Keys(addr)) {
				if f, ok := traits[k]; ok {
					set(f, text(addr[k]))
				}
			}
		}
	}
	if t, ok := p.Traits["name"]; ok && r.Values[match.GivenName] == "" && r.Values[match.Surname] == "" {
		if parts := strings.Fields(text(t.Value)); len(parts) >= 2 {
			set(match.GivenName, parts[0])
			set(match.Surname, parts[len(parts)-1])
		}
	}
	return r
}

// text is a JSON string's or number's text, empty for anything else.
func text(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// matchable says whether a record says enough to be compared: a family
// name and two other fields.
func matchable(r match.Record) bool {
	if r.Values[match.Surname] == "" {
		return false
	}
	n := 0
	for _, v := range r.Values {
		if v != "" {
			n++
		}
	}
	return n >= 3
}
