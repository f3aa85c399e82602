package kith

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// DocFields says which parts of a profile document DecodeProfileDocFields
// decodes; the others are skipped over and left empty.
type DocFields struct {
	AllTraits bool
	Traits    []string // by name, when not AllTraits
	// ValuesOnly decodes of each trait its value, not where and when it
	// was said.
	ValuesOnly bool
	// AllComputed decodes every computed trait's state; Computed those
	// named, when not AllComputed.
	AllComputed bool
	Computed    []string
	Channels    bool
	Intents     bool
	Purchases   bool
	Lifecycle   bool
}

// AllDocFields decodes everything.
var AllDocFields = DocFields{AllTraits: true, AllComputed: true, Channels: true, Intents: true, Purchases: true, Lifecycle: true}

var errDoc = errors.New("malformed profile document")

// DecodeProfileDocFields reads the asked-for parts of a document written
// by AppendProfileDoc into p, and its event count: what a scan that
// evaluates one expression over every profile needs, without decoding
// the rest. The maps asked for come back empty rather than nil, the others
// nil; the search keys are skipped.
func DecodeProfileDocFields(raw []byte, p *Profile, f DocFields) error {
	p.Traits, p.Channels, p.Intents = nil, nil, nil
	if f.AllTraits || len(f.Traits) > 0 {
		p.Traits = map[string]Trait{}
	}
	p.Events, p.SearchKeys, p.Purchases, p.Lifecycle, p.Computed = 0, nil, nil, Lifecycle{}, nil
	s := &docScanner{b: raw}
	if !s.consume('{') {
		return errDoc
	}
	if s.consume('}') {
		return nil
	}
	for {
		key, ok := s.key()
		if !ok {
			return errDoc
		}
		var err error
		switch string(key) {
		case "traits":
			if f.AllTraits || len(f.Traits) > 0 {
				err = s.object(func(key []byte) error {
					if !f.AllTraits && !among(key, f.Traits) {
						return s.skip()
					}
					name := string(key)
					if f.ValuesOnly {
						var t Trait
						err := s.object(func(k []byte) error {
							if string(k) != "value" {
								return s.skip()
							}
							var err error
							t.Value, err = s.value()
							return err
						})
						p.Traits[name] = t
						return err
					}
					v, err := s.value()
					if err != nil {
						return err
					}
					var t Trait
					if err := json.Unmarshal(v, &t); err != nil {
						return err
					}
					p.Traits[name] = t
					return nil
				})
			} else {
				err = s.skip()
			}
		case "computed":
			if f.AllComputed || len(f.Computed) > 0 {
				err = s.object(func(key []byte) error {
					if !f.AllComputed && !among(key, f.Computed) {
						return s.skip()
					}
					name := string(key)
					a, err := s.aggregate()
					if err != nil {
						return err
					}
					if p.Computed == nil {
						p.Computed = map[string]*Aggregate{}
					}
					p.Computed[name] = a
					return nil
				})
			} else {
				err = s.skip()
			}
		case "channels":
			err = s.decodeIf(f.Channels, &p.Channels)
		case "intents":
			err = s.decodeIf(f.Intents, &p.Intents)
		case "purchases":
			err = s.decodeIf(f.Purchases, &p.Purchases)
		case "lifecycle":
			err = s.decodeIf(f.Lifecycle, &p.Lifecycle)
		case "events":
			var v []byte
			if v, err = s.value(); err == nil {
				p.Events, err = strconv.Atoi(string(v))
			}
		default:
			err = s.skip()
		}
		if err != nil {
			return err
		}
		if s.consume('}') {
			break
		}
		if !s.consume(',') {
			return errDoc
		}
	}
	if p.Channels == nil && f.Channels {
		p.Channels = map[Kind]*ChannelSeen{}
	}
	if p.Intents == nil && f.Intents {
		p.Intents = map[string]*Intent{}
	}
	return nil
}

// docScanner walks a JSON document written by AppendProfileDoc.
type docScanner struct {
	b []byte
	i int
}

func (s *docScanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\r', '\n':
			s.i++
		default:
			return
		}
	}
}

// consume skips white space and c, if c is next.
func (s *docScanner) consume(c byte) bool {
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == c {
		s.i++
		return true
	}
	return false
}

// key reads an object key and its colon. The key is the document's own
// bytes, unless it had to be unescaped.
func (s *docScanner) key() ([]byte, bool) {
	s.ws()
	start := s.i
	if s.skipString() != nil {
		return nil, false
	}
	raw := s.b[start:s.i]
	if bytes.IndexByte(raw, '\\') < 0 {
		return raw[1 : len(raw)-1], s.consume(':')
	}
	var k string
	if json.Unmarshal(raw, &k) != nil {
		return nil, false
	}
	return []byte(k), s.consume(':')
}

// among reports whether key is one of names, without converting it.
func among(key []byte, names []string) bool {
	for _, n := range names {
		if string(key) == n {
			return true
		}
	}
	return false
}

// object calls fn for each key of the object that comes next, with the
// scanner at the key's value; fn must read or skip the value.
func (s *docScanner) object(fn func(key []byte) error) error {
	if !s.consume('{') {
		return errDoc
	}
	if s.consume('}') {
		return nil
	}
	for {
		k, ok := s.key()
		if !ok {
			return errDoc
		}
		if err := fn(k); err != nil {
			return err
		}
		if s.consume('}') {
			return nil
		}
		if !s.consume(',') {
			return errDoc
		}
	}
}

// decodeIf decodes the next value into v when want, else skips it.
func (s *docScanner) decodeIf(want bool, v any) error {
	if !want {
		return s.skip()
	}
	raw, err := s.value()
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, v)
}

// value returns the next value's bytes.
func (s *docScanner) value() ([]byte, error) {
	s.ws()
	start := s.i
	if err := s.skip(); err != nil {
		return nil, err
	}
	return s.b[start:s.i], nil
}

// skip moves past the next value.
func (s *docScanner) skip() error {
	s.ws()
	if s.i >= len(s.b) {
		return errDoc
	}
	switch s.b[s.i] {
	case '"':
		return s.skipString()
	case '{', '[':
		depth := 0
		for s.i < len(s.b) {
			switch s.b[s.i] {
			case '"':
				if err := s.skipString(); err != nil {
					return err
				}
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					s.i++
					return nil
				}
			}
			s.i++
		}
		return errDoc
	}
	start := s.i
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ',', '}', ']', ' ', '\t', '\r', '\n':
			if s.i == start {
				return errDoc
			}
			return nil
		}
		s.i++
	}
	return errDoc
}

// skipString moves past the string that starts at the scanner.
func (s *docScanner) skipString() error {
	if s.i >= len(s.b) || s.b[s.i] != '"' {
		return errDoc
	}
	s.i++
	for {
		for s.i < len(s.b) && s.b[s.i] != '"' && s.b[s.i] != '\\' {
			s.i++
		}
		if s.i >= len(s.b) {
			return errDoc
		}
		if s.b[s.i] == '\\' {
			if s.i += 2; s.i > len(s.b) {
				return errDoc
			}
			continue
		}
		s.i++
		return nil
	}
}

// StoredProfile is a current profile as a store keeps it, its document
// not yet decoded: what a scan over everyone reads, to decode only what it
// needs, on as many cores as it likes.
type StoredProfile struct {
	ID         string
	CreatedSeq int64
	CreatedAt  time.Time
	UpdatedAt  time.Time
	Doc        []byte
}

// Decode decodes the asked-for parts of the profile.
func (sp *StoredProfile) Decode(f DocFields) (*Profile, error) {
	p := &Profile{ID: sp.ID, CreatedSeq: sp.CreatedSeq, CreatedAt: sp.CreatedAt, UpdatedAt: sp.UpdatedAt}
	if err := DecodeProfileDocFields(sp.Doc, p, f); err != nil {
		return nil, fmt.Errorf("profile %s: corrupt document: %w", sp.ID, err)
	}
	return p, nil
}

// aggregate reads a computed trait's state: its counts and sums by hand,
// observations and frequencies (rarer, and JSON of their own) with
// encoding/json.
func (s *docScanner) aggregate() (*Aggregate, error) {
	if s.consume('n') { // null
		if s.i+3 > len(s.b) || string(s.b[s.i:s.i+3]) != "ull" {
			return nil, errDoc
		}
		s.i += 3
		return nil, nil
	}
	a := &Aggregate{}
	err := s.object(func(k []byte) error {
		if string(k) != "parts" {
			return s.skip()
		}
		if s.consume('n') {
			if s.i+3 > len(s.b) || string(s.b[s.i:s.i+3]) != "ull" {
				return errDoc
			}
			s.i += 3
			return nil
		}
		if !s.consume('[') {
			return errDoc
		}
		a.Parts = []AggregatePart{}
		if s.consume(']') {
			return nil
		}
		for {
			var p AggregatePart
			err := s.object(func(k []byte) error {
				var err error
				switch string(k) {
				case "t":
					p.T, err = s.int()
				case "n":
					p.N, err = s.int()
				case "sum":
					p.Sum, err = s.float()
				case "min":
					var f float64
					f, err = s.float()
					p.Min = &f
				case "max":
					var f float64
					f, err = s.float()
					p.Max = &f
				case "first":
					err = s.decodeIf(true, &p.First)
				case "last":
					err = s.decodeIf(true, &p.Last)
				case "freq":
					err = s.decodeIf(true, &p.Freq)
				default:
					err = s.skip()
				}
				return err
			})
			if err != nil {
				return err
			}
			a.Parts = append(a.Parts, p)
			if s.consume(']') {
				return nil
			}
			if !s.consume(',') {
				return errDoc
			}
		}
	})
	return a, err
}

func (s *docScanner) int() (int64, error) {
	v, err := s.value()
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(string(v), 10, 64)
}

func (s *docScanner) float() (float64, error) {
	v, err := s.value()
	if err != nil {
		return 0, err
	}
	return strconv.ParseFloat(string(v), 64)
}
