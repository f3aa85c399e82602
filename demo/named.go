package demo

import (
	"strings"
)

// The named customers' histories are written out by hand, relative to Now;
// only their details (ids, minutes, opened e-mails) come from the seed.

// local returns the time daysAgo days before Now at hour (local time of the
// person's region). Histories shorter than 60 days are compressed to fit.
func (g *gen) local(daysAgo, hour float64) int64 {
	scale := min(1, float64(g.d.cfg.Days)/60)
	off := tzOffset(regions[g.pr.region].tz) * hourMs
	t := g.d.now - int64(daysAgo*scale*float64(dayMs)) - off
	day := t - ((t%dayMs)+dayMs)%dayMs
	return day + int64(hour*float64(hourMs)) + off + g.rng.Int64N(10*minMs)
}

// namedIdentity fills g.pr for named customer p.
func (g *gen) namedIdentity(p int) {
	c := customers[p]
	first, last, _ := strings.Cut(c.Name, " ")
	g.pr = person{
		p: p, first: first, last: last,
		email: c.Email, emailLower: c.Email,
		phone: c.Phone, phoneTyped: typedPhone(c.Phone, 0),
		userID: c.UserID, loyalty: c.LoyaltyID, linkLoyalty: c.LoyaltyID != "",
		region:   2, // the East Bay: Oakland, home warehouse San Leandro
		browsers: g.pr.browsers[:0], phones: g.pr.phones[:0],
	}
	g.member(g.d.start)
	g.pr.tier = "Executive"
}

func (g *gen) named(p int) {
	g.namedIdentity(p)
	switch p {
	case custHoop:
		g.hoopShopper()
	case custRefinance:
		g.refinancer()
	case custCarInsurance:
		g.carInsuranceReader()
	case custHeavy:
		g.heavy()
	}
}

// visit plans pages of the website, one after the other from t, with a
// product view on each product page; it returns when the visit ended.
func (g *gen) visit(b int, t int64, ref int, paths ...string) int64 {
	prev := pgHome
	if ref == refInternal {
		prev = pgLogin // straight after signing in
	}
	for k, path := range paths {
		if k > 0 {
			t += 20*secMs + g.rng.Int64N(90*secMs)
			ref = refInternal
		}
		pg := pageIndex(path)
		g.webPage(t, b, pg, ref, prev)
		if pr := site[pg].product; pr >= 0 {
			g.webTrack(t+900+g.rng.Int64N(1500), b, opProductViewed, pr, 1, pg)
		}
		prev = pg
	}
	return t
}

// signIn plans signing in on the website, coming from page prev: the
// sign-in page and identify.
func (g *gen) signIn(b int, t int64, prev int) int64 {
	g.webPage(t, b, pgLogin, refInternal, prev)
	t += 25 * secMs
	g.webIdentify(t, b)
	return t
}

const (
	hoopsPath  = "/sports/basketball/hoops"
	hoopPortab = hoopsPath + "/lifetime-54-in-portable-basketball-hoop"
	hoopGround = hoopsPath + "/spalding-60-in-in-ground-basketball-hoop"
	hoopWall   = hoopsPath + "/silverback-nxt-50-in-wall-mount-hoop"
	hoopGoal   = hoopsPath + "/goalrilla-ft54-in-ground-basketball-hoop"
	hoopSmall  = hoopsPath + "/lifetime-44-in-adjustable-portable-hoop"
)

// hoopShopper is situation 1: days of research on a laptop and a phone, a
// purchase, then only generic e-mails.
func (g *gen) hoopShopper() {
	laptop := g.addBrowser(0) // Chrome on a Mac
	ph := g.addPhone(0)       // an iPhone
	g.pr.espID = "esp_" + g.hex(20)
	g.emails(g.d.start, 0.45, false)

	// On the laptop, not signed in.
	g.visit(laptop, g.local(12, 20.5), refGoogle, hoopsPath, hoopPortab, hoopGround, hoopsPath, hoopGoal)
	g.visit(laptop, g.local(11, 21.2), refNone, hoopsPath, hoopGround, hoopGoal, hoopWall, hoopPortab, hoopGround)
	g.visit(laptop, g.local(10, 19.8), refGoogle, hoopPortab, hoopSmall, hoopPortab, hoopsPath, hoopGoal)

	// On the phone: installs the app, signs in, keeps looking.
	t := g.local(9, 12.4)
	g.appEvent(t, ph, opAppInstalled, 0, 0, 0)
	g.appEvent(t+2*secMs, ph, opAppOpened, 0, 0, 0)
	t += 50 * secMs
	g.appIdentify(t, ph)
	t += 30 * secMs
	g.appEvent(t, ph, opScreen, scSearch, -1, 0)
	g.appEvent(t+400, ph, opProductsSearched, 0, 0, 0) // "basketball hoop"
	for _, pr := range []int{0, 1, 3, 0} {
		t += 40*secMs + g.rng.Int64N(60*secMs)
		g.appEvent(t, ph, opScreen, scProduct, pr, 0)
		g.appEvent(t+900, ph, opProductViewed, pr, 1, 0)
	}

	// Back on the laptop: signs in, which joins the earlier anonymous visits.
	t = g.local(8, 21.1)
	g.webPage(t, laptop, pgHome, refNone, 0)
	t = g.signIn(laptop, t+30*secMs, pgHome)
	g.visit(laptop, t+20*secMs, refInternal, hoopsPath, hoopPortab, hoopGround, hoopPortab)

	t = g.local(7, 13.1)
	g.appEvent(t, ph, opAppOpened, 0, 0, 0)
	for _, pr := range []int{0, 4, 0} {
		t += 35*secMs + g.rng.Int64N(60*secMs)
		g.appEvent(t, ph, opScreen, scProduct, pr, 0)
		g.appEvent(t+700, ph, opProductViewed, pr, 1, 0)
	}
	g.visit(laptop, g.local(6, 20.7), refNone, hoopPortab, hoopsPath, hoopGoal, hoopPortab)

	// The purchase, on the laptop, about five days ago.
	t = g.visit(laptop, g.d.now-4*dayMs-20*hourMs, refNone, hoopsPath, hoopPortab)
	g.webPurchase(t+40*secMs, laptop, 0, 1)
	// From then on: only what the newsletter list gets.
}

const (
	refiPath    = "/mortgages/refinance"
	refiRates   = refiPath + "/rates"
	refiCalc    = refiPath + "/calculator"
	refiCashOut = refiPath + "/cash-out"
	refiClosing = refiPath + "/closing-costs"
	refiApply   = refiPath + "/apply"
)

// refinancer is situation 2: two weeks of refinancing research, one call,
// the bank's e-mails.
func (g *gen) refinancer() {
	laptop := g.addBrowser(3) // Edge on Windows
	g.pr.espID = "esp_" + g.hex(20)
	g.emails(g.d.start, 0.5, true)

	g.visit(laptop, g.local(16, 20.2), refGoogle, refiPath, refiRates, refiCalc)
	g.visit(laptop, g.local(14, 21.0), refGoogle, refiRates, refiCashOut, refiCalc, refiRates)
	t := g.local(12, 12.5)
	g.webPage(t, laptop, pgHome, refNone, 0)
	t = g.signIn(laptop, t+40*secMs, pgHome)
	g.visit(laptop, t+20*secMs, refInternal, refiPath, refiClosing, refiRates)
	t = g.visit(laptop, g.local(9, 20.7), refNone, refiRates, refiCalc, refiApply)
	g.webTrack(t+90*secMs, laptop, opQuoteStarted, sectionIndex("Mortgage Refinancing"), 0, pageIndex(refiApply))
	g.call(g.local(6, 10.25), crRefinance, 14*60+22)
	g.visit(laptop, g.local(4, 21.3), refEmail, refiRates, refiCalc, refiCashOut)
	g.visit(laptop, g.local(2, 19.1), refNone, refiRates, refiApply, refiClosing, refiRates)
}

const (
	carPath      = "/insurance/car"
	carQuotePath = carPath + "/quote"
)

// carInsuranceReader is situation 3: a long-standing member across every
// channel who has been reading about car insurance for the last hour.
func (g *gen) carInsuranceReader() {
	d := g.d
	ph := g.addPhone(1)       // an iPhone
	laptop := g.addBrowser(2) // Safari on a Mac
	g.pr.espID = "esp_" + g.hex(20)
	g.emails(d.start, 0.55, false)
	g.pr.smsID = "sub_" + g.hex(16)
	g.texts(d.start)

	// The app, signed in from the first use in the history.
	for k, day := range []float64{58, 51, 44, 37, 29, 22, 15, 9, 3} {
		t := g.local(day, 9.5+float64(k%4))
		g.appEvent(t, ph, opAppOpened, 0, 0, 0)
		if k == 0 {
			t += 20 * secMs
			g.appIdentify(t, ph)
		}
		for _, sc := range [][]int{{scCoupons, scCard}, {scGas, scLocator}, {scCoupons, scHome}}[k%3] {
			t += 30*secMs + g.rng.Int64N(60*secMs)
			g.appEvent(t, ph, opScreen, sc, -1, 0)
			if sc == scCoupons {
				g.appEvent(t+5*secMs, ph, opCouponClipped, g.rng.IntN(len(groceries)), 0, 0)
			}
		}
	}
	// Her warehouse, every week or so, with her card.
	for k, day := range []float64{55, 48, 41, 34, 27, 20, 13, 6} {
		extra := -1
		if k == 3 {
			extra = sections[sectionIndex("Tires")].products[0]
		}
		t := g.local(day, 10+float64(k%3))
		wh := regions[g.pr.region].warehouse
		g.add(msg{at: t, op: opStoreVisit, src: srcStore, a: int32(wh)})
		g.orders++
		g.add(msg{at: t + 40*minMs, op: opStoreOrder, src: srcStore, a: int32(wh), b: int32(6 + k%5), c: g.orders, d: int32(extra)})
	}
	// The call center, about her renewal: known only by her number.
	g.call(g.local(35, 11.4), crMembership, 7*60+41)
	// The website on her laptop, signed in three weeks ago and since.
	t := g.local(20, 20.3)
	t = g.visit(laptop, t, refNone, "/", "/deals")
	t = g.signIn(laptop, t+30*secMs, pgDeals)
	g.visit(laptop, t+15*secMs, refInternal, "/account", "/account/orders", "/membership/executive")

	// The last hour: car insurance.
	t = d.now - 58*minMs
	g.webPage(t, laptop, pageIndex(carPath), refGoogle, 0)
	prev := pageIndex(carPath)
	for _, step := range []struct {
		path string
		mins int64
	}{
		{carPath + "/coverage", 52}, {carPath + "/member-discounts", 45}, {carPath + "/compare", 38},
		{carPath + "/faq", 31}, {carQuotePath, 24}, {carPath + "/claims", 14}, {carPath + "/member-discounts", 7},
	} {
		pg := pageIndex(step.path)
		t = d.now - step.mins*minMs - g.rng.Int64N(40*secMs)
		g.webPage(t, laptop, pg, refInternal, prev)
		if step.path == carQuotePath {
			g.webTrack(t+75*secMs, laptop, opQuoteStarted, sectionIndex("Car Insurance"), 0, pg)
		}
		prev = pg
	}
}

// heavy is the heavy app user: exactly HeavyEvents messages, spread over the
// history in sessions, mostly in the app.
func (g *gen) heavy() {
	d := g.d
	r := g.rng
	ph := g.addPhone(3)       // a Pixel
	laptop := g.addBrowser(1) // Chrome on Windows
	interests := []int{sectionIndex("Camping"), sectionIndex("Bikes"), sectionIndex("TVs")}
	n := d.cfg.HeavyEvents
	from, to := d.start+2*hourMs, d.now-2*hourMs

	g.appIdentify(from+20*secMs, ph)
	n--
	if n > 0 {
		g.appEvent(from, ph, opAppOpened, 0, 0, 0)
		n--
	}
	const perSession = 85
	sessions := (n + perSession - 1) / perSession
	if sessions == 0 {
		return
	}
	span := (to - from - hourMs) / int64(sessions)
	left := n
	for i := range sessions {
		size := left
		if rest := sessions - i - 1; rest > 0 {
			size = int(float64(left) / float64(sessions-i) * (0.5 + r.Float64()))
			size = max(1, min(size, left-rest))
		}
		left -= size
		t := from + hourMs + int64(i)*span + r.Int64N(max(1, span/2))
		web := i%10 == 1 // one session in ten is on the laptop
		for k := range size {
			t += 3*secMs + int64(r.ExpFloat64()*float64(12*secMs))
			focus := interests[r.IntN(len(interests))]
			if web {
				g.heavyWeb(min(t, to), laptop, k, focus)
			} else {
				g.heavyApp(min(t, to), ph, k, focus)
			}
		}
	}
}

// heavyApp plans exactly one app message of a heavy session.
func (g *gen) heavyApp(t int64, ph, k, focus int) {
	r := g.rng
	if k == 0 {
		g.appEvent(t, ph, opAppOpened, 0, 0, 0)
		return
	}
	ps := sections[focus].products
	pr := ps[r.IntN(len(ps))]
	switch x := r.IntN(100); {
	case x < 30:
		g.appEvent(t, ph, opScreen, scProduct, pr, 0)
	case x < 40:
		g.appEvent(t, ph, opScreen, scCategory, -1, focus)
	case x < 55:
		g.appEvent(t, ph, opScreen, []int{scHome, scCoupons, scCard, scGas, scLocator, scOrders}[r.IntN(6)], -1, 0)
	case x < 75:
		g.appEvent(t, ph, opProductViewed, pr, 1, 0)
	case x < 84:
		g.appEvent(t, ph, opCouponClipped, r.IntN(len(groceries)), 0, 0)
	case x < 92:
		g.appEvent(t, ph, opProductsSearched, r.IntN(len(searches)), 0, 0)
	case x < 99 || g.orders >= 999:
		g.appEvent(t, ph, opProductAdded, pr, 1, 0)
	default:
		g.orders++
		g.appEvent(t, ph, opOrderCompleted, pr, 1, int(g.orders))
	}
}

// heavyWeb plans exactly one web message of a heavy session.
func (g *gen) heavyWeb(t int64, b, k, focus int) {
	if k == 0 && !g.pr.browsers[b].in {
		g.webIdentify(t, b)
		return
	}
	pg := g.sectionPage(focus)
	if k > 0 && site[pg].product >= 0 && g.chance(0.4) {
		g.webTrack(t, b, opProductViewed, site[pg].product, 1, pg)
		return
	}
	ref := refInternal
	if k == 0 {
		ref = refNone
	}
	g.webPage(t, b, pg, ref, pgHome)
}
