package demo

import (
	"strconv"
	"time"
)

// render appends message j of the current person, m, as Segment JSON. JSON
// is written by hand: generation must never be what slows a load down.
func (g *gen) render(b []byte, m *msg, j int) []byte {
	switch m.src {
	case srcWeb:
		return g.renderWeb(b, m, j)
	case srcApp:
		return g.renderApp(b, m, j)
	case srcEmail:
		return g.renderEmail(b, m, j)
	case srcSMS:
		return g.renderSMS(b, m, j)
	case srcCall:
		return g.renderCall(b, m, j)
	default:
		return g.renderStore(b, m, j)
	}
}

// head writes the fields every message has, leaving the object open.
func (g *gen) head(b []byte, typ string, m *msg, j int, anon string) []byte {
	b = append(b, `{"type":"`...)
	b = append(b, typ...)
	b = append(b, `","messageId":"demo-`...)
	b = strconv.AppendInt(b, g.d.cfg.Seed, 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(g.pr.p), 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(j), 10)
	b = append(b, `","timestamp":"`...)
	b = appendTime(b, m.at)
	b = append(b, `","anonymousId":`...)
	b = appendStr(b, anon)
	if m.user {
		b = append(b, `,"userId":`...)
		b = appendStr(b, g.pr.userID)
	}
	return b
}

func (g *gen) event(b []byte, m *msg, j int, anon, name string) []byte {
	b = g.head(b, "track", m, j, anon)
	b = append(b, `,"event":`...)
	return appendStr(b, name)
}

// The website.

func (g *gen) renderWeb(b []byte, m *msg, j int) []byte {
	br := &g.pr.browsers[m.dev]
	switch m.op {
	case opPage:
		pg := &site[m.a]
		b = g.head(b, "page", m, j, br.anon)
		b = append(b, `,"name":`...)
		b = appendStr(b, pg.title)
		b = append(b, `,"properties":`...)
		b = appendPage(b, int(m.a), int(m.b), int(m.c), true)
		b = append(b, ',')
		return g.webContext(b, br, int(m.a), int(m.b), int(m.c))
	case opIdentify:
		b = g.head(b, "identify", m, j, br.anon)
		b = g.traits(b)
		b = append(b, ',')
		return g.webContext(b, br, pgLogin, refInternal, pgLogin)
	}
	b = g.track(b, m, j, br.anon)
	b = append(b, ',')
	pg := int(m.c)
	if m.op == opCheckoutStarted || m.op == opOrderCompleted {
		pg = pgCheckout // c is the order number
	}
	return g.webContext(b, br, pg, refNone, 0)
}

// appendPage writes a page's path, referrer, title and URL as an object.
func appendPage(b []byte, pg, ref, prev int, withCategory bool) []byte {
	p := &site[pg]
	search := ""
	if ref == refEmail {
		search = "?utm_source=harbor&utm_medium=email"
	}
	b = append(b, `{"path":`...)
	b = appendStr(b, p.path)
	b = append(b, `,"referrer":`...)
	switch ref {
	case refGoogle:
		b = append(b, `"https://www.google.com/"`...)
	case refBing:
		b = append(b, `"https://www.bing.com/"`...)
	case refFacebook:
		b = append(b, `"https://www.facebook.com/"`...)
	case refInternal:
		b = append(b, '"')
		b = append(b, siteURL...)
		b = append(b, site[prev].path...)
		b = append(b, '"')
	default:
		b = append(b, `""`...)
	}
	b = append(b, `,"search":`...)
	b = appendStr(b, search)
	b = append(b, `,"title":"`...)
	b = append(b, p.title...)
	if pg != pgHome {
		b = append(b, " | Harbor Members"...)
	}
	b = append(b, `","url":"`...)
	b = append(b, siteURL...)
	b = append(b, p.path...)
	b = append(b, search...)
	b = append(b, '"')
	if withCategory && p.category != "" {
		b = append(b, `,"category":`...)
		b = appendStr(b, p.category)
	}
	return append(b, '}')
}

func (g *gen) webContext(b []byte, br *browser, pg, ref, prev int) []byte {
	b = append(b, `"context":{"page":`...)
	b = appendPage(b, pg, ref, prev, false)
	b = append(b, `,"userAgent":`...)
	b = appendStr(b, userAgents[br.ua])
	b = append(b, `,"ip":"`...)
	b = append(b, br.ip...)
	b = append(b, `","locale":"en-US","timezone":"`...)
	b = append(b, regions[g.pr.region].tz...)
	b = append(b, `","library":{"name":"analytics.js","version":"npm:next-1.72.0"}}}`...)
	return b
}

// traits writes an identify call's traits, leaving the message open.
func (g *gen) traits(b []byte) []byte {
	pr := &g.pr
	b = append(b, `,"traits":{"email":`...)
	b = appendStr(b, pr.email)
	b = append(b, `,"phone":`...)
	b = appendStr(b, pr.phoneTyped)
	b = append(b, `,"firstName":`...)
	b = appendStr(b, pr.first)
	b = append(b, `,"lastName":`...)
	b = appendStr(b, pr.last)
	b = append(b, `,"name":`...)
	b = appendStr(b, pr.first+" "+pr.last)
	if pr.linkLoyalty {
		b = append(b, `,"loyalty_id":`...)
		b = appendStr(b, pr.loyalty)
	}
	if pr.tier != "" {
		b = append(b, `,"membership_tier":`...)
		b = appendStr(b, pr.tier)
		b = append(b, `,"member_since":`...)
		b = appendStr(b, pr.since)
	}
	rg := &regions[pr.region]
	b = append(b, `,"address":{"city":`...)
	b = appendStr(b, rg.city)
	b = append(b, `,"state":"`...)
	b = append(b, rg.state...)
	b = append(b, `","country":"US"}}`...)
	return b
}

// track writes the event and properties of the track calls the website and
// the app share, leaving the message open.
func (g *gen) track(b []byte, m *msg, j int, anon string) []byte {
	web := m.src == srcWeb
	switch m.op {
	case opProductViewed:
		b = g.event(b, m, j, anon, "Product Viewed")
		b = append(b, `,"properties":{`...)
		b = appendProduct(b, &products[m.a], 0, productURL(int(m.a), web))
		b = append(b, '}')
	case opProductAdded:
		b = g.event(b, m, j, anon, "Product Added")
		b = append(b, `,"properties":{"cart_id":"`...)
		b = appendHex(b, g.hash(int64(m.at)/dayMs, 7), 12)
		b = append(b, `",`...)
		b = appendProduct(b, &products[m.a], int(m.b), productURL(int(m.a), web))
		b = append(b, '}')
	case opCheckoutStarted, opOrderCompleted:
		name := "Order Completed"
		if m.op == opCheckoutStarted {
			name = "Checkout Started"
		}
		b = g.event(b, m, j, anon, name)
		p := &products[m.a]
		sub := int64(p.cents) * int64(max(1, m.b))
		tax := sub * 875 / 10000
		b = append(b, `,"properties":{"order_id":"`...)
		b = g.orderID(b, m.c)
		b = append(b, `","affiliation":"`...)
		if web {
			b = append(b, `harbormembers.example","subtotal":`...)
		} else {
			b = append(b, `Harbor Members app","subtotal":`...)
		}
		b = appendCents(b, sub)
		b = append(b, `,"shipping":0,"tax":`...)
		b = appendCents(b, tax)
		b = append(b, `,"total":`...)
		b = appendCents(b, sub+tax)
		b = append(b, `,"revenue":`...)
		b = appendCents(b, sub)
		b = append(b, `,"currency":"USD","products":[{`...)
		b = appendProduct(b, p, int(max(1, m.b)), "")
		b = append(b, `}]}`...)
	case opQuoteStarted:
		sec := &sections[m.a]
		b = g.event(b, m, j, anon, sec.quote)
		b = append(b, `,"properties":{"category":`...)
		b = appendStr(b, sec.category)
		b = append(b, `,"quote_id":"Q-`...)
		h := g.hash(m.at, 11)
		b = strconv.AppendUint(b, 10000000+h%90000000, 10)
		switch sec.category {
		case "Car Insurance":
			b = append(b, `","product":"Auto insurance","vehicles":`...)
			b = strconv.AppendUint(b, 1+h%2, 10)
			b = append(b, `,"drivers":`...)
			b = strconv.AppendUint(b, 1+h/7%3, 10)
		case "Home Insurance":
			b = append(b, `","product":"Homeowners insurance","dwelling_coverage":`...)
			b = strconv.AppendUint(b, 300000+h%40*10000, 10)
		case "Mortgage Refinancing":
			b = append(b, `","loan_purpose":"refinance","loan_amount":`...)
			b = strconv.AppendUint(b, 250000+h%60*5000, 10)
			b = append(b, `,"term_years":30`...)
		default:
			b = append(b, `","destination":"Hawaii","travelers":`...)
			b = strconv.AppendUint(b, 2+h%3, 10)
		}
		b = append(b, '}')
	case opProductsSearched:
		b = g.event(b, m, j, anon, "Products Searched")
		b = append(b, `,"properties":{"query":`...)
		b = appendStr(b, searches[m.a])
		b = append(b, '}')
	case opCouponClipped:
		p := &groceries[m.a]
		b = g.event(b, m, j, anon, "Coupon Clipped")
		b = append(b, `,"properties":{"coupon_id":"CPN-`...)
		b = append(b, p.sku[3:]...)
		b = append(b, `","product_id":"`...)
		b = append(b, p.sku...)
		b = append(b, `","name":`...)
		b = appendStr(b, p.name)
		b = append(b, `,"discount":`...)
		b = appendCents(b, int64(100+p.cents/1000*50))
		b = append(b, '}')
	case opAppInstalled:
		b = g.event(b, m, j, anon, "Application Installed")
		b = append(b, `,"properties":{"version":"`+appVersion+`","build":"`+appBuild+`"}`...)
	case opAppOpened:
		b = g.event(b, m, j, anon, "Application Opened")
		b = append(b, `,"properties":{"from_background":false,"version":"`+appVersion+`","build":"`+appBuild+`"}`...)
	}
	return b
}

// productURL returns the path of product pr's page when withURL, else "".
func productURL(pr int, withURL bool) string {
	if !withURL {
		return ""
	}
	return site[productPages[pr]].path
}

// appendProduct writes a product's fields (no braces), with its quantity
// when above zero and the URL of its page when path is not empty.
func appendProduct(b []byte, p *product, qty int, path string) []byte {
	b = append(b, `"product_id":"`...)
	b = append(b, p.sku...)
	b = append(b, `","sku":"`...)
	b = append(b, p.sku...)
	b = append(b, `","category":`...)
	b = appendStr(b, p.category)
	b = append(b, `,"name":`...)
	b = appendStr(b, p.name)
	if p.brand != "" {
		b = append(b, `,"brand":`...)
		b = appendStr(b, p.brand)
	}
	b = append(b, `,"price":`...)
	b = appendCents(b, int64(p.cents))
	if qty > 0 {
		b = append(b, `,"quantity":`...)
		b = strconv.AppendInt(b, int64(qty), 10)
	}
	b = append(b, `,"currency":"USD"`...)
	if path != "" {
		b = append(b, `,"url":"`...)
		b = append(b, siteURL...)
		b = append(b, path...)
		b = append(b, '"')
	}
	return b
}

func (g *gen) orderID(b []byte, n int32) []byte {
	b = append(b, "HM"...)
	return strconv.AppendInt(b, 1000000000+int64(g.pr.p)*10000+int64(n), 10)
}

// The app.

func (g *gen) renderApp(b []byte, m *msg, j int) []byte {
	ph := &g.pr.phones[m.dev]
	switch m.op {
	case opScreen:
		sc := &screens[m.a]
		b = g.head(b, "screen", m, j, ph.anon)
		b = append(b, `,"name":`...)
		b = appendStr(b, sc.name)
		b = append(b, `,"properties":{"name":`...)
		b = appendStr(b, sc.name)
		switch {
		case m.a == scProduct && m.b >= 0:
			p := &products[m.b]
			b = append(b, `,"product_id":"`...)
			b = append(b, p.sku...)
			b = append(b, `","product_name":`...)
			b = appendStr(b, p.name)
			b = append(b, `,"category":`...)
			b = appendStr(b, p.category)
		case m.a == scCategory:
			b = append(b, `,"category":`...)
			b = appendStr(b, sections[m.c].category)
		case sc.category != "":
			b = append(b, `,"category":`...)
			b = appendStr(b, sc.category)
		}
		b = append(b, '}')
	case opIdentify:
		b = g.head(b, "identify", m, j, ph.anon)
		b = g.traits(b)
	default:
		b = g.track(b, m, j, ph.anon)
	}
	b = append(b, ',')
	return g.appContext(b, ph)
}

func (g *gen) appContext(b []byte, ph *phone) []byte {
	md := &phoneModels[ph.model]
	b = append(b, `"context":{"app":{"name":"`+appName+`","version":"`+appVersion+`","build":"`+appBuild+`","namespace":"example.harbormembers.app"},"device":{"id":"`...)
	b = append(b, ph.id...)
	b = append(b, `","manufacturer":`...)
	b = appendStr(b, md.manufacturer)
	b = append(b, `,"model":`...)
	b = appendStr(b, md.model)
	b = append(b, `,"type":"`...)
	b = append(b, md.typ...)
	b = append(b, `"},"os":{"name":"`...)
	b = append(b, md.os...)
	b = append(b, `","version":"`...)
	b = append(b, md.osVersion...)
	b = append(b, `"},"screen":{"width":`...)
	b = strconv.AppendInt(b, int64(md.width), 10)
	b = append(b, `,"height":`...)
	b = strconv.AppendInt(b, int64(md.height), 10)
	b = append(b, `},"network":{"wifi":true,"cellular":false},"ip":"`...)
	b = append(b, ph.ip...)
	b = append(b, `","locale":"en-US","timezone":"`...)
	b = append(b, regions[g.pr.region].tz...)
	b = append(b, `","library":{"name":"`...)
	b = append(b, md.library...)
	b = append(b, `","version":"`...)
	b = append(b, md.libVersion...)
	b = append(b, `"}}}`...)
	return b
}

// The channels that know a person by one contact point only. They write it
// in context.traits, where Kith reads identifiers on every kind of call.

func traitContext(b []byte, key, value, library, version string) []byte {
	b = append(b, `,"context":{"traits":{"`...)
	b = append(b, key...)
	b = append(b, `":`...)
	b = appendStr(b, value)
	b = append(b, `},"library":{"name":"`...)
	b = append(b, library...)
	b = append(b, `","version":"`...)
	b = append(b, version...)
	b = append(b, `"}}}`...)
	return b
}

var emailEvents = [...]string{"Email Delivered", "Email Opened", "Email Link Clicked"}

func (g *gen) renderEmail(b []byte, m *msg, j int) []byte {
	c := &g.d.campaigns[m.a]
	b = g.event(b, m, j, g.pr.espID, emailEvents[m.b])
	b = append(b, `,"properties":{"campaign_id":"`...)
	b = append(b, c.id...)
	b = append(b, `","campaign_name":`...)
	b = appendStr(b, c.name)
	b = append(b, `,"email_id":"em_`...)
	b = appendHex(b, g.hash(int64(m.a), 3), 16)
	b = append(b, `","email_subject":`...)
	b = appendStr(b, c.title)
	if c.list == listFinance {
		b = append(b, `,"list":"financial-services"`...)
	} else {
		b = append(b, `,"list":"newsletter"`...)
	}
	if m.b == 2 {
		b = append(b, `,"link_url":"`+siteURL+`/deals?utm_source=harbor&utm_medium=email&utm_campaign=`...)
		b = append(b, c.id...)
		b = append(b, '"')
	}
	b = append(b, '}')
	return traitContext(b, "email", g.pr.emailLower, "harbor-esp-webhooks", "2.4.0")
}

var smsEvents = [...]string{"SMS Sent", "SMS Delivered", "SMS Clicked"}

func (g *gen) renderSMS(b []byte, m *msg, j int) []byte {
	c := &g.d.campaigns[m.a]
	b = g.event(b, m, j, g.pr.smsID, smsEvents[m.b])
	b = append(b, `,"properties":{"campaign_id":"`...)
	b = append(b, c.id...)
	b = append(b, `","campaign_name":`...)
	b = appendStr(b, c.name)
	b = append(b, `,"message_sid":"SM`...)
	b = appendHex(b, g.hash(int64(m.a), 5), 16)
	b = appendHex(b, g.hash(int64(m.a), 6), 16)
	b = append(b, '"')
	switch m.b {
	case 0:
		b = append(b, `,"body":`...)
		b = appendStr(b, c.title)
	case 2:
		b = append(b, `,"link_url":"`+siteURL+`/deals?utm_source=harbor&utm_medium=sms&utm_campaign=`...)
		b = append(b, c.id...)
		b = append(b, '"')
	}
	b = append(b, '}')
	return traitContext(b, "phone", g.pr.phone, "harbor-sms-gateway", "1.3.0")
}

func (g *gen) renderCall(b []byte, m *msg, j int) []byte {
	cr := &callReasons[m.a]
	h := g.hash(int64(m.c), 13)
	id := make([]byte, 0, 34)
	id = append(id, "CA"...)
	id = appendHex(id, h, 16)
	id = appendHex(id, mix(h), 16)
	name := "Call Started"
	if m.op == opCallEnded {
		name = "Call Ended"
	}
	b = g.event(b, m, j, string(id), name)
	ag := &agents[h%uint64(len(agents))]
	b = append(b, `,"properties":{"call_id":"`...)
	b = append(b, id...)
	b = append(b, `","direction":"inbound","queue":`...)
	b = appendStr(b, cr.queue)
	b = append(b, `,"reason":`...)
	b = appendStr(b, cr.reason)
	if cr.category != "" {
		b = append(b, `,"category":`...)
		b = appendStr(b, cr.category)
	}
	b = append(b, `,"agent":`...)
	b = appendStr(b, ag.name)
	b = append(b, `,"agent_id":"`...)
	b = append(b, ag.id...)
	b = append(b, '"')
	if m.op == opCallEnded {
		b = append(b, `,"duration":`...)
		b = strconv.AppendInt(b, int64(m.d), 10)
		b = append(b, `,"wait_time":`...)
		b = strconv.AppendUint(b, 5+h/11%240, 10)
		b = append(b, `,"disposition":`...)
		b = appendStr(b, cr.dispositions[h/3%uint64(len(cr.dispositions))])
	}
	b = append(b, '}')
	return traitContext(b, "phone", g.pr.phone, "harbor-cti", "1.9.0")
}

var payments = []string{"Visa", "Mastercard", "Harbor Members Citi Card", "debit", "American Express"}

func (g *gen) renderStore(b []byte, m *msg, j int) []byte {
	wh := &warehouses[m.a]
	anon := make([]byte, 0, 24)
	anon = append(anon, "pos_"...)
	anon = appendHex(anon, g.hash(17), 16)
	if m.op == opStoreVisit {
		b = g.event(b, m, j, string(anon), "Store Visit")
		b = append(b, `,"properties":{"store_id":"`...)
		b = append(b, wh.id...)
		b = append(b, `","store_name":`...)
		b = appendStr(b, wh.name)
		b = append(b, `,"city":`...)
		b = appendStr(b, wh.city)
		b = append(b, `,"state":"`...)
		b = append(b, wh.state...)
		b = append(b, `","entry":"membership card scan"}`...)
		return traitContext(b, "loyalty_id", g.pr.loyalty, "harbor-pos", "3.2.1")
	}
	b = g.event(b, m, j, string(anon), "Order Completed")
	h := g.hash(int64(m.c), 19)
	var sub int64
	items := make([]byte, 0, 2048)
	for k := range int(m.b) {
		p := &groceries[mix(h+uint64(k))%uint64(len(groceries))]
		qty := 1 + int(mix(h^uint64(k))%3)
		if k > 0 {
			items = append(items, ',')
		}
		items = append(items, '{')
		items = appendProduct(items, p, qty, "")
		items = append(items, '}')
		sub += int64(p.cents) * int64(qty)
	}
	if m.d >= 0 {
		p := &products[m.d]
		items = append(items, ",{"...)
		items = appendProduct(items, p, 1, "")
		items = append(items, '}')
		sub += int64(p.cents)
	}
	tax := sub * 725 / 10000
	b = append(b, `,"properties":{"order_id":"`...)
	b = g.orderID(b, m.c)
	b = append(b, `","store_id":"`...)
	b = append(b, wh.id...)
	b = append(b, `","store_name":`...)
	b = appendStr(b, wh.name)
	b = append(b, `,"channel":"store","payment_method":`...)
	b = appendStr(b, payments[h%uint64(len(payments))])
	b = append(b, `,"subtotal":`...)
	b = appendCents(b, sub)
	b = append(b, `,"tax":`...)
	b = appendCents(b, tax)
	b = append(b, `,"total":`...)
	b = appendCents(b, sub+tax)
	b = append(b, `,"revenue":`...)
	b = appendCents(b, sub)
	b = append(b, `,"currency":"USD","products":[`...)
	b = append(b, items...)
	b = append(b, `]}`...)
	return traitContext(b, "loyalty_id", g.pr.loyalty, "harbor-pos", "3.2.1")
}

// JSON values.

// appendStr appends s as a JSON string.
func appendStr(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\n':
			b = append(b, '\\', 'n')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		start = i + 1
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendTime appends a Unix millisecond time in ISO 8601, UTC.
func appendTime(b []byte, ms int64) []byte {
	return time.UnixMilli(ms).UTC().AppendFormat(b, "2006-01-02T15:04:05.000Z")
}

// appendCents appends an amount in cents as a JSON number of dollars.
func appendCents(b []byte, cents int64) []byte {
	if cents < 0 {
		b = append(b, '-')
		cents = -cents
	}
	b = strconv.AppendInt(b, cents/100, 10)
	c := cents % 100
	return append(b, '.', byte('0'+c/10), byte('0'+c%10))
}

// appendHex appends the low n hex digits of v (n <= 16).
func appendHex(b []byte, v uint64, n int) []byte {
	const digits = "0123456789abcdef"
	for i := n - 1; i >= 0; i-- {
		b = append(b, digits[v>>(4*uint(i))&0xf])
	}
	return b
}
