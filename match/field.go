package match

import (
	"strconv"
	"strings"
	"unicode"
)

// Field is one attribute of a person record that the matcher compares.
type Field uint8

// The fields of a person record, in the order of the Febrl files. The set is
// fixed because every field has its own comparison levels and blocking keys.
const (
	GivenName Field = iota
	Surname
	StreetNumber
	Address1
	Address2
	Suburb
	Postcode
	State
	DateOfBirth
	SocSecID
	NumFields // the number of fields, not a field
)

var fieldNames = [NumFields]string{
	"given_name", "surname", "street_number", "address_1", "address_2",
	"suburb", "postcode", "state", "date_of_birth", "soc_sec_id",
}

// String returns the field's column name, e.g. "date_of_birth".
func (f Field) String() string {
	if f < NumFields {
		return fieldNames[f]
	}
	return "field(" + strconv.Itoa(int(f)) + ")"
}

// ParseField returns the field with the column name s ("given_name",
// "surname", "street_number", "address_1", "address_2", "suburb",
// "postcode", "state", "date_of_birth", "soc_sec_id").
func ParseField(s string) (Field, bool) {
	for f, n := range fieldNames {
		if n == s {
			return Field(f), true
		}
	}
	return 0, false
}

// Fields returns every field in order.
func Fields() []Field {
	fs := make([]Field, NumFields)
	for i := range fs {
		fs[i] = Field(i)
	}
	return fs
}

// Record is one person as the matcher sees it: an identifier that is never
// compared, and a value per field, empty when missing.
type Record struct {
	ID     string
	Values [NumFields]string
}

// Normalize returns r with every value in the form the comparisons expect:
// lower case, punctuation dropped, runs of spaces made one; digits only in
// the date of birth (so 1990-01-02 and 19900102 agree), and no spaces in
// codes and numbers. Values that hold nothing else become missing.
func Normalize(r Record) Record {
	for f := range r.Values {
		r.Values[f] = normalizeValue(Field(f), r.Values[f])
	}
	return r
}

func normalizeValue(f Field, s string) string {
	if s == "" {
		return ""
	}
	switch f {
	case DateOfBirth:
		return keepOnly(s, func(c rune) bool { return c >= '0' && c <= '9' })
	case StreetNumber, Postcode, SocSecID, State:
		return strings.ToLower(keepOnly(s, func(c rune) bool { return unicode.IsLetter(c) || unicode.IsDigit(c) }))
	}
	if plain(s) {
		return s
	}
	// Free text: apostrophes and dots vanish (o'brien, st.), other
	// punctuation separates words (smith-jones).
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, c := range s {
		switch {
		case unicode.IsLetter(c) || unicode.IsDigit(c):
			if space && b.Len() > 0 {
				b.WriteByte(' ')
			}
			space = false
			b.WriteRune(unicode.ToLower(c))
		case c == '\'' || c == '.' || c == '’':
		default:
			space = true
		}
	}
	return b.String()
}

func keepOnly(s string, keep func(rune) bool) string {
	clean := true
	for _, c := range s {
		if !keep(c) || unicode.IsUpper(c) {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, c := range s {
		if keep(c) {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// plain says whether s is already normalised free text: lower-case ASCII
// letters and digits in words separated by single spaces. Most values are,
// and need no copy.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z' || c >= '0' && c <= '9':
		case c == ' ' && i > 0 && i < len(s)-1 && s[i-1] != ' ':
		default:
			return false
		}
	}
	return true
}
