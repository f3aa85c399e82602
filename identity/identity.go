// Package identity recognises people: it extracts typed identifiers from an
// event, normalises them (e-mail lower-cased, phone to E.164), and holds the
// merge rules that decide when two profiles are one person.
package identity

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/mail"
	"sort"
	"strconv"
	"strings"

	"github.com/kithhq/kith"
	"github.com/nyaruka/phonenumbers"
)

// Rule is how identifiers of one type behave.
type Rule struct {
	// Unique: a profile holds at most one value of this type. An event that
	// would join two different values does not merge; it is a conflict.
	Unique bool `json:"unique"`
	// Max caps how many values of this type one profile holds (0: no cap).
	Max int `json:"max"`
	// NoLink: identifiers of this type are kept on the profile and can be
	// looked up, but never decide which profile an event belongs to.
	NoLink bool `json:"no_link"`
	// Priority orders types when an event carries several: the profile
	// holding the highest-priority identifier is the event's first choice.
	Priority int `json:"priority"`
}

// Config is the identity configuration.
type Config struct {
	// DefaultRegion is the ISO 3166 region for phone numbers written
	// without a country code, e.g. "US".
	DefaultRegion string `json:"default_region"`
	// CustomTypes are trait names that are identifiers in their own right.
	CustomTypes []string `json:"custom_types"`
	// Rules per identifier type; types without a rule get DefaultRule.
	Rules map[string]Rule `json:"rules"`
}

// DefaultRule applies to identifier types that have no rule.
var DefaultRule = Rule{Priority: 10}

// DefaultConfig returns the documented defaults: one user_id per profile,
// at most 5 e-mails and 5 phones, loyalty and WeChat ids unique, device ids
// recorded but not linking (a family tablet is not a person).
func DefaultConfig() Config {
	return Config{
		DefaultRegion: "US",
		CustomTypes:   []string{"loyalty_id", "wechat_openid"},
		Rules: map[string]Rule{
			kith.IDUserID:      {Unique: true, Priority: 100},
			"loyalty_id":       {Unique: true, Priority: 90},
			"wechat_openid":    {Unique: true, Priority: 90},
			kith.IDEmail:       {Max: 5, Priority: 50},
			kith.IDPhone:       {Max: 5, Priority: 40},
			kith.IDAnonymousID: {Priority: 20},
			kith.IDDeviceID:    {NoLink: true, Priority: 10},
		},
	}
}

// Validate checks the configuration.
func (c Config) Validate() error {
	if phonenumbers.GetCountryCodeForRegion(strings.ToUpper(c.DefaultRegion)) == 0 {
		return kith.Invalid("identity.default_region", "unknown region %q; use an ISO 3166 code such as US or GB", c.DefaultRegion)
	}
	for t, r := range c.Rules {
		if r.Max < 0 {
			return kith.Invalid("identity.rules."+t+".max", "must not be negative")
		}
	}
	return nil
}

// Rule returns the rule for an identifier type.
func (c Config) Rule(typ string) Rule {
	if r, ok := c.Rules[typ]; ok {
		return r
	}
	return DefaultRule
}

// Types returns every identifier type Kith knows of, for lookups.
func (c Config) Types() []string {
	types := []string{kith.IDUserID, kith.IDAnonymousID, kith.IDEmail, kith.IDPhone, kith.IDDeviceID}
	return append(types, c.CustomTypes...)
}

// IsType reports whether typ is a known identifier type.
func (c Config) IsType(typ string) bool {
	for _, t := range c.Types() {
		if t == typ {
			return true
		}
	}
	return false
}

// Signals are the parts of an event that can carry identifiers.
type Signals struct {
	UserID, AnonymousID string
	PreviousID          string                     // alias calls
	Traits              map[string]json.RawMessage // traits, then context.traits
	ContextTraits       map[string]json.RawMessage
	DeviceID            string
}

// Extract returns the normalised identifiers in s, highest priority first,
// and a warning for each value that could not be normalised.
func (c Config) Extract(s Signals) (ids []kith.Identifier, warnings []string) {
	seen := map[kith.Identifier]bool{}
	add := func(typ, raw string, norm func(string) (string, error)) {
		if raw == "" {
			return
		}
		v := raw
		if norm != nil {
			var err error
			if v, err = norm(raw); err != nil {
				warnings = append(warnings, fmt.Sprintf("%s %q ignored: %v", typ, raw, err))
				return
			}
		}
		id := kith.Identifier{Type: typ, Value: v}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	add(kith.IDUserID, s.UserID, nil)
	add(kith.IDAnonymousID, s.AnonymousID, nil)
	add(kith.IDDeviceID, s.DeviceID, nil)
	for _, traits := range []map[string]json.RawMessage{s.Traits, s.ContextTraits} {
		if v, ok := stringTrait(traits, "email"); ok {
			add(kith.IDEmail, v, NormalizeEmail)
		}
		if v, ok := stringTrait(traits, "phone"); ok {
			add(kith.IDPhone, v, func(p string) (string, error) { return NormalizePhone(p, c.DefaultRegion) })
		}
		for _, t := range c.CustomTypes {
			if v, ok := stringTrait(traits, t); ok {
				add(t, strings.TrimSpace(v), nil)
			}
		}
	}
	sort.SliceStable(ids, func(i, j int) bool { return c.Rule(ids[i].Type).Priority > c.Rule(ids[j].Type).Priority })
	return ids, warnings
}

// stringTrait reads a trait that is a string or a number.
func stringTrait(traits map[string]json.RawMessage, name string) (string, bool) {
	raw, ok := traits[name]
	if !ok || len(raw) == 0 {
		return "", false
	}
	raw = bytes.TrimSpace(raw)
	switch {
	case raw[0] == '"':
		var s string
		if json.Unmarshal(raw, &s) != nil || strings.TrimSpace(s) == "" {
			return "", false
		}
		return s, true
	case raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9':
		return string(raw), true
	}
	return "", false
}

// NormalizeEmail trims and lower-cases an e-mail address and checks its shape.
func NormalizeEmail(s string) (string, error) {
	s = strings.ToLower(strings.TrimSpace(s))
	if len(s) > 254 {
		return "", fmt.Errorf("longer than 254 characters")
	}
	if plainEmail(s) {
		return s, nil
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || !strings.Contains(s[strings.LastIndexByte(s, '@')+1:], ".") {
		return "", fmt.Errorf("not an e-mail address")
	}
	return s, nil
}

// plainEmail reports whether s is an address of the plainest shape —
// lower-case letters, digits and ._%+- before the @, letters, digits and
// hyphens in dot-separated labels after it, with a dot — which the full
// check (net/mail, ten times slower) accepts as it is.
func plainEmail(s string) bool {
	at := strings.IndexByte(s, '@')
	if at <= 0 || at == len(s)-1 {
		return false
	}
	local, domain := s[:at], s[at+1:]
	if !dotted(local, "._%+-") || !dotted(domain, "-") || !strings.Contains(domain, ".") {
		return false
	}
	return true
}

// dotted reports whether s is non-empty labels of a-z, 0-9 and the bytes
// of extra, separated by single dots.
func dotted(s, extra string) bool {
	if s == "" || s[0] == '.' || s[len(s)-1] == '.' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '.':
			if s[i-1] == '.' {
				return false
			}
		case strings.IndexByte(extra, c) >= 0:
		default:
			return false
		}
	}
	return true
}

// NormalizePhone returns a phone number in E.164 form, reading numbers
// without a country code as numbers of region.
func NormalizePhone(s, region string) (string, error) {
	if normalizedPhone(s) {
		return s, nil
	}
	if e164, ok := spacedE164(s); ok && normalizedPhone(e164) {
		return e164, nil
	}
	return parsePhone(s, region)
}

// spacedE164 returns a number written with a "+", digits and single
// spaces or hyphens between them ("+1 415-555-0199") without the spaces
// and hyphens: what parsing would read from it.
func spacedE164(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if len(s) < 3 || len(s) > 32 || s[0] != '+' {
		return "", false
	}
	b := make([]byte, 1, len(s))
	b[0] = '+'
	for i := 1; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			b = append(b, c)
		case (c == ' ' || c == '-') && s[i-1] >= '0' && s[i-1] <= '9' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
		default:
			return "", false
		}
	}
	return string(b), true
}

// parsePhone is NormalizePhone the long way: parse, validate, format.
func parsePhone(s, region string) (string, error) {
	s = strings.TrimSpace(s)
	if strings.HasPrefix(s, "00") {
		s = "+" + s[2:]
	}
	n, err := phonenumbers.Parse(s, strings.ToUpper(region))
	if err != nil {
		return "", fmt.Errorf("not a phone number: %v", err)
	}
	if !phonenumbers.IsValidNumber(n) {
		return "", fmt.Errorf("not a valid phone number")
	}
	return phonenumbers.Format(n, phonenumbers.E164), nil
}

// normalizedPhone reports whether s is a valid phone number already in
// E.164 form, which NormalizePhone returns as it is. It skips parsing, the
// larger part of the cost: events carry numbers normalised when an import
// read them or when a client sent them so, and every event is read again.
// A number it cannot vouch for (not "+" and digits, a national number
// with a leading zero) is left to the full path.
func normalizedPhone(s string) bool {
	if len(s) < 8 || len(s) > 16 || s[0] != '+' || s[1] == '0' {
		return false
	}
	if validNumbers.has(s) {
		return true
	}
	if !validE164(s) {
		return false
	}
	validNumbers.add(s)
	return true
}

// validE164 is normalizedPhone without the memo.
func validE164(s string) bool {
	for i := 1; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	for n := 1; n <= 3; n++ { // calling codes are prefix-free
		cc, _ := strconv.Atoi(s[1 : 1+n])
		if phonenumbers.GetRegionCodeForCountryCode(cc) == phonenumbers.UNKNOWN_REGION {
			continue
		}
		if s[1+n] == '0' {
			return false
		}
		nn, err := strconv.ParseUint(s[1+n:], 10, 64)
		if err != nil {
			return false
		}
		cc32 := int32(cc)
		num := &phonenumbers.PhoneNumber{CountryCode: &cc32, NationalNumber: &nn}
		return phonenumbers.IsValidNumber(num) && phonenumbers.Format(num, phonenumbers.E164) == s
	}
	return false
}

// Normalize normalises a value of the given type as Extract would, for
// lookups by identifier.
func (c Config) Normalize(typ, v string) (string, error) {
	switch typ {
	case kith.IDEmail:
		return NormalizeEmail(v)
	case kith.IDPhone:
		return NormalizePhone(v, c.DefaultRegion)
	}
	v = strings.TrimSpace(v)
	if v == "" {
		return "", fmt.Errorf("empty")
	}
	return v, nil
}

// CountryCode returns the calling code of the default region ("1" for US).
func (c Config) CountryCode() string {
	if cc := phonenumbers.GetCountryCodeForRegion(strings.ToUpper(c.DefaultRegion)); cc > 0 {
		return strconv.Itoa(cc)
	}
	return ""
}
