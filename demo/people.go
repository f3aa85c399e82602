package demo

import (
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"
)

const (
	secMs  = int64(time.Second / time.Millisecond)
	minMs  = 60 * secMs
	hourMs = 60 * minMs
	dayMs  = 24 * hourMs
)

// op is what a planned message is: it decides how render writes it.
type op uint8

const (
	opPage             op = iota // a: page, b: referrer kind, c: previous page
	opScreen                     // a: screen, b: product (-1 for none), c: section for scCategory
	opIdentify                   // web or app, by src
	opProductViewed              // a: product, c: page (web)
	opProductAdded               // a: product, b: quantity, c: page (web)
	opCheckoutStarted            // a: product, b: quantity, c: order number
	opOrderCompleted             // a: product, b: quantity, c: order number
	opQuoteStarted               // a: section, c: page (web)
	opProductsSearched           // a: search
	opAppInstalled               //
	opAppOpened                  //
	opCouponClipped              // a: grocery
	opEmail                      // a: campaign, b: stage (delivered, opened, clicked)
	opSMS                        // a: campaign, b: stage (sent, delivered, clicked)
	opCallStarted                // a: reason, c: call number, d: duration in seconds
	opCallEnded                  // same as opCallStarted
	opStoreVisit                 // a: warehouse
	opStoreOrder                 // a: warehouse, b: items, c: order number, d: product bought besides groceries (-1)
)

// Referrer kinds of a page.
const (
	refNone = iota
	refGoogle
	refBing
	refFacebook
	refInternal // the previous page, in c
	refEmail
)

// msg is one planned message: small, so a person's history is cheap to plan
// and sort; render turns it into JSON.
type msg struct {
	at         int64 // Unix milliseconds
	a, b, c, d int32
	op         op
	src        uint8 // into sources
	dev        uint8 // the person's browser (web) or phone (app)
	user       bool  // signed in: carries userId
}

// browser is a web browser a person uses; phone is a phone with the app.
type browser struct {
	anon, ip string
	ua       int
	in       bool // signed in (while planning)
}

type phone struct {
	anon, id, ip string
	model        int
	in           bool // signed in (while planning)
}

// person is who one history belongs to.
type person struct {
	p            int // index: named customers first
	first, last  string
	email        string // as the person typed it (identify traits)
	emailLower   string // as the e-mail platform knows it
	phone        string // E.164, as the call center and SMS gateway see it
	phoneTyped   string // as the person typed it
	userID       string
	loyalty      string
	linkLoyalty  bool // the identify calls carry loyalty_id
	region       int
	tier, since  string
	browsers     []browser
	phones       []phone
	espID, smsID string
}

// gen plans and renders histories. One gen serves one goroutine.
type gen struct {
	d      *Dataset
	pcg    rand.PCG
	rng    *rand.Rand
	pr     person
	msgs   []msg
	orders int32 // orders and calls numbered per person
	calls  int32
}

func newGen(d *Dataset) *gen {
	g := &gen{d: d}
	g.rng = rand.New(&g.pcg)
	return g
}

// Stream salts, so that each stream of a person is independent.
const (
	saltBehaviour = 0x6a09e667f3bcc908
	saltName      = 0xbb67ae8584caa73b
	saltRender    = 0x3c6ef372fe94f82b
)

// plan returns person p's messages, sorted by time. The slice is reused by
// the next call.
func (g *gen) plan(p int) []msg {
	g.msgs = g.msgs[:0]
	g.orders, g.calls = 0, 0
	g.pcg.Seed(uint64(g.d.cfg.Seed)^saltBehaviour, uint64(p))
	if p < numNamed {
		g.named(p)
	} else {
		g.ordinary(p)
	}
	slices.SortStableFunc(g.msgs, func(x, y msg) int {
		switch {
		case x.at < y.at:
			return -1
		case x.at > y.at:
			return 1
		}
		return 0
	})
	return g.msgs
}

// add plans a message if it falls inside the window.
func (g *gen) add(m msg) {
	if m.at < g.d.start+minMs || m.at > g.d.now-secMs {
		return
	}
	g.msgs = append(g.msgs, m)
}

// mix is SplitMix64's finaliser: a well-spread hash of x.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// hash returns a deterministic value for a person and a few numbers, for
// choices made while rendering.
func (g *gen) hash(vals ...int64) uint64 {
	h := mix(uint64(g.d.cfg.Seed) ^ saltRender ^ uint64(g.pr.p)*0x9e3779b97f4a7c15)
	for _, v := range vals {
		h = mix(h ^ uint64(v))
	}
	return h
}

// uuid returns a random version-4 UUID from the behaviour stream.
func (g *gen) uuid(upper bool) string {
	const lower, upperHex = "0123456789abcdef", "0123456789ABCDEF"
	digits := lower
	if upper {
		digits = upperHex
	}
	hi, lo := g.rng.Uint64(), g.rng.Uint64()
	hi = hi&^(0xf<<12) | 4<<12
	lo = lo&^(3<<62) | 2<<62
	var b [36]byte
	n := 0
	for i := 0; i < 32; i++ {
		if i == 8 || i == 12 || i == 16 || i == 20 {
			b[n] = '-'
			n++
		}
		var v uint64
		if i < 16 {
			v = hi >> (60 - 4*uint(i)) & 0xf
		} else {
			v = lo >> (60 - 4*uint(i-16)) & 0xf
		}
		b[n] = digits[v]
		n++
	}
	return string(b[:])
}

func (g *gen) hex(n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[g.rng.IntN(16)]
	}
	return string(b)
}

func (g *gen) ip() string {
	return ipPrefixes[g.rng.IntN(len(ipPrefixes))] + strconv.Itoa(1+g.rng.IntN(254))
}

func (g *gen) chance(p float64) bool { return g.rng.Float64() < p }

// between returns a time uniformly in [from, to).
func (g *gen) between(from, to int64) int64 {
	if to <= from {
		return from
	}
	return from + g.rng.Int64N(to-from)
}

// daytime returns a time in [from, to), most often in the person's waking
// hours.
func (g *gen) daytime(from, to int64) int64 {
	t := g.between(from, to)
	if !g.chance(0.85) {
		return t
	}
	off := tzOffset(regions[g.pr.region].tz)
	local := t - off*hourMs
	day := local - local%dayMs
	local = day + 7*hourMs + g.rng.Int64N(16*hourMs) // 07:00 to 23:00 local
	if u := local + off*hourMs; u >= from && u < to {
		return u
	}
	return t
}

// tzOffset is how many hours a zone is behind UTC (summer time ignored).
func tzOffset(tz string) int64 {
	switch tz {
	case "America/New_York":
		return 5
	case "America/Chicago":
		return 6
	case "America/Denver", "America/Phoenix":
		return 7
	}
	return 8
}

// The identity of ordinary person i (p - numNamed): name, e-mail, phone
// and ids, from the name stream so that it can be derived for one person
// alone (a household member needs the name and phone of the one before).
type nameDraw struct {
	first, last       int
	household, shares bool
	domain, format    int
	capital           bool
	phoneFormat       int
}

func (g *gen) drawName(i int) nameDraw {
	var pcg rand.PCG
	pcg.Seed(uint64(g.d.cfg.Seed)^saltName, uint64(i))
	r := rand.New(&pcg)
	n := nameDraw{first: r.IntN(len(firstNames)), last: r.IntN(len(lastNames))}
	n.household = i > 0 && r.Float64() < 0.04
	n.shares = r.Float64() < 0.5
	n.domain = r.IntN(len(emailDomains))
	n.format = r.IntN(5)
	n.capital = r.Float64() < 0.1
	n.phoneFormat = r.IntN(10)
	return n
}

// household returns the first member of i's household: i itself unless i
// moved in with the person before.
func (g *gen) household(i int) int {
	for i > 0 && g.drawName(i).household {
		i--
	}
	return i
}

// ordinaryPhone returns the E.164 phone number of ordinary person i:
// distinct for every i, in the area code of i's region.
func ordinaryPhone(i int) string {
	area := regions[i%len(regions)].area
	k := i / len(regions)
	return "+1" + area + strconv.Itoa(2000000+(k*7919)%8000000)
}

// typedPhone writes an E.164 US number the way a person might type it.
func typedPhone(e164 string, format int) string {
	n := e164[2:] // ten digits
	switch {
	case format < 4:
		return "(" + n[:3] + ") " + n[3:6] + "-" + n[6:]
	case format < 7:
		return n[:3] + "-" + n[3:6] + "-" + n[6:]
	}
	return e164
}

func asciiLower(s string) string {
	var b strings.Builder
	for _, c := range strings.ToLower(s) {
		if c >= 'a' && c <= 'z' {
			b.WriteRune(c)
		}
	}
	return b.String()
}

// identity fills g.pr for ordinary person p.
func (g *gen) identity(p int) {
	i := p - numNamed
	n := g.drawName(i)
	home := i
	if n.household {
		home = g.household(i)
	}
	first, last := firstNames[n.first], lastNames[n.last]
	if home != i {
		last = lastNames[g.drawName(home).last]
	}
	phone := ordinaryPhone(i)
	if home != i && n.shares {
		phone = ordinaryPhone(home) // the household's phone
	}
	f, l := asciiLower(first), asciiLower(last)
	num := strconv.Itoa(i + 11)
	var local string
	switch n.format {
	case 0:
		local = f + "." + l + num
	case 1:
		local = f + l + num
	case 2:
		local = f[:1] + l + num
	case 3:
		local = f + "_" + l + num
	default:
		local = f + "." + l[:1] + num
	}
	email := local + "@" + emailDomains[n.domain]
	typed := email
	if n.capital {
		typed = strings.ToUpper(email[:1]) + email[1:]
	}
	g.pr = person{
		p: p, first: first, last: last,
		email: typed, emailLower: email,
		phone: phone, phoneTyped: typedPhone(phone, n.phoneFormat),
		userID:   "usr_" + strconv.Itoa(20000000+i*7),
		loyalty:  strconv.FormatInt(111900000000+int64(i)*13, 10),
		region:   home % len(regions),
		browsers: g.pr.browsers[:0], phones: g.pr.phones[:0],
	}
}

// member fills the membership traits: tier and since when.
func (g *gen) member(joined int64) {
	g.pr.tier = membershipTiers[g.rng.IntN(len(membershipTiers))]
	since := joined
	if joined <= g.d.start {
		since = g.d.start - (30+g.rng.Int64N(3000))*dayMs
	}
	g.pr.since = time.UnixMilli(since).UTC().Format(time.DateOnly)
}

func (g *gen) addBrowser(ua int) int {
	g.pr.browsers = append(g.pr.browsers, browser{anon: g.uuid(false), ip: g.ip(), ua: ua})
	return len(g.pr.browsers) - 1
}

func (g *gen) addPhone(model int) int {
	upper := phoneModels[model].typ == "ios"
	ph := phone{anon: g.uuid(false), ip: g.ip(), model: model}
	if upper {
		ph.id = g.uuid(true)
	} else {
		ph.id = g.hex(16)
	}
	g.pr.phones = append(g.pr.phones, ph)
	return len(g.pr.phones) - 1
}

// interest picks a section, weighted by how popular it is.
func (g *gen) interest() int {
	total := 0
	for _, s := range sections {
		total += s.weight
	}
	x := g.rng.IntN(total)
	for i, s := range sections {
		if x < s.weight {
			return i
		}
		x -= s.weight
	}
	return 0
}

// ordinary plans an ordinary person's history: who they are decides which
// channels they use; a heavy-tailed activity decides how much.
func (g *gen) ordinary(p int) {
	g.identity(p)
	r := g.rng
	d := g.d
	// Most people were already around when the history starts; the others
	// appear during it.
	joined := d.start
	if g.chance(0.45) {
		joined = g.between(d.start, d.now-6*hourMs)
	}
	activity := math.Exp(r.NormFloat64() * 0.95)
	count := func(base float64, most int) int {
		return min(most, max(1, int(math.Round(activity*base*float64(d.now-joined)/float64(d.now-d.start)))))
	}
	var interests [3]int
	nInterests := 1 + r.IntN(3)
	for k := range nInterests {
		interests[k] = g.interest()
	}
	pick := func() int {
		if g.chance(0.2) {
			return -1 // just looking around
		}
		return interests[r.IntN(nInterests)]
	}

	switch x := r.Float64(); {
	case x < 0.18: // anonymous visitors: never sign in
		g.addBrowser(r.IntN(len(userAgents)))
		if g.chance(0.2) {
			g.addBrowser(r.IntN(len(userAgents)))
		}
		for range count(2, 25) {
			b := r.IntN(len(g.pr.browsers))
			g.webSession(b, g.daytime(joined, d.now-hourMs), pick(), false)
		}
	case x < 0.26: // store-only members: known by their card alone
		g.member(joined)
		for range count(5, 30) {
			g.storeTrip(g.daytime(joined, d.now-2*hourMs), -1)
		}
	case x < 0.33: // newsletter subscribers who never do anything else
		g.pr.espID = "esp_" + g.hex(20)
		g.emails(min(joined, d.now-10*dayMs), 0.05+r.Float64()*0.4, false)
	default:
		g.ordinaryMember(joined, count, pick, interests[:nInterests])
	}
}

func (g *gen) ordinaryMember(joined int64, count func(float64, int) int, pick func() int, interests []int) {
	r := g.rng
	d := g.d
	g.member(joined)
	web, app := g.chance(0.85), g.chance(0.5)
	if !web && !app {
		web = true
	}
	store, calls := g.chance(0.6), g.chance(0.15)
	g.pr.linkLoyalty = g.chance(0.88)
	if g.chance(0.65) {
		g.pr.espID = "esp_" + g.hex(20)
		g.emails(joined, 0.05+r.Float64()*0.5, g.chance(0.2))
	}
	if g.chance(0.2) {
		g.pr.smsID = "sub_" + g.hex(16)
		g.texts(joined)
	}
	if web {
		g.addBrowser(r.IntN(laptopAgents))
		if g.chance(0.3) {
			g.addBrowser(laptopAgents + r.IntN(len(userAgents)-laptopAgents))
		}
		// Members sign in on most browsers sooner or later; some never do.
		login := g.chance(0.9)
		times := g.sessionTimes(count(3, 80), joined, d.now-hourMs)
		for k, t := range times {
			b := r.IntN(len(g.pr.browsers))
			signIn := login && !g.pr.browsers[b].in && (k == len(times)-1 || g.chance(0.45))
			g.webSession(b, t, pick(), signIn)
		}
	}
	if app {
		ph := g.addPhone(r.IntN(len(phoneModels)))
		for k, t := range g.sessionTimes(count(4, 120), joined, d.now-hourMs) {
			g.appSession(ph, t, pick(), k == 0, joined > d.start && k == 0)
		}
	}
	if store {
		for range count(4, 30) {
			extra := -1
			if g.chance(0.1) {
				sec := interests[r.IntN(len(interests))]
				if ps := sections[sec].products; len(ps) > 0 {
					extra = ps[r.IntN(len(ps))]
				}
			}
			g.storeTrip(g.daytime(joined, d.now-2*hourMs), extra)
		}
	}
	if calls {
		for range 1 + r.IntN(2) {
			reason := r.IntN(6) // a service call
			for _, sec := range interests {
				if sections[sec].service && g.chance(0.5) {
					reason = reasonFor(sec)
				}
			}
			g.call(g.daytime(joined, d.now-2*hourMs), reason, 120+r.IntN(1500))
		}
	}
}

// sessionTimes returns n times in [from, to), in order, for sessions whose
// signed-in state carries over from one to the next.
func (g *gen) sessionTimes(n int, from, to int64) []int64 {
	times := make([]int64, n)
	for k := range times {
		times[k] = g.daytime(from, to)
	}
	slices.Sort(times)
	return times
}

// reasonFor returns the call reason about a service section.
func reasonFor(sec int) int {
	for i, cr := range callReasons {
		if cr.category == sections[sec].category {
			return i
		}
	}
	return crMembership
}

// step returns how long a person spends on a page or screen.
func (g *gen) step() int64 {
	return 8*secMs + int64(g.rng.ExpFloat64()*float64(50*secMs))
}

// webSession plans a visit to the website on browser b, about section
// focus (-1: none), signing in on the way if signIn. It returns when the
// visit ended.
func (g *gen) webSession(b int, t int64, focus int, signIn bool) int64 {
	r := g.rng
	n := 1 + min(24, int(r.ExpFloat64()*4))
	loginAt := -1
	if signIn {
		loginAt = r.IntN(n)
	}
	var cur int
	ref := refNone
	switch {
	case focus >= 0 && g.chance(0.55):
		cur = g.sectionPage(focus)
		ref = refGoogle
		if g.chance(0.25) {
			ref = refBing
		}
	default:
		cur = pgHome
		switch x := r.IntN(10); {
		case x < 2:
			ref = refGoogle
		case x < 3:
			ref = refFacebook
		}
	}
	g.webPage(t, b, cur, ref, 0)
	for k := 0; k < n; k++ {
		if k == loginAt {
			t += g.step()
			g.webPage(t, b, pgLogin, refInternal, cur)
			t += 15*secMs + r.Int64N(30*secMs)
			g.webIdentify(t, b)
			cur = pgLogin
		}
		if k == n-1 {
			break
		}
		t += g.step()
		next := g.nextPage(cur, focus)
		g.webPage(t, b, next, refInternal, cur)
		cur = next
		pg := site[cur]
		switch {
		case pg.product >= 0 && g.chance(0.6):
			g.webTrack(t+800+r.Int64N(2000), b, opProductViewed, pg.product, 1, cur)
		case focus >= 0 && sections[focus].service && cur == sectionPages[focus][len(sectionPages[focus])-1] && g.chance(0.6):
			g.webTrack(t+2*secMs+r.Int64N(40*secMs), b, opQuoteStarted, focus, 0, cur)
		}
	}
	if focus >= 0 && !sections[focus].service && g.pr.browsers[b].in && g.chance(0.12) {
		ps := sections[focus].products
		t = g.webPurchase(t+g.step(), b, ps[r.IntN(len(ps))], 1)
	}
	return t
}

// sectionPage returns a page of a section: its landing page or one of its
// products or content pages.
func (g *gen) sectionPage(sec int) int {
	pages := sectionPages[sec]
	if g.chance(0.35) {
		return pages[0]
	}
	return pages[g.rng.IntN(len(pages))]
}

// nextPage returns the page a visitor goes to from cur.
func (g *gen) nextPage(cur, focus int) int {
	r := g.rng
	if focus < 0 || g.chance(0.12) {
		switch x := r.IntN(10); {
		case x < 3:
			return r.IntN(pgAccount) // a general page
		case x < 5:
			return pgDeals
		default:
			return g.sectionPage(g.interest())
		}
	}
	return g.sectionPage(focus)
}

// webPurchase plans adding product pr to the cart and buying it.
func (g *gen) webPurchase(t int64, b, pr, qty int) int64 {
	r := g.rng
	pg := productPages[pr]
	g.webTrack(t, b, opProductAdded, pr, qty, pg)
	t += g.step()
	g.webPage(t, b, pgCart, refInternal, pg)
	t += 5*secMs + r.Int64N(20*secMs)
	g.orders++
	g.add(msg{at: t, op: opCheckoutStarted, src: srcWeb, dev: uint8(b), user: g.pr.browsers[b].in, a: int32(pr), b: int32(qty), c: g.orders})
	g.webPage(t+secMs, b, pgCheckout, refInternal, pgCart)
	t += 60*secMs + r.Int64N(4*minMs)
	g.add(msg{at: t, op: opOrderCompleted, src: srcWeb, dev: uint8(b), user: g.pr.browsers[b].in, a: int32(pr), b: int32(qty), c: g.orders})
	return t
}

func (g *gen) webPage(t int64, b, pg, ref, prev int) {
	g.add(msg{at: t, op: opPage, src: srcWeb, dev: uint8(b), user: g.pr.browsers[b].in, a: int32(pg), b: int32(ref), c: int32(prev)})
}

func (g *gen) webTrack(t int64, b int, o op, a, qty, pg int) {
	g.add(msg{at: t, op: o, src: srcWeb, dev: uint8(b), user: g.pr.browsers[b].in, a: int32(a), b: int32(qty), c: int32(pg)})
}

func (g *gen) webIdentify(t int64, b int) {
	g.pr.browsers[b].in = true
	g.add(msg{at: t, op: opIdentify, src: srcWeb, dev: uint8(b), user: true})
}

func (g *gen) appEvent(t int64, ph int, o op, a, b, c int) {
	g.add(msg{at: t, op: o, src: srcApp, dev: uint8(ph), user: g.pr.phones[ph].in, a: int32(a), b: int32(b), c: int32(c)})
}

func (g *gen) appIdentify(t int64, ph int) {
	g.pr.phones[ph].in = true
	g.add(msg{at: t, op: opIdentify, src: srcApp, dev: uint8(ph), user: true})
}

// appSession plans one use of the app on phone ph. The first session signs
// in; a newly installed app also says so.
func (g *gen) appSession(ph int, t int64, focus int, first, installed bool) int64 {
	r := g.rng
	if installed {
		g.appEvent(t, ph, opAppInstalled, 0, 0, 0)
		t += 2 * secMs
	}
	g.appEvent(t, ph, opAppOpened, 0, 0, 0)
	if first || g.chance(0.15) {
		// Apps identify on sign-in and again on some launches.
		t += 3*secMs + r.Int64N(40*secMs)
		g.appIdentify(t, ph)
	}
	n := 1 + min(30, int(r.ExpFloat64()*4))
	for range n {
		t += g.step()
		g.appStep(t, ph, focus)
	}
	if focus >= 0 && !sections[focus].service && g.chance(0.04) {
		ps := sections[focus].products
		t += g.step()
		g.appOrder(t, ph, ps[r.IntN(len(ps))])
	}
	return t
}

// appStep plans one screen of the app, with what the person did there.
func (g *gen) appStep(t int64, ph, focus int) {
	r := g.rng
	if focus >= 0 && g.chance(0.6) {
		sec := sections[focus]
		if sec.service {
			g.appEvent(t, ph, opScreen, serviceScreen(focus), -1, 0)
			return
		}
		if g.chance(0.25) {
			g.appEvent(t, ph, opScreen, scCategory, -1, focus)
			return
		}
		pr := sec.products[r.IntN(len(sec.products))]
		g.appEvent(t, ph, opScreen, scProduct, pr, 0)
		if g.chance(0.5) {
			g.appEvent(t+500+r.Int64N(1500), ph, opProductViewed, pr, 1, 0)
		}
		return
	}
	switch x := r.IntN(10); {
	case x < 3:
		g.appEvent(t, ph, opScreen, scHome, -1, 0)
	case x < 5:
		g.appEvent(t, ph, opScreen, scCoupons, -1, 0)
		if g.chance(0.6) {
			g.appEvent(t+2*secMs+r.Int64N(20*secMs), ph, opCouponClipped, r.IntN(len(groceries)), 0, 0)
		}
	case x < 6:
		g.appEvent(t, ph, opScreen, scCard, -1, 0)
	case x < 7:
		g.appEvent(t, ph, opScreen, scGas, -1, 0)
	case x < 8:
		g.appEvent(t, ph, opScreen, scLocator, -1, 0)
	case x < 9:
		g.appEvent(t, ph, opScreen, scSearch, -1, 0)
		g.appEvent(t+300, ph, opProductsSearched, r.IntN(len(searches)), 0, 0)
	default:
		g.appEvent(t, ph, opScreen, []int{scOrders, scAccount, scPharmacy}[r.IntN(3)], -1, 0)
	}
}

func (g *gen) appOrder(t int64, ph, pr int) {
	g.appEvent(t, ph, opProductAdded, pr, 1, 0)
	g.appEvent(t+g.step(), ph, opScreen, scCart, -1, 0)
	g.orders++
	g.appEvent(t+2*minMs+g.rng.Int64N(3*minMs), ph, opOrderCompleted, pr, 1, int(g.orders))
}

// storeTrip plans a warehouse visit: the card scan at the door and, most
// often, a purchase; extra is a product bought besides groceries (-1).
func (g *gen) storeTrip(t int64, extra int) {
	r := g.rng
	wh := regions[g.pr.region].warehouse
	if g.chance(0.05) {
		wh = r.IntN(len(warehouses)) // travelling
	}
	g.add(msg{at: t, op: opStoreVisit, src: srcStore, a: int32(wh)})
	if g.chance(0.92) {
		g.orders++
		t += 15*minMs + r.Int64N(50*minMs)
		g.add(msg{at: t, op: opStoreOrder, src: srcStore, a: int32(wh), b: int32(2 + r.IntN(12)), c: g.orders, d: int32(extra)})
	}
}

// call plans an inbound call to the call center, known only by the caller's number.
func (g *gen) call(t int64, reason, seconds int) {
	g.calls++
	m := msg{at: t, op: opCallStarted, src: srcCall, a: int32(reason), c: g.calls, d: int32(seconds)}
	g.add(m)
	m.op, m.at = opCallEnded, t+int64(seconds)*secMs
	g.add(m)
}

// campaign is an e-mail or SMS send to a whole list.
type campaign struct {
	at    int64
	list  uint8
	id    string
	name  string
	title string // e-mail subject or SMS text
}

const (
	listNewsletter = iota
	listFinance
	listSMS
)

// calendar returns the campaigns sent in [start, now): newsletters on
// Tuesdays and Fridays, the financial-services letter on the first Wednesday
// of each month, an SMS every other Saturday.
func calendar(start, now int64) []campaign {
	var out []campaign
	nl, sms := 0, 0
	for day := start - start%dayMs; day < now; day += dayMs {
		t := time.UnixMilli(day).UTC()
		date := t.Format("20060102")
		switch wd := t.Weekday(); {
		case wd == time.Tuesday || wd == time.Friday:
			c := newsletterNames[nl%len(newsletterNames)]
			nl++
			out = append(out, campaign{at: day + 15*hourMs, list: listNewsletter, id: "cmp_" + date + "_nl", name: c.name, title: c.subject})
		case wd == time.Wednesday && t.Day() <= 7:
			c := financeNames[t.Month()%3]
			out = append(out, campaign{at: day + 16*hourMs, list: listFinance, id: "cmp_" + date + "_fin", name: c.name, title: c.subject})
		case wd == time.Saturday && t.YearDay()/7%2 == 0:
			c := smsNames[sms%len(smsNames)]
			sms++
			out = append(out, campaign{at: day + 17*hourMs, list: listSMS, id: "sms_" + date, name: c.name, title: c.body})
		}
	}
	return out
}

// emails plans what the e-mail platform reports for a subscriber since
// joined: each newsletter delivered, some opened, a few clicked.
func (g *gen) emails(joined int64, openRate float64, finance bool) {
	r := g.rng
	for k, c := range g.d.campaigns {
		if c.at < joined || c.list == listSMS || c.list == listFinance && !finance {
			continue
		}
		t := c.at + r.Int64N(30*minMs)
		g.add(msg{at: t, op: opEmail, src: srcEmail, a: int32(k), b: 0})
		if !g.chance(openRate) {
			continue
		}
		t += int64(math.Min(r.ExpFloat64()*6, 72) * float64(hourMs))
		g.add(msg{at: t, op: opEmail, src: srcEmail, a: int32(k), b: 1})
		if g.chance(0.2) {
			g.add(msg{at: t + 10*secMs + r.Int64N(5*minMs), op: opEmail, src: srcEmail, a: int32(k), b: 2})
		}
	}
}

// texts plans what the SMS gateway reports for a subscriber since joined.
func (g *gen) texts(joined int64) {
	r := g.rng
	for k, c := range g.d.campaigns {
		if c.at < joined || c.list != listSMS {
			continue
		}
		t := c.at + r.Int64N(10*minMs)
		g.add(msg{at: t, op: opSMS, src: srcSMS, a: int32(k), b: 0})
		if !g.chance(0.97) {
			continue
		}
		t += 2*secMs + r.Int64N(20*secMs)
		g.add(msg{at: t, op: opSMS, src: srcSMS, a: int32(k), b: 1})
		if g.chance(0.08) {
			g.add(msg{at: t + minMs + r.Int64N(2*hourMs), op: opSMS, src: srcSMS, a: int32(k), b: 2})
		}
	}
}
