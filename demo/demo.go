package demo

import (
	"iter"
	"slices"
	"sync"
	"time"

	"github.com/kithhq/kith"
)

// Config sizes the demo history.
type Config struct {
	People      int       // ordinary people, besides the named customers; 3000 when 0
	Days        int       // history length in days; 90 when 0
	HeavyEvents int       // events of the heavy app user (see Customers); 10000 when 0
	Seed        int64     // the same Config gives byte-identical messages
	Now         time.Time // the end of the history; required
}

// Defaults of Config.
const (
	DefaultPeople      = 3000
	DefaultDays        = 90
	DefaultHeavyEvents = 10000
)

// withDefaults fills zero (or negative) sizes with the defaults.
func (c Config) withDefaults() Config {
	if c.People <= 0 {
		c.People = DefaultPeople
	}
	if c.Days <= 0 {
		c.Days = DefaultDays
	}
	if c.HeavyEvents <= 0 {
		c.HeavyEvents = DefaultHeavyEvents
	}
	c.Now = c.Now.UTC().Truncate(time.Millisecond)
	return c
}

// SourceSpec is a source the demo sends from: one channel of the business.
type SourceSpec struct {
	Name string
	Kind kith.Kind
}

// Indexes into sources.
const (
	srcWeb = iota
	srcApp
	srcEmail
	srcSMS
	srcCall
	srcStore
	numSources
)

// Source names follow the rule for source names: letters, digits, '.',
// '_' and '-'.
var sources = [numSources]SourceSpec{
	{"demo-website", kith.KindWeb},
	{"demo-app", kith.KindApp},
	{"demo-email", kith.KindEmail},
	{"demo-sms", kith.KindSMS},
	{"demo-call-center", kith.KindCallCenter},
	{"demo-stores", kith.KindStore},
}

// Sources returns the sources the demo sends from, one per channel: web,
// app, e-mail, SMS, call center and the stores' point of sale. Load needs a
// write key for each, by name.
func Sources() []SourceSpec { return slices.Clone(sources[:]) }

// Customer is a named customer of the demo: one person whose history tells a
// story, who resolves to exactly one profile once the history is processed.
type Customer struct {
	Name      string
	Email     string // lower-case, as Kith normalises it
	Phone     string // E.164
	UserID    string // the userId the website and app send
	LoyaltyID string // the membership card number the stores send; "" if none
	// Situation says which situation of DESIGN.md the customer shows, e.g.
	// "situation 3", or what else the customer is for.
	Situation string
	// Story tells, in a few sentences, what the history holds and what an
	// agent or marketer should see.
	Story string
	// Topic is the intent the customer's history points at (as Kith names
	// topics: lower case), "" when none in particular.
	Topic string
}

// The named customers, in the order Customers returns them and the order
// they are generated and loaded (first, so they are ready early).
const (
	custHoop = iota
	custRefinance
	custCarInsurance
	custHeavy
	numNamed
)

var customers = [numNamed]Customer{
	custHoop: {
		Name: "Daniel Okafor", Email: "daniel.okafor@example.com", Phone: "+19254130182",
		UserID: "usr_10000017", LoyaltyID: "111800000017",
		Situation: "situation 1",
		Story: "Researches basketball hoops for over a week: anonymously on his laptop first, then signed in, and in the app on his phone. " +
			"Buys a Lifetime 54 in. portable hoop on the website about five days ago; since then the e-mail platform has sent him only the generic newsletters. " +
			"One profile holds the laptop browsing, the app, the order and the e-mails; his top intent is still \"basketball hoop\".",
		Topic: "basketball hoop",
	},
	custRefinance: {
		Name: "Linda Park", Email: "linda.park@example.net", Phone: "+19254137745",
		UserID: "usr_10000024", LoyaltyID: "",
		Situation: "situation 2",
		Story: "Researches mortgage refinancing on the website over two weeks (rates, calculator, cash-out, closing costs), signs in, " +
			"calls the call center once about refinancing (the call is known only by her phone number) and receives the bank's e-mails (known only by e-mail address). " +
			"Every channel now lands on one profile whose top intent is \"mortgage refinancing\".",
		Topic: "mortgage refinancing",
	},
	custCarInsurance: {
		Name: "Sofia Ramirez", Email: "sofia.ramirez@example.com", Phone: "+19254132876",
		UserID: "usr_10000031", LoyaltyID: "111800000031",
		Situation: "situation 3",
		Story: "A member for years: shops at her warehouse with her membership card, uses the app, reads the newsletters, and called the call center " +
			"about her membership renewal five weeks ago. In the last hour she has been reading about car insurance on the website, signed in. " +
			"When she calls now, looking her up by phone shows \"car insurance\" as her top intent and a timeline across web, app, e-mail, call center and store.",
		Topic: "car insurance",
	},
	custHeavy: {
		Name: "Tom Becker", Email: "tom.becker@example.org", Phone: "+19254136631",
		UserID: "usr_10000048", LoyaltyID: "111800000048",
		Situation: "performance",
		Story: "A very heavy app user: Config.HeavyEvents events (10,000 by default) over the whole history, mostly app screens and tracks, some web pages. " +
			"His profile shows whether lookups, timelines and the console stay fast for a customer with that many events.",
		Topic: "",
	},
}

// Customers returns the named customers. They are the same whatever the
// Config: only the heavy user's number of events depends on it.
func Customers() []Customer { return slices.Clone(customers[:]) }

// Dataset is a demo history, generated on demand: nothing but its
// configuration and the campaign calendar is held in memory.
type Dataset struct {
	cfg        Config
	start, now int64 // the window, Unix milliseconds
	campaigns  []campaign

	countOnce sync.Once
	count     int

	// Load's knobs; tests shorten them.
	batchMessages int           // messages per request at most
	batchBytes    int           // request body size at most
	inFlight      int           // concurrent requests per source
	attempts      int           // tries per request
	backoff       time.Duration // wait before the first retry; doubles
}

// New returns the dataset Config c describes. Zero sizes take the defaults;
// c.Now is required (New panics without it, as the history would not be
// reproducible).
func New(c Config) *Dataset {
	if c.Now.IsZero() {
		panic("demo: Config.Now is required")
	}
	c = c.withDefaults()
	d := &Dataset{
		cfg:           c,
		now:           c.Now.UnixMilli(),
		batchMessages: 200,
		batchBytes:    256 << 10,
		inFlight:      6,
		attempts:      5,
		backoff:       250 * time.Millisecond,
	}
	d.start = d.now - int64(c.Days)*dayMs
	d.campaigns = calendar(d.start, d.now)
	return d
}

// Config returns the dataset's configuration, defaults filled in.
func (d *Dataset) Config() Config { return d.cfg }

// people is how many people the dataset generates: named, then ordinary.
func (d *Dataset) people() int { return numNamed + d.cfg.People }

// Events returns the exact number of messages Load sends. The first call
// plans every person's history (without rendering it), which takes a
// fraction of a second for the default size.
func (d *Dataset) Events() int {
	d.countOnce.Do(func() {
		g := newGen(d)
		for p := range d.people() {
			d.count += len(g.plan(p))
		}
	})
	return d.count
}

// Messages yields every message Load sends, in the order it generates them,
// with the source each goes to. The bytes are valid only until the next
// iteration: copy them to keep them.
func (d *Dataset) Messages() iter.Seq2[SourceSpec, []byte] {
	return func(yield func(SourceSpec, []byte) bool) {
		g := newGen(d)
		var buf []byte
		for p := range d.people() {
			msgs := g.plan(p)
			for j := range msgs {
				buf = g.render(buf[:0], &msgs[j], j)
				if !yield(sources[msgs[j].src], buf) {
					return
				}
			}
		}
	}
}

// CustomerMessages yields the messages of one named customer (an index into
// Customers), as Messages would, for tests that check a story.
func (d *Dataset) CustomerMessages(i int) iter.Seq2[SourceSpec, []byte] {
	return func(yield func(SourceSpec, []byte) bool) {
		if i < 0 || i >= numNamed {
			return
		}
		g := newGen(d)
		msgs := g.plan(i)
		var buf []byte
		for j := range msgs {
			buf = g.render(buf[:0], &msgs[j], j)
			if !yield(sources[msgs[j].src], buf) {
				return
			}
		}
	}
}
