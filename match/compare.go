package match

import "time"

// Level is the outcome of comparing one field of two records: 0 when either
// value is missing, 1 when they are equal, and higher the further apart
// they are. Its meaning depends on the field; Label names it.
type Level = uint8

// Null is the level of a field missing on either side. It carries no
// evidence either way, as in Splink, so its weight is always zero.
const Null Level = 0

// Exact is the level of equal values.
const Exact Level = 1

// The level ladders. Each field's comparison is a list of conditions tried
// in order; the first that holds is the level. A ladder ends in "different".
var (
	nameLabels  = []string{"null", "exact", "one edit", "jaro-winkler ≥ 0.92", "swapped given and family name", "same sound (NYSIIS)", "jaro-winkler ≥ 0.8", "different"}
	textLabels  = []string{"null", "exact", "one edit", "jaro-winkler ≥ 0.9", "jaro-winkler ≥ 0.8", "different"}
	codeLabels  = []string{"null", "exact", "one edit", "different"}
	stateLabels = []string{"null", "exact", "different"}
	dateLabels  = []string{"null", "exact", "one edit (typo or transposed digits)", "day and month swapped", "two edits", "within a year", "different"}
	idLabels    = []string{"null", "exact", "one edit", "two edits", "different"}
)

// ladders holds each field's level names.
var ladders = [NumFields][]string{
	GivenName:    nameLabels,
	Surname:      nameLabels,
	StreetNumber: codeLabels,
	Address1:     textLabels,
	Address2:     textLabels,
	Suburb:       textLabels,
	Postcode:     codeLabels,
	State:        stateLabels,
	DateOfBirth:  dateLabels,
	SocSecID:     idLabels,
}

// termFrequency says which fields' exact level is adjusted for how common
// the value is (two Smiths agree more often by chance than two
// Wojciechowskis). Near-unique fields (birth date, social security number)
// are left out: on a small file every value is "rare" and the adjustment
// would only add noise to weights that are already large.
var termFrequency = [NumFields]bool{
	GivenName: true, Surname: true, Address1: true, Address2: true, Suburb: true, Postcode: true,
}

// Levels returns the names of field f's comparison levels, index = Level.
func Levels(f Field) []string { return ladders[f] }

// Label returns the name of level l of field f, e.g. "jaro-winkler ≥ 0.92".
func Label(f Field, l Level) string {
	if int(l) < len(ladders[f]) {
		return ladders[f][l]
	}
	return "unknown"
}

// Different returns the last level of field f: the values disagree.
func Different(f Field) Level { return Level(len(ladders[f]) - 1) }

// Vector is the comparison of two records: one level per field.
type Vector [NumFields]Level

// entry is a record prepared for comparison: normalised values, their ids
// in an index's columns (-1 when the index has never seen the value), the
// phonetic codes of the names and the birth date as a day number.
type entry struct {
	vals  [NumFields]string
	ids   [NumFields]int32
	codes [2]string // NYSIIS of given name and surname
	day   int32     // days since 1 January 1970 for a valid birth date, else noDay
}

const noDay = -1 << 31

func (a *entry) same(b *entry, f Field) bool {
	if a.ids[f] >= 0 && b.ids[f] >= 0 {
		return a.ids[f] == b.ids[f]
	}
	return a.vals[f] == b.vals[f]
}

// compare returns the comparison vector of a and b.
func compare(a, b *entry) Vector {
	var v Vector
	for f := range NumFields {
		v[f] = compareField(f, a, b)
	}
	return v
}

func compareField(f Field, a, b *entry) Level {
	x, y := a.vals[f], b.vals[f]
	if x == "" || y == "" {
		return Null
	}
	if a.same(b, f) {
		return Exact
	}
	switch f {
	case GivenName, Surname:
		other := Surname
		if f == Surname {
			other = GivenName
		}
		if withinOneEdit(x, y) {
			return 2
		}
		jw := JaroWinkler(x, y)
		switch {
		case jw >= 0.92:
			return 3
		case near(x, b.vals[other]) && near(a.vals[other], y):
			return 4
		case a.codes[f] != "" && a.codes[f] == b.codes[f]:
			return 5
		case jw >= 0.8:
			return 6
		}
		return 7
	case Address1, Address2, Suburb:
		if withinOneEdit(x, y) {
			return 2
		}
		switch jw := JaroWinkler(x, y); {
		case jw >= 0.9:
			return 3
		case jw >= 0.8:
			return 4
		}
		return 5
	case StreetNumber, Postcode:
		if withinOneEdit(x, y) {
			return 2
		}
		return 3
	case State:
		return 2
	case DateOfBirth:
		d := editDistance(x, y, 2)
		switch {
		case d <= 1:
			return 2
		case dayMonthSwapped(x, y):
			return 3
		case d <= 2:
			return 4
		case a.day != noDay && b.day != noDay && abs(a.day-b.day) <= 366:
			return 5
		}
		return 6
	case SocSecID:
		switch editDistance(x, y, 2) {
		case 1:
			return 2
		case 2:
			return 3
		}
		return 4
	}
	return Different(f)
}

// near says whether two names are the same but for at most one edit; it is
// how a swapped given and family name is recognised despite a typo.
func near(x, y string) bool {
	return x != "" && y != "" && withinOneEdit(x, y)
}

func abs(x int32) int32 {
	if x < 0 {
		return -x
	}
	return x
}

// dayMonthSwapped says whether two YYYYMMDD dates are one year with day and
// month exchanged, the American and European orders confused.
func dayMonthSwapped(x, y string) bool {
	return len(x) == 8 && len(y) == 8 && x[:4] == y[:4] && x[4:6] == y[6:8] && x[6:8] == y[4:6]
}

// dayNumber returns the YYYYMMDD date s as days since 1 January 1970,
// or noDay when s is not a real date (Febrl writes 19371233).
func dayNumber(s string) int32 {
	if len(s) != 8 {
		return noDay
	}
	n := 0
	for i := range 8 {
		c := s[i]
		if c < '0' || c > '9' {
			return noDay
		}
		n = n*10 + int(c-'0')
	}
	y, m, d := n/10000, n/100%100, n%100
	if y < 1 || m < 1 || m > 12 || d < 1 || d > 31 {
		return noDay
	}
	t := time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC)
	if t.Day() != d {
		return noDay
	}
	return int32(t.Unix() / 86400)
}
