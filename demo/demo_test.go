package demo

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"math"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/kithhq/kith"
)

var testNow = time.Date(2026, 3, 14, 18, 30, 15, 0, time.UTC)

// small is a dataset big enough to hold every kind of person, small enough
// for fast tests.
func small() Config {
	return Config{People: 300, HeavyEvents: 1500, Seed: 7, Now: testNow}
}

// wireMsg is what the tests read of a generated message.
type wireMsg struct {
	Type        string         `json:"type"`
	MessageID   string         `json:"messageId"`
	Timestamp   time.Time      `json:"timestamp"`
	SentAt      *string        `json:"sentAt"`
	UserID      string         `json:"userId"`
	AnonymousID string         `json:"anonymousId"`
	Event       string         `json:"event"`
	Name        string         `json:"name"`
	Traits      map[string]any `json:"traits"`
	Properties  map[string]any `json:"properties"`
	Context     struct {
		Traits map[string]string `json:"traits"`
		Page   struct {
			Path string `json:"path"`
			URL  string `json:"url"`
		} `json:"page"`
		Device struct {
			ID string `json:"id"`
		} `json:"device"`
	} `json:"context"`

	source SourceSpec
	size   int
}

func (m *wireMsg) prop(k string) string {
	s, _ := m.Properties[k].(string)
	return s
}

// person returns the person index in the message's id: demo-<seed>-<p>-<j>.
func (m *wireMsg) person(t *testing.T) int {
	t.Helper()
	f := strings.Split(m.MessageID, "-")
	p, err := strconv.Atoi(f[len(f)-2])
	if err != nil {
		t.Fatalf("messageId %q: %v", m.MessageID, err)
	}
	return p
}

func decode(t *testing.T, src SourceSpec, b []byte) wireMsg {
	t.Helper()
	var m wireMsg
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s message is not valid JSON: %v\n%s", src.Name, err, b)
	}
	m.source, m.size = src, len(b)
	return m
}

func all(t *testing.T, d *Dataset) []wireMsg {
	t.Helper()
	var out []wireMsg
	for src, b := range d.Messages() {
		out = append(out, decode(t, src, b))
	}
	return out
}

func customerMessages(t *testing.T, d *Dataset, i int) []wireMsg {
	t.Helper()
	var out []wireMsg
	for src, b := range d.CustomerMessages(i) {
		out = append(out, decode(t, src, b))
	}
	return out
}

func digest(d *Dataset) (sum [32]byte, n int) {
	h := sha256.New()
	for src, b := range d.Messages() {
		h.Write([]byte(src.Name))
		h.Write(b)
		n++
	}
	copy(sum[:], h.Sum(nil))
	return sum, n
}

func TestDeterministic(t *testing.T) {
	a, n := digest(New(small()))
	b, m := digest(New(small()))
	if a != b || n != m {
		t.Fatalf("two datasets of one Config differ: %d messages %x, %d messages %x", n, a, m, b)
	}
	other := small()
	other.Seed++
	if c, _ := digest(New(other)); c == a {
		t.Error("another seed gave the same messages")
	}
}

func TestEventsCountsMessages(t *testing.T) {
	for _, c := range []Config{small(), {People: 10, HeavyEvents: 1, Days: 3, Seed: -4, Now: testNow}} {
		d := New(c)
		_, n := digest(d)
		if d.Events() != n {
			t.Errorf("%+v: Events() = %d, Messages yields %d", c, d.Events(), n)
		}
	}
}

func TestDefaults(t *testing.T) {
	d := New(Config{Now: testNow})
	c := d.Config()
	if c.People != DefaultPeople || c.Days != DefaultDays || c.HeavyEvents != DefaultHeavyEvents {
		t.Errorf("defaults: %+v", c)
	}
	n := d.Events()
	t.Logf("default dataset: %d people (+%d named), %d messages", c.People, numNamed, n)
	if n < 100_000 || n > 250_000 {
		t.Errorf("default dataset has %d messages; want a living system of 100k-250k", n)
	}
}

func TestNewWithoutNowPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("New without Now did not panic")
		}
	}()
	New(Config{})
}

var (
	e164     = regexp.MustCompile(`^\+1[2-9]\d{2}[2-9]\d{6}$`)
	typedUS  = regexp.MustCompile(`^(\+1[2-9]\d{2}[2-9]\d{6}|\([2-9]\d{2}\) [2-9]\d{2}-\d{4}|[2-9]\d{2}-[2-9]\d{2}-\d{4})$`)
	fakeMail = regexp.MustCompile(`^[a-z0-9._]+@example\.(com|net|org)$`)
)

// TestMessages checks what the ingestion API and identity extraction need
// of every message, per channel.
func TestMessages(t *testing.T) {
	cfg := small()
	d := New(cfg)
	from := cfg.Now.Add(-time.Duration(d.Config().Days) * 24 * time.Hour)
	ids := map[string]bool{}
	perSource := map[kith.Kind]int{}
	userOf := map[string]int{}    // userId -> person
	loyaltyOf := map[string]int{} // loyalty_id -> person
	emailOf := map[string]int{}
	for _, m := range all(t, d) {
		kind := m.source.Kind
		perSource[kind]++
		if m.size > 32*1024 {
			t.Errorf("%s is %d bytes; the limit is 32 KB", m.MessageID, m.size)
		}
		if !strings.HasPrefix(m.MessageID, "demo-7-") || ids[m.MessageID] {
			t.Errorf("messageId %q missing, malformed or repeated", m.MessageID)
		}
		ids[m.MessageID] = true
		if m.Timestamp.Before(from) || m.Timestamp.After(cfg.Now) {
			t.Errorf("%s at %s: outside [%s, %s]", m.MessageID, m.Timestamp, from, cfg.Now)
		}
		if m.SentAt != nil {
			t.Errorf("%s has sentAt", m.MessageID)
		}
		if m.AnonymousID == "" {
			t.Errorf("%s has no anonymousId", m.MessageID)
		}
		switch m.Type {
		case "track":
			if m.Event == "" {
				t.Errorf("%s: track without event", m.MessageID)
			}
		case "page", "screen":
			if m.Name == "" {
				t.Errorf("%s: %s without name", m.MessageID, m.Type)
			}
		case "identify":
			email, _ := m.Traits["email"].(string)
			phone, _ := m.Traits["phone"].(string)
			if !fakeMail.MatchString(strings.ToLower(email)) || !typedUS.MatchString(phone) || m.Traits["name"] == nil || m.UserID == "" {
				t.Errorf("%s: identify traits %v", m.MessageID, m.Traits)
			}
			p := m.person(t)
			for k, owners := range map[string]map[string]int{m.UserID: userOf, strings.ToLower(email): emailOf} {
				if q, ok := owners[k]; ok && q != p {
					t.Errorf("%s is used by persons %d and %d", k, q, p)
				}
				owners[k] = p
			}
			if l, ok := m.Traits["loyalty_id"].(string); ok {
				if q, ok := loyaltyOf[l]; ok && q != p {
					t.Errorf("loyalty_id %s is used by persons %d and %d", l, q, p)
				}
				loyaltyOf[l] = p
			}
		default:
			t.Errorf("%s: type %q", m.MessageID, m.Type)
		}
		// The channels that know one contact point send it, alone, in
		// context.traits: where identity extraction reads it on a track call.
		var key string
		switch kind {
		case kith.KindWeb, kith.KindApp:
			if m.Type != "identify" && len(m.Context.Traits) > 0 {
				t.Errorf("%s: %s message with context.traits %v", m.MessageID, kind, m.Context.Traits)
			}
			if kind == kith.KindApp && m.Context.Device.ID == "" {
				t.Errorf("%s: app message without context.device.id", m.MessageID)
			}
			if kind == kith.KindWeb && m.Context.Page.Path == "" {
				t.Errorf("%s: web message without context.page", m.MessageID)
			}
			continue
		case kith.KindEmail:
			key = "email"
			if !fakeMail.MatchString(m.Context.Traits[key]) {
				t.Errorf("%s: e-mail %q", m.MessageID, m.Context.Traits[key])
			}
		case kith.KindSMS, kith.KindCallCenter:
			key = "phone"
			if !e164.MatchString(m.Context.Traits[key]) {
				t.Errorf("%s: phone %q", m.MessageID, m.Context.Traits[key])
			}
		case kith.KindStore:
			key = "loyalty_id"
		}
		if m.Type != "track" || m.UserID != "" || len(m.Context.Traits) != 1 || m.Context.Traits[key] == "" {
			t.Errorf("%s: a %s message must be a track keyed by %s alone: userId %q, context.traits %v",
				m.MessageID, kind, key, m.UserID, m.Context.Traits)
		}
	}
	for _, s := range Sources() {
		if perSource[s.Kind] == 0 {
			t.Errorf("no message from source %s", s.Name)
		}
	}
	t.Logf("messages per channel: %v", perSource)
}

func TestActivityIsLongTailed(t *testing.T) {
	d := New(small())
	g := newGen(d)
	var counts []int
	for p := numNamed; p < d.people(); p++ {
		counts = append(counts, len(g.plan(p)))
	}
	sort.Ints(counts)
	q := func(f float64) int { return counts[int(f*float64(len(counts)-1))] }
	t.Logf("messages per person: p10 %d, median %d, p90 %d, p99 %d, max %d", q(.1), q(.5), q(.9), q(.99), q(1))
	if q(.1) < 1 || q(.5) < 5 || q(.5) > 60 || q(1) < 200 {
		t.Errorf("want most people with 5-60 messages and a few with hundreds")
	}
}

func TestSources(t *testing.T) {
	kinds := map[kith.Kind]bool{}
	names := regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`) // what Kith accepts as a source name
	for _, s := range Sources() {
		if !names.MatchString(s.Name) {
			t.Errorf("source name %q is not one Kith accepts", s.Name)
		}
		if _, err := kith.ParseKind(string(s.Kind)); err != nil {
			t.Error(err)
		}
		kinds[s.Kind] = true
	}
	for _, k := range []kith.Kind{kith.KindWeb, kith.KindApp, kith.KindEmail, kith.KindSMS, kith.KindCallCenter, kith.KindStore} {
		if !kinds[k] {
			t.Errorf("no %s source", k)
		}
	}
}

// TestCustomers checks that each named customer's messages carry the
// identifiers Customers gives, and nobody else's do.
func TestCustomers(t *testing.T) {
	d := New(small())
	cs := Customers()
	if len(cs) != numNamed {
		t.Fatalf("%d customers", len(cs))
	}
	for i, c := range cs {
		if !fakeMail.MatchString(c.Email) || !e164.MatchString(c.Phone) || c.UserID == "" || c.Name == "" || c.Story == "" || c.Situation == "" {
			t.Errorf("customer %+v", c)
		}
		seen := map[string]bool{}
		for _, m := range customerMessages(t, d, i) {
			if m.person(t) != i {
				t.Errorf("%s in customer %d's messages", m.MessageID, i)
			}
			if m.UserID != "" && m.UserID != c.UserID {
				t.Errorf("%s: userId %s, want %s", m.MessageID, m.UserID, c.UserID)
			}
			if m.Type == "identify" {
				want := map[string]any{"email": c.Email, "name": c.Name}
				if c.LoyaltyID != "" {
					want["loyalty_id"] = c.LoyaltyID
				}
				got := map[string]any{}
				for k := range want {
					got[k] = m.Traits[k]
				}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("%s identify traits (-want +got):\n%s", c.Name, diff)
				}
				digits := regexp.MustCompile(`\D`).ReplaceAllString(m.Traits["phone"].(string), "")
				if "+1"+digits[len(digits)-10:] != c.Phone {
					t.Errorf("%s identify phone %v, want %s", c.Name, m.Traits["phone"], c.Phone)
				}
			}
			for k, v := range m.Context.Traits {
				if want := map[string]string{"email": c.Email, "phone": c.Phone, "loyalty_id": c.LoyaltyID}[k]; v != want {
					t.Errorf("%s: context.traits.%s = %q, want %q", m.MessageID, k, v, want)
				}
			}
			seen[string(m.source.Kind)] = true
		}
		if !seen["web"] || i != custHeavy && !seen["email"] {
			t.Errorf("%s: channels %v", c.Name, seen)
		}
	}
	// Nobody else uses a named customer's identifiers.
	named := map[string]bool{}
	for _, c := range cs {
		named[c.Email], named[c.Phone], named[c.UserID] = true, true, true
		if c.LoyaltyID != "" {
			named[c.LoyaltyID] = true
		}
	}
	for _, m := range all(t, d) {
		if m.person(t) < numNamed {
			continue
		}
		for _, v := range []string{m.UserID, m.Context.Traits["email"], m.Context.Traits["phone"], m.Context.Traits["loyalty_id"]} {
			if named[v] {
				t.Errorf("%s of an ordinary person carries %s", m.MessageID, v)
			}
		}
	}
}

// topicRules are the intent rules of Kith's default configuration.
var topicRules = []struct{ prefix, topic string }{
	{"/insurance/car", "car insurance"}, {"/insurance/home", "home insurance"},
	{"/mortgages/refinanc", "mortgage refinancing"}, {"/sports/basketball/hoop", "basketball hoop"},
}

// topics returns the intent topics a message signals, as Kith's default
// intent configuration infers them: page path rules and properties.category.
func (m *wireMsg) topics() []string {
	path := m.prop("path")
	if path == "" {
		path = m.Context.Page.Path
	}
	if path == "" {
		u := m.prop("url")
		if u == "" {
			u = m.Context.Page.URL
		}
		if pu, err := url.Parse(u); err == nil {
			path = pu.Path
		}
	}
	set := map[string]bool{}
	for _, r := range topicRules {
		if path != "" && strings.HasPrefix(path, r.prefix) {
			set[r.topic] = true
		}
	}
	if c := m.prop("category"); c != "" {
		set[strings.ToLower(c)] = true
	}
	var out []string
	for t := range set {
		out = append(out, t)
	}
	return out
}

// topIntent returns the strongest topic at now with a 3-day half-life.
func topIntent(msgs []wireMsg, now time.Time) (string, map[string]float64) {
	score := map[string]float64{}
	for _, m := range msgs {
		for _, topic := range m.topics() {
			score[topic] += math.Exp2(-now.Sub(m.Timestamp).Hours() / 72)
		}
	}
	top := ""
	for topic, s := range score {
		if top == "" || s > score[top] {
			top = topic
		}
	}
	return top, score
}

func TestCustomerTopics(t *testing.T) {
	d := New(small())
	for i, c := range Customers() {
		if c.Topic == "" {
			continue
		}
		top, scores := topIntent(customerMessages(t, d, i), testNow)
		if top != c.Topic {
			t.Errorf("%s: top intent %q (%v), want %q", c.Name, top, scores, c.Topic)
		}
	}
}

// identifiedAnon returns the anonymous ids an identify with the customer's
// e-mail and phone joined to a user id.
func identifiedAnon(msgs []wireMsg, c Customer) map[string]time.Time {
	out := map[string]time.Time{}
	for _, m := range msgs {
		if m.Type == "identify" && m.UserID == c.UserID && m.Traits["email"] == c.Email && m.Traits["phone"] != nil {
			if _, ok := out[m.AnonymousID]; !ok {
				out[m.AnonymousID] = m.Timestamp
			}
		}
	}
	return out
}

func TestSituation1HoopShopper(t *testing.T) {
	c := Customers()[custHoop]
	msgs := customerMessages(t, New(small()), custHoop)
	signedIn := identifiedAnon(msgs, c)
	var anonHoopPages, appHoop int
	var order time.Time
	for _, m := range msgs {
		switch {
		case m.source.Kind == kith.KindWeb && m.Type == "page" && strings.HasPrefix(m.prop("path"), "/sports/basketball/hoop"):
			if at, ok := signedIn[m.AnonymousID]; ok && m.UserID == "" && m.Timestamp.Before(at) {
				anonHoopPages++
			}
		case m.source.Kind == kith.KindApp && m.prop("category") == "Basketball Hoop":
			appHoop++
		case m.Event == "Order Completed" && m.source.Kind == kith.KindWeb:
			products, _ := m.Properties["products"].([]any)
			if len(products) == 1 && products[0].(map[string]any)["category"] == "Basketball Hoop" {
				order = m.Timestamp
			}
		}
	}
	if anonHoopPages < 5 || appHoop < 3 || order.IsZero() {
		t.Fatalf("want anonymous hoop pages on the laptop later signed in (%d), hoops in the app (%d), a hoop order (%v)", anonHoopPages, appHoop, order)
	}
	emails := 0
	for _, m := range msgs {
		if m.Timestamp.After(order) {
			if m.source.Kind != kith.KindEmail {
				t.Errorf("after the order, a %s message: %s %s", m.source.Kind, m.Type, m.Event)
			}
			emails++
		}
	}
	if emails == 0 {
		t.Error("no e-mail after the order")
	}
}

func TestSituation2Refinancing(t *testing.T) {
	c := Customers()[custRefinance]
	msgs := customerMessages(t, New(small()), custRefinance)
	var first, last time.Time
	calls, emails := 0, 0
	for _, m := range msgs {
		switch m.source.Kind {
		case kith.KindWeb:
			if m.Type == "page" && strings.HasPrefix(m.prop("path"), "/mortgages/refinanc") {
				if first.IsZero() {
					first = m.Timestamp
				}
				last = m.Timestamp
			}
		case kith.KindCallCenter:
			if m.Event == "Call Started" && m.prop("category") == "Mortgage Refinancing" && m.Context.Traits["phone"] == c.Phone {
				calls++
			}
		case kith.KindEmail:
			emails++
		}
	}
	if days := last.Sub(first).Hours() / 24; days < 12 || days > 16 {
		t.Errorf("refinancing research spans %.1f days; want about two weeks", days)
	}
	if calls != 1 || emails == 0 || len(identifiedAnon(msgs, c)) == 0 {
		t.Errorf("%d refinancing calls (want 1), %d e-mails, identify with e-mail and phone %v", calls, emails, identifiedAnon(msgs, c))
	}
}

func TestSituation3CarInsurance(t *testing.T) {
	c := Customers()[custCarInsurance]
	msgs := customerMessages(t, New(small()), custCarInsurance)
	signedIn := identifiedAnon(msgs, c)
	hourAgo := testNow.Add(-time.Hour)
	carPages, calls, storeOrders := 0, 0, 0
	loyaltyLinked := false
	channels := map[kith.Kind]bool{}
	for _, m := range msgs {
		channels[m.source.Kind] = true
		switch {
		case m.Type == "page" && strings.HasPrefix(m.prop("path"), "/insurance/car"):
			_, known := signedIn[m.AnonymousID]
			if m.Timestamp.After(hourAgo) && (m.UserID == c.UserID || known) {
				carPages++
			}
		case m.Event == "Call Started":
			if m.Timestamp.Before(hourAgo) && m.Context.Traits["phone"] == c.Phone && m.UserID == "" {
				calls++
			}
		case m.Event == "Order Completed" && m.source.Kind == kith.KindStore:
			if m.Context.Traits["loyalty_id"] == c.LoyaltyID {
				storeOrders++
			}
		case m.Type == "identify":
			loyaltyLinked = loyaltyLinked || m.Traits["loyalty_id"] == c.LoyaltyID
		}
	}
	if carPages < 5 {
		t.Errorf("%d car insurance pages in the last hour by the signed-in member; want several", carPages)
	}
	if calls == 0 || storeOrders == 0 || !loyaltyLinked {
		t.Errorf("calls by phone %d, store orders by card %d, card in an identify %v", calls, storeOrders, loyaltyLinked)
	}
	for _, k := range []kith.Kind{kith.KindWeb, kith.KindApp, kith.KindEmail, kith.KindCallCenter, kith.KindStore} {
		if !channels[k] {
			t.Errorf("no %s in her history", k)
		}
	}
}

func TestHeavyUser(t *testing.T) {
	for _, n := range []int{1, 2, 3, 86, 1500} {
		c := small()
		c.HeavyEvents = n
		msgs := customerMessages(t, New(c), custHeavy)
		if len(msgs) != n {
			t.Errorf("HeavyEvents %d: the heavy user has %d messages", n, len(msgs))
		}
		app, identified := 0, false
		for _, m := range msgs {
			if m.source.Kind == kith.KindApp {
				app++
			}
			identified = identified || m.Type == "identify"
		}
		if !identified {
			t.Errorf("HeavyEvents %d: no identify", n)
		}
		if n >= 1500 && app < n*3/4 {
			t.Errorf("HeavyEvents %d: %d app messages; want mostly app", n, app)
		}
	}
}

func TestShortHistory(t *testing.T) {
	c := Config{People: 100, Days: 2, HeavyEvents: 500, Seed: 3, Now: testNow}
	d := New(c)
	from := testNow.Add(-48 * time.Hour)
	n := 0
	for _, m := range all(t, d) {
		if m.Timestamp.Before(from) || m.Timestamp.After(testNow) {
			t.Errorf("%s at %s: outside the two days", m.MessageID, m.Timestamp)
		}
		n++
	}
	if n != d.Events() {
		t.Errorf("Events() %d, messages %d", d.Events(), n)
	}
	if h := len(customerMessages(t, d, custHeavy)); h != 500 {
		t.Errorf("heavy user: %d messages, want 500", h)
	}
}

func TestAppendStr(t *testing.T) {
	for _, s := range []string{"", "plain", `quote " and \ backslash`, "tab\tnew\nline\x01", "O'Brien", "José Ñúñez 日本"} {
		var got string
		if err := json.Unmarshal(appendStr(nil, s), &got); err != nil || got != s {
			t.Errorf("appendStr(%q) = %s: %v", s, appendStr(nil, s), err)
		}
	}
	for cents, want := range map[int64]string{0: "0.00", 5: "0.05", 34999: "349.99", 100: "1.00", -250: "-2.50"} {
		if got := string(appendCents(nil, cents)); got != want {
			t.Errorf("appendCents(%d) = %s, want %s", cents, got, want)
		}
	}
}

func BenchmarkGenerate(b *testing.B) {
	d := New(Config{People: 2000, HeavyEvents: 5000, Seed: 1, Now: testNow})
	n, bytes := 0, 0
	for b.Loop() {
		for _, msg := range d.Messages() {
			n++
			bytes += len(msg)
		}
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "messages/s")
	b.ReportMetric(float64(bytes)/float64(n), "bytes/message")
}

func BenchmarkProduce(b *testing.B) {
	d := New(Config{People: 2000, HeavyEvents: 5000, Seed: 1, Now: testNow})
	n := 0
	var spare []byte
	for b.Loop() {
		d.produce(context.Background(), func(bt *batch) bool {
			n += bt.n
			spare = bt.body[:0]
			return true
		}, func() []byte {
			if spare != nil {
				s := spare
				spare = nil
				return s
			}
			return make([]byte, 0, d.batchBytes)
		})
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "messages/s")
}
