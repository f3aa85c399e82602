package match

import (
	"slices"
	"strings"
)

// Transform says how a blocking key is made from a field's value.
type Transform uint8

// The transforms of a blocking key.
const (
	// Whole is the normalised value itself.
	Whole Transform = iota
	// Sound is the value's NYSIIS code, so that names spelled differently but
	// said alike (catherine, kathryn) fall in one block.
	Sound
	// Year is the first four characters: the year of a YYYYMMDD date.
	Year
	// NamePair is the given name and the surname in alphabetical order, so
	// that a record with the two swapped falls in the same block. The key's
	// Field is ignored.
	NamePair
)

// Key is one part of a blocking rule.
type Key struct {
	Field     Field
	Transform Transform
}

// Rule is a blocking rule: two records are candidates for comparison when
// they have the same non-empty value of every key of at least one rule.
// Rules are OR'd so that a pair missed by one (a typo in the postcode) is
// found by another (the same social security number).
type Rule struct {
	Name string
	Keys []Key
}

// Fields returns the fields a rule's keys are made from. Expectation–
// maximisation leaves them out when it learns from the rule's pairs,
// because pairs chosen for agreeing on a field say nothing about how often
// matches agree on it.
func (r Rule) Fields() []Field {
	var fs []Field
	for _, k := range r.Keys {
		if k.Transform == NamePair {
			fs = append(fs, GivenName, Surname)
		} else {
			fs = append(fs, k.Field)
		}
	}
	return fs
}

// DefaultRules are the blocking rules for person records. Each uses keys
// that are rare enough to keep blocks small on a million records, and
// together they rely on disjoint fields, so that a duplicate with two
// corrupted fields (or two duplicates with two each) still shares every key
// of some rule with its original:
//
//	soc_sec_id
//	given_name and surname (either order), and year of birth or postcode
//	date_of_birth, and surname sound, given_name sound, postcode or suburb
//	street_number, and postcode or address_1
//	suburb, and surname sound or given_name sound
//
// Keys of free text ignore spaces, because Febrl-style corruption splits
// and joins words (venus bay, venusbay).
func DefaultRules() []Rule {
	return []Rule{
		{"soc_sec_id", []Key{{SocSecID, Whole}}},
		{"names+birth year", []Key{{GivenName, NamePair}, {DateOfBirth, Year}}},
		{"names+postcode", []Key{{GivenName, NamePair}, {Postcode, Whole}}},
		{"date_of_birth+surname sound", []Key{{DateOfBirth, Whole}, {Surname, Sound}}},
		{"date_of_birth+given_name sound", []Key{{DateOfBirth, Whole}, {GivenName, Sound}}},
		{"date_of_birth+postcode", []Key{{DateOfBirth, Whole}, {Postcode, Whole}}},
		{"date_of_birth+suburb", []Key{{DateOfBirth, Whole}, {Suburb, Whole}}},
		{"postcode+street_number", []Key{{Postcode, Whole}, {StreetNumber, Whole}}},
		{"address_1+street_number", []Key{{Address1, Whole}, {StreetNumber, Whole}}},
		{"suburb+surname sound", []Key{{Suburb, Whole}, {Surname, Sound}}},
		{"suburb+given_name sound", []Key{{Suburb, Whole}, {GivenName, Sound}}},
	}
}

// DefaultMaxBlock is the largest block compared. A bigger block (a
// placeholder value such as 0000000, or a million records with one common
// name) would cost as many comparisons as all the others together; like
// Splink's warning about such rules, it is skipped and counted, and the
// pairs in it must be found by other rules.
const DefaultMaxBlock = 500

// column holds the distinct values of one field, each once, with what
// comparisons need of them.
type column struct {
	ids     map[string]int32
	vals    []string
	count   []int32  // records holding the value, for term frequencies
	code    []string // NYSIIS code, names only
	day     []int32  // day number, birth dates only
	nonNull int      // records with a value
}

func (c *column) intern(f Field, s string) int32 {
	if id, ok := c.ids[s]; ok {
		c.count[id]++
		c.nonNull++
		return id
	}
	if c.ids == nil {
		c.ids = make(map[string]int32)
	}
	id := int32(len(c.vals))
	s = strings.Clone(s) // the caller's record may share a big buffer
	c.ids[s] = id
	c.vals = append(c.vals, s)
	c.count = append(c.count, 1)
	c.nonNull++
	switch f {
	case GivenName, Surname:
		c.code = append(c.code, NYSIIS(s))
	case DateOfBirth:
		c.day = append(c.day, dayNumber(s))
	}
	return id
}

// Index is the blocking index: the records added so far and, for every
// blocking rule, which records share each key. It serves both the batch
// tools and live matching: Add a record when it arrives, ask Candidates for
// a new one, and Score the pairs.
//
// An Index is not safe for concurrent use while records are added;
// concurrent reads (Candidates, Score) are safe between Adds.
type Index struct {
	rules    []Rule
	maxBlock int
	cols     [NumFields]column
	rows     [][NumFields]int32 // value id per field, -1 when missing
	ids      []string
	keys     []uint64          // len(rules) per record; 0 is no key
	heads    map[uint64]uint64 // key → records in the block << 32 | newest posting
	next     []int32           // per posting (record*len(rules)+rule): the previous posting of the key, or -1
}

// NewIndex returns an empty index with the given blocking rules (nil for
// DefaultRules) and largest block (0 for DefaultMaxBlock).
func NewIndex(rules []Rule, maxBlock int) *Index {
	if rules == nil {
		rules = DefaultRules()
	}
	if maxBlock <= 0 {
		maxBlock = DefaultMaxBlock
	}
	return &Index{rules: rules, maxBlock: maxBlock, heads: make(map[uint64]uint64)}
}

// Rules returns the index's blocking rules.
func (ix *Index) Rules() []Rule { return ix.rules }

// Len returns the number of records in the index.
func (ix *Index) Len() int { return len(ix.rows) }

// Add normalises r, adds it to the index and returns its position, which
// Candidates reports and Record takes.
func (ix *Index) Add(r Record) int {
	r = Normalize(r)
	i := len(ix.rows)
	var row [NumFields]int32
	for f := range NumFields {
		row[f] = -1
		if v := r.Values[f]; v != "" {
			row[f] = ix.cols[f].intern(f, v)
		}
	}
	ix.rows = append(ix.rows, row)
	ix.ids = append(ix.ids, r.ID)
	var e entry
	ix.entryOf(i, &e)
	for k := range ix.rules {
		key := ix.key(k, &e)
		ix.keys = append(ix.keys, key)
		p := int32(i*len(ix.rules) + k)
		if key == 0 {
			ix.next = append(ix.next, -1)
			continue
		}
		h, ok := ix.heads[key]
		prev := int32(-1)
		if ok {
			prev = int32(uint32(h))
		}
		ix.next = append(ix.next, prev)
		ix.heads[key] = (h>>32+1)<<32 | uint64(uint32(p))
	}
	return i
}

// Forget removes every record of the given ids from the index, as far as
// anything can read: their values are dropped (a value no other record
// holds is forgotten altogether), and the positions stay, empty, with no
// id. Candidates may still report such a position; its Record has no ID.
// It returns the records forgotten.
func (ix *Index) Forget(ids map[string]bool) int {
	n := 0
	for i, id := range ix.ids {
		if id == "" || !ids[id] {
			continue
		}
		row := &ix.rows[i]
		for f := range NumFields {
			if v := row[f]; v >= 0 {
				ix.cols[f].release(v)
				row[f] = -1
			}
		}
		ix.ids[i] = ""
		n++
	}
	return n
}

// release drops one record's hold on value id; the last one clears it.
func (c *column) release(id int32) {
	c.count[id]--
	c.nonNull--
	if c.count[id] > 0 {
		return
	}
	delete(c.ids, c.vals[id])
	c.vals[id] = ""
	if c.code != nil {
		c.code[id] = ""
	}
	if c.day != nil {
		c.day[id] = noDay
	}
}

// Record returns the record at position i, normalised.
func (ix *Index) Record(i int) Record {
	r := Record{ID: ix.ids[i]}
	for f, id := range ix.rows[i] {
		if id >= 0 {
			r.Values[f] = ix.cols[f].vals[id]
		}
	}
	return r
}

// entryOf fills e with record i.
func (ix *Index) entryOf(i int, e *entry) {
	row := &ix.rows[i]
	for f := range NumFields {
		id := row[f]
		e.ids[f] = id
		e.vals[f] = ""
		if id >= 0 {
			e.vals[f] = ix.cols[f].vals[id]
		}
	}
	e.codes = [2]string{}
	for f := range 2 {
		if id := row[f]; id >= 0 {
			e.codes[f] = ix.cols[f].code[id]
		}
	}
	e.day = noDay
	if id := row[DateOfBirth]; id >= 0 {
		e.day = ix.cols[DateOfBirth].day[id]
	}
}

// probe prepares a record that is not in the index for comparison with the
// records that are, without changing the index.
func (ix *Index) probe(r Record, e *entry) {
	r = Normalize(r)
	e.vals = r.Values
	for f := range NumFields {
		e.ids[f] = -1
		if id, ok := ix.cols[f].ids[r.Values[f]]; ok {
			e.ids[f] = id
		}
	}
	e.codes = [2]string{NYSIIS(r.Values[GivenName]), NYSIIS(r.Values[Surname])}
	e.day = dayNumber(r.Values[DateOfBirth])
}

// key returns the hash of rule k's key for e, or 0 when a part is missing.
func (ix *Index) key(k int, e *entry) uint64 {
	const prime = 1099511628211
	h := uint64(14695981039346656037) ^ uint64(k+1)*prime
	mix := func(s string) {
		for i := 0; i < len(s); i++ {
			if s[i] == ' ' {
				continue
			}
			h ^= uint64(s[i])
			h *= prime
		}
		h ^= 0xff // a separator no value contains
		h *= prime
	}
	for _, part := range ix.rules[k].Keys {
		var s string
		switch part.Transform {
		case Whole:
			s = e.vals[part.Field]
		case Sound:
			if part.Field == GivenName || part.Field == Surname {
				s = e.codes[part.Field]
			} else {
				s = NYSIIS(e.vals[part.Field])
			}
		case Year:
			s = e.vals[part.Field]
			if len(s) < 4 {
				return 0
			}
			s = s[:4]
		case NamePair:
			g, f := e.vals[GivenName], e.vals[Surname]
			if g == "" || f == "" {
				return 0
			}
			if f < g {
				g, f = f, g
			}
			mix(g)
			s = f
		}
		if s == "" {
			return 0
		}
		mix(s)
	}
	if h == 0 {
		h = 1
	}
	return h
}

// blockSize returns the number of records with key.
func (ix *Index) blockSize(key uint64) int { return int(ix.heads[key] >> 32) }

// walk calls fn with every record in key's block, newest first, unless the
// block is larger than the index's maximum; it reports whether it walked.
func (ix *Index) walk(key uint64, fn func(j int)) bool {
	h, ok := ix.heads[key]
	if !ok {
		return true
	}
	if int(h>>32) > ix.maxBlock {
		return false
	}
	R := int32(len(ix.rules))
	for p := int32(uint32(h)); p >= 0; p = ix.next[p] {
		fn(int(p / R))
	}
	return true
}

// Candidates returns the positions of the records in the index that share
// a blocking key with r, each once, in increasing order. It is what live
// matching calls for a new or changed record before scoring it.
func (ix *Index) Candidates(r Record) []int {
	var e entry
	ix.probe(r, &e)
	var out []int
	for k := range ix.rules {
		if key := ix.key(k, &e); key != 0 {
			ix.walk(key, func(j int) { out = append(out, j) })
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// tf returns the term frequency of field f's value in e: the share of the
// index's records with a value in f that hold this one, smoothed towards
// prior (the model's chance that two different people agree exactly) as
// if tfPseudo records had held values that common. A small index says
// little about how common a value is: without smoothing, in an index of
// two records every value is shared by half of them, and an exact match
// on a name would count against the pair.
func (ix *Index) tf(f Field, e *entry, prior float64) float64 {
	c := &ix.cols[f]
	n := int32(1)
	if id := e.ids[f]; id >= 0 {
		n = max(c.count[id], 1)
	}
	return (float64(n) + tfPseudo*prior) / (float64(c.nonNull) + tfPseudo)
}

// tfPseudo is how many records' worth of belief the prior frequency holds.
const tfPseudo = 100
