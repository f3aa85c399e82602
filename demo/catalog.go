package demo

// The fixed world the people of the demo live in: the site, the app, the
// products, the warehouses, the call reasons. Tables only; never modified.

// siteURL is the demo business's website (.example is reserved for examples).
const siteURL = "https://www.harbormembers.example"

// product is something Harbor Members sells.
type product struct {
	sku, name, brand string
	category         string // also the intent topic, lower-cased
	slug             string // the product page is the section path + "/" + slug
	cents            int
}

// section is a part of the site about one topic: a shop department or a
// financial service.
type section struct {
	category string // properties.category of its pages: the intent topic
	path     string // landing page
	title    string
	service  bool   // insurance or a loan: content pages and a quote, no products
	quote    string // the track event a service's quote page sends
	pages    []page // content pages of a service
	products []int  // into products
	weight   int    // how often people are interested in it
}

// page is a page of the website.
type page struct {
	path, title string
	category    string
	product     int // into products; -1 for none
}

var products = []product{
	// basketball hoops (0-4)
	{"HM-100231", "Lifetime 54 in. Portable Basketball Hoop", "Lifetime", "Basketball Hoop", "lifetime-54-in-portable-basketball-hoop", 34999},
	{"HM-100232", "Spalding 60 in. In-Ground Basketball Hoop", "Spalding", "Basketball Hoop", "spalding-60-in-in-ground-basketball-hoop", 89999},
	{"HM-100233", "Silverback NXT 50 in. Wall-Mount Basketball Hoop", "Silverback", "Basketball Hoop", "silverback-nxt-50-in-wall-mount-hoop", 27999},
	{"HM-100234", "Goalrilla FT54 In-Ground Basketball Hoop", "Goalrilla", "Basketball Hoop", "goalrilla-ft54-in-ground-basketball-hoop", 129999},
	{"HM-100235", "Lifetime 44 in. Adjustable Portable Basketball Hoop", "Lifetime", "Basketball Hoop", "lifetime-44-in-adjustable-portable-hoop", 19999},
	// bikes (5-7)
	{"HM-110410", "Schwinn 27.5 in. Mountain Bike", "Schwinn", "Bikes", "schwinn-27-5-in-mountain-bike", 39999},
	{"HM-110411", "Cannondale Quick 4 Hybrid Bike", "Cannondale", "Bikes", "cannondale-quick-4-hybrid-bike", 74999},
	{"HM-110412", "Jetson Haze Folding E-Bike", "Jetson", "Bikes", "jetson-haze-folding-e-bike", 64999},
	// camping (8-10)
	{"HM-120550", "Coleman 6-Person Instant Cabin Tent", "Coleman", "Camping", "coleman-6-person-instant-cabin-tent", 17999},
	{"HM-120551", "YETI Tundra 45 Hard Cooler", "YETI", "Camping", "yeti-tundra-45-hard-cooler", 29999},
	{"HM-120552", "Harbor Select Folding Camp Chair, 2-pack", "Harbor Select", "Camping", "harbor-select-folding-camp-chair-2-pack", 5999},
	// TVs (11-14)
	{"HM-200101", "Samsung 65 in. Class QLED 4K Smart TV", "Samsung", "TVs", "samsung-65-in-qled-4k-smart-tv", 89999},
	{"HM-200102", "LG 55 in. Class OLED evo 4K TV", "LG", "TVs", "lg-55-in-oled-evo-4k-tv", 129999},
	{"HM-200103", "TCL 75 in. Class 4K Google TV", "TCL", "TVs", "tcl-75-in-4k-google-tv", 59999},
	{"HM-200104", "Sony 85 in. Class BRAVIA 7 TV", "Sony", "TVs", "sony-85-in-bravia-7-tv", 199999},
	// laptops (15-17)
	{"HM-210201", "Apple MacBook Air 13 in. M4, 16GB", "Apple", "Laptops", "apple-macbook-air-13-in-m4-16gb", 99999},
	{"HM-210202", "HP 15.6 in. Laptop, Intel Core i7", "HP", "Laptops", "hp-15-6-in-laptop-intel-core-i7", 64999},
	{"HM-210203", "Lenovo IdeaPad Slim 5 16 in. Laptop", "Lenovo", "Laptops", "lenovo-ideapad-slim-5-16-in-laptop", 69999},
	// patio (18-20)
	{"HM-300301", "Harbor Select 7-Piece Patio Dining Set", "Harbor Select", "Patio Furniture", "harbor-select-7-piece-patio-dining-set", 119999},
	{"HM-300302", "Sunvilla 4-Piece Deep Seating Set", "Sunvilla", "Patio Furniture", "sunvilla-4-piece-deep-seating-set", 149999},
	{"HM-300303", "Treasure Garden 11 ft. Market Umbrella", "Treasure Garden", "Patio Furniture", "treasure-garden-11-ft-market-umbrella", 24999},
	// mattresses (21-22)
	{"HM-310410", "Harbor Select Hybrid Queen Mattress", "Harbor Select", "Mattresses", "harbor-select-hybrid-queen-mattress", 89999},
	{"HM-310411", "Sealy Posturepedic Plus King Mattress", "Sealy", "Mattresses", "sealy-posturepedic-plus-king-mattress", 139999},
	// tires (23-24)
	{"HM-400120", "Michelin Defender2 Tire 225/65R17", "Michelin", "Tires", "michelin-defender2-225-65r17", 21999},
	{"HM-400121", "Bridgestone Alenza AS Ultra 235/60R18", "Bridgestone", "Tires", "bridgestone-alenza-as-ultra-235-60r18", 24999},
	// appliances (25-27)
	{"HM-500501", "Whirlpool 36 in. French Door Refrigerator", "Whirlpool", "Appliances", "whirlpool-36-in-french-door-refrigerator", 189999},
	{"HM-500502", "LG 5 cu. ft. Front-Load Washer", "LG", "Appliances", "lg-5-cu-ft-front-load-washer", 84999},
	{"HM-500503", "Dyson V15 Detect Cordless Vacuum", "Dyson", "Appliances", "dyson-v15-detect-cordless-vacuum", 64999},
}

// groceries are what a warehouse trip mostly buys; they carry no topic.
var groceries = []product{
	{"HM-900001", "Harbor Select Organic Eggs, 24 ct", "Harbor Select", "Grocery", "", 899},
	{"HM-900002", "Harbor Select Organic Whole Milk, 3 x 64 oz", "Harbor Select", "Grocery", "", 1199},
	{"HM-900003", "Harbor Select Colombian Coffee, 3 lb", "Harbor Select", "Grocery", "", 1899},
	{"HM-900004", "Bananas, 3 lb", "", "Grocery", "", 199},
	{"HM-900005", "Rotisserie Chicken", "Harbor Select", "Grocery", "", 499},
	{"HM-900006", "Harbor Select Paper Towels, 12 rolls", "Harbor Select", "Household", "", 2399},
	{"HM-900007", "Harbor Select Bath Tissue, 30 rolls", "Harbor Select", "Household", "", 2699},
	{"HM-900008", "Harbor Select Extra Virgin Olive Oil, 2 L", "Harbor Select", "Grocery", "", 1699},
	{"HM-900009", "Harbor Select Whole Almonds, 3 lb", "Harbor Select", "Grocery", "", 1399},
	{"HM-900010", "Atlantic Salmon Fillet, per lb", "", "Grocery", "", 1099},
	{"HM-900011", "Organic Strawberries, 2 lb", "", "Grocery", "", 799},
	{"HM-900012", "Harbor Select Purified Water, 40 x 16.9 oz", "Harbor Select", "Grocery", "", 499},
	{"HM-900013", "Tide Free & Gentle Liquid Detergent, 146 loads", "Tide", "Household", "", 2499},
	{"HM-900014", "Harbor Select Baby Diapers, Size 3, 198 ct", "Harbor Select", "Baby", "", 4699},
	{"HM-900015", "Ground Beef 88% Lean, 4 lb", "", "Grocery", "", 2199},
	{"HM-900016", "San Francisco Sourdough Bread, 2 ct", "", "Grocery", "", 699},
	{"HM-900017", "Harbor Select Greek Yogurt, 48 oz", "Harbor Select", "Grocery", "", 699},
	{"HM-900018", "Avocados, 6 ct", "", "Grocery", "", 749},
	{"HM-900019", "Harbor Select Sparkling Water, 35 ct", "Harbor Select", "Grocery", "", 1099},
	{"HM-900020", "Harbor Select Dog Food, Chicken & Rice, 40 lb", "Harbor Select", "Pet", "", 4299},
}

var sections = []section{
	{category: "Basketball Hoop", path: "/sports/basketball/hoops", title: "Basketball Hoops", products: []int{0, 1, 2, 3, 4}, weight: 6},
	{category: "Bikes", path: "/sports/bikes", title: "Bikes", products: []int{5, 6, 7}, weight: 5},
	{category: "Camping", path: "/sports/camping", title: "Camping Gear", products: []int{8, 9, 10}, weight: 5},
	{category: "TVs", path: "/electronics/tvs", title: "TVs", products: []int{11, 12, 13, 14}, weight: 9},
	{category: "Laptops", path: "/electronics/laptops", title: "Laptops", products: []int{15, 16, 17}, weight: 6},
	{category: "Patio Furniture", path: "/home/patio", title: "Patio Furniture", products: []int{18, 19, 20}, weight: 4},
	{category: "Mattresses", path: "/home/mattresses", title: "Mattresses", products: []int{21, 22}, weight: 4},
	{category: "Tires", path: "/auto/tires", title: "Tires", products: []int{23, 24}, weight: 5},
	{category: "Appliances", path: "/appliances", title: "Appliances", products: []int{25, 26, 27}, weight: 5},
	{category: "Car Insurance", path: "/insurance/car", title: "Car Insurance for Members", service: true, quote: "Quote Started", weight: 6,
		pages: []page{
			{path: "/insurance/car/coverage", title: "Car Insurance Coverage Options"},
			{path: "/insurance/car/member-discounts", title: "Car Insurance Discounts for Members"},
			{path: "/insurance/car/compare", title: "Compare Car Insurance Plans"},
			{path: "/insurance/car/claims", title: "How Car Insurance Claims Work"},
			{path: "/insurance/car/faq", title: "Car Insurance FAQ"},
			{path: "/insurance/car/quote", title: "Get a Car Insurance Quote"},
		}},
	{category: "Home Insurance", path: "/insurance/home", title: "Home Insurance for Members", service: true, quote: "Quote Started", weight: 3,
		pages: []page{
			{path: "/insurance/home/coverage", title: "Home Insurance Coverage"},
			{path: "/insurance/home/bundle", title: "Bundle Home and Car Insurance"},
			{path: "/insurance/home/quote", title: "Get a Home Insurance Quote"},
		}},
	{category: "Mortgage Refinancing", path: "/mortgages/refinance", title: "Refinance Your Mortgage", service: true, quote: "Rate Quote Requested", weight: 3,
		pages: []page{
			{path: "/mortgages/refinance/rates", title: "Today's Refinance Rates"},
			{path: "/mortgages/refinance/calculator", title: "Refinance Calculator"},
			{path: "/mortgages/refinance/cash-out", title: "Cash-Out Refinancing Explained"},
			{path: "/mortgages/refinance/closing-costs", title: "Refinance Closing Costs"},
			{path: "/mortgages/refinance/apply", title: "Apply to Refinance"},
		}},
	{category: "Travel", path: "/travel", title: "Harbor Members Travel", service: true, quote: "Trip Quote Requested", weight: 3,
		pages: []page{
			{path: "/travel/cruises", title: "Cruise Packages"},
			{path: "/travel/hawaii", title: "Hawaii Vacation Packages"},
			{path: "/travel/rental-cars", title: "Rental Car Deals"},
			{path: "/travel/quote", title: "Get a Travel Quote"},
		}},
}

// General pages, not about a topic.
var generalPages = []page{
	{path: "/", title: "Harbor Members: Warehouse Club, Insurance and More", product: -1},
	{path: "/deals", title: "Member Deals", product: -1},
	{path: "/membership", title: "Membership", product: -1},
	{path: "/membership/executive", title: "Executive Membership", product: -1},
	{path: "/warehouses", title: "Find a Warehouse", product: -1},
	{path: "/gas", title: "Gas Prices", product: -1},
	{path: "/grocery", title: "Grocery", product: -1},
	{path: "/account", title: "Your Account", product: -1},
	{path: "/account/orders", title: "Your Orders", product: -1},
	{path: "/login", title: "Sign In", product: -1},
	{path: "/cart", title: "Cart", product: -1},
	{path: "/checkout", title: "Checkout", product: -1},
}

// Indexes of general pages used by the generator.
const (
	pgHome = iota
	pgDeals
	pgMembership
	pgExecutive
	pgWarehouses
	pgGas
	pgGrocery
	pgAccount
	pgOrders
	pgLogin
	pgCart
	pgCheckout
	numGeneral
)

// site is every page of the website, in one table: general pages, then for
// each section its landing page, its content or product pages.
var site, sectionPages, productPages = buildSite()

// buildSite returns every page, the pages of each section and the page of
// each product.
func buildSite() ([]page, [][]int, []int) {
	pages := append([]page(nil), generalPages...)
	idx := make([][]int, len(sections))
	byProduct := make([]int, len(products))
	for s, sec := range sections {
		idx[s] = append(idx[s], len(pages))
		pages = append(pages, page{path: sec.path, title: sec.title, category: sec.category, product: -1})
		for _, pg := range sec.pages {
			idx[s] = append(idx[s], len(pages))
			pg.category, pg.product = sec.category, -1
			pages = append(pages, pg)
		}
		for _, pr := range sec.products {
			idx[s] = append(idx[s], len(pages))
			byProduct[pr] = len(pages)
			p := products[pr]
			pages = append(pages, page{path: sec.path + "/" + p.slug, title: p.name, category: sec.category, product: pr})
		}
	}
	return pages, idx, byProduct
}

// pageIndex returns the index in site of the page at path; it panics for an
// unknown path, which is a mistake in this package.
func pageIndex(path string) int {
	for i, p := range site {
		if p.path == path {
			return i
		}
	}
	panic("demo: no page " + path)
}

// The app's screens.
type screen struct {
	name     string
	category string // for service screens
}

var screens = []screen{
	{name: "Home"},
	{name: "Warehouse Locator"},
	{name: "Membership Card"},
	{name: "Digital Coupons"},
	{name: "Search Results"},
	{name: "Product Detail"}, // with a product
	{name: "Cart"},
	{name: "Orders"},
	{name: "Account"},
	{name: "Gas Prices"},
	{name: "Pharmacy"},
	{name: "Car Insurance", category: "Car Insurance"},
	{name: "Home Insurance", category: "Home Insurance"},
	{name: "Mortgage Rates", category: "Mortgage Refinancing"},
	{name: "Travel Deals", category: "Travel"},
	{name: "Category"}, // with a product's category
}

const (
	scHome = iota
	scLocator
	scCard
	scCoupons
	scSearch
	scProduct
	scCart
	scOrders
	scAccount
	scGas
	scPharmacy
	scCarInsurance
	scHomeInsurance
	scMortgage
	scTravel
	scCategory
)

// sectionIndex returns the index of the section about category; it panics
// for an unknown one, which is a mistake in this package.
func sectionIndex(category string) int {
	for i, s := range sections {
		if s.category == category {
			return i
		}
	}
	panic("demo: no section " + category)
}

// serviceScreen maps a service section to its app screen, -1 if none.
func serviceScreen(sec int) int {
	switch sections[sec].category {
	case "Car Insurance":
		return scCarInsurance
	case "Home Insurance":
		return scHomeInsurance
	case "Mortgage Refinancing":
		return scMortgage
	case "Travel":
		return scTravel
	}
	return -1
}

var searches = []string{"basketball hoop", "65 inch tv", "paper towels", "patio set", "tires", "coffee", "queen mattress",
	"laptop", "tent", "car insurance", "rotisserie chicken", "dog food", "e-bike", "refinance rates", "cooler", "vacuum"}

// region is where a person lives: area codes, home warehouse, time zone.
type region struct {
	area, city, state, tz string
	warehouse             int // into warehouses
}

var regions = []region{
	{"415", "San Francisco", "CA", "America/Los_Angeles", 0},
	{"628", "San Francisco", "CA", "America/Los_Angeles", 0},
	{"510", "Oakland", "CA", "America/Los_Angeles", 0},
	{"650", "San Mateo", "CA", "America/Los_Angeles", 1},
	{"408", "San Jose", "CA", "America/Los_Angeles", 1},
	{"206", "Seattle", "WA", "America/Los_Angeles", 2},
	{"425", "Bellevue", "WA", "America/Los_Angeles", 2},
	{"503", "Portland", "OR", "America/Los_Angeles", 3},
	{"971", "Beaverton", "OR", "America/Los_Angeles", 3},
	{"312", "Chicago", "IL", "America/Chicago", 4},
	{"617", "Boston", "MA", "America/New_York", 5},
	{"212", "New York", "NY", "America/New_York", 6},
	{"720", "Denver", "CO", "America/Denver", 7},
	{"303", "Aurora", "CO", "America/Denver", 7},
	{"512", "Austin", "TX", "America/Chicago", 8},
	{"214", "Dallas", "TX", "America/Chicago", 8},
	{"602", "Phoenix", "AZ", "America/Phoenix", 9},
	{"702", "Las Vegas", "NV", "America/Los_Angeles", 9},
	{"619", "San Diego", "CA", "America/Los_Angeles", 10},
	{"310", "Los Angeles", "CA", "America/Los_Angeles", 10},
	{"916", "Sacramento", "CA", "America/Los_Angeles", 0},
}

type warehouse struct{ id, name, city, state string }

var warehouses = []warehouse{
	{"wh-112", "Harbor Members San Leandro", "San Leandro", "CA"},
	{"wh-118", "Harbor Members Mountain View", "Mountain View", "CA"},
	{"wh-204", "Harbor Members Seattle SoDo", "Seattle", "WA"},
	{"wh-221", "Harbor Members Tigard", "Tigard", "OR"},
	{"wh-307", "Harbor Members Chicago Lincoln Park", "Chicago", "IL"},
	{"wh-402", "Harbor Members Dorchester", "Boston", "MA"},
	{"wh-415", "Harbor Members Brooklyn", "New York", "NY"},
	{"wh-509", "Harbor Members Denver Central Park", "Denver", "CO"},
	{"wh-611", "Harbor Members Austin North", "Austin", "TX"},
	{"wh-703", "Harbor Members Tempe", "Tempe", "AZ"},
	{"wh-714", "Harbor Members Culver City", "Los Angeles", "CA"},
}

// callReason is why someone calls the call center.
type callReason struct {
	reason, queue string
	category      string   // the topic of a sales call, "" for service calls
	dispositions  []string // how such calls end
}

var callReasons = []callReason{
	{"Membership renewal", "Membership", "", []string{"resolved", "renewed"}},
	{"Billing question", "Member Services", "", []string{"resolved", "refund issued"}},
	{"Order status", "Member Services", "", []string{"resolved", "escalated"}},
	{"Returns and refunds", "Member Services", "", []string{"resolved", "refund issued"}},
	{"Pharmacy refill", "Pharmacy", "", []string{"resolved"}},
	{"Tire center appointment", "Auto", "", []string{"appointment booked"}},
	{"Car insurance quote", "Insurance Sales", "Car Insurance", []string{"quote sent", "callback scheduled"}},
	{"Home insurance claim", "Insurance Service", "Home Insurance", []string{"claim opened", "resolved"}},
	{"Mortgage refinancing", "Home Lending", "Mortgage Refinancing", []string{"rate quote sent", "callback scheduled"}},
	{"Travel booking", "Travel", "Travel", []string{"booked", "quote sent"}},
}

const (
	crMembership = 0
	crCarQuote   = 6
	crRefinance  = 8
)

var agents = []struct{ id, name string }{
	{"ag-1042", "Marisol Vega"}, {"ag-1077", "Derek Johnson"}, {"ag-1103", "Keisha Brown"}, {"ag-1118", "Paul Nguyen"},
	{"ag-1131", "Hannah Schultz"}, {"ag-1150", "Omar Haddad"}, {"ag-1162", "Brianna Lewis"}, {"ag-1187", "Victor Sato"},
}

// Browsers and phones people use.
var userAgents = []string{
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/136.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/136.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.4 Safari/605.1.15",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/136.0.0.0 Safari/537.36 Edg/136.0.0.0",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:138.0) Gecko/20100101 Firefox/138.0",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 18_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.4 Mobile/15E148 Safari/604.1",
	"Mozilla/5.0 (Linux; Android 15; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/136.0.0.0 Mobile Safari/537.36",
}

// laptopAgents is how many of userAgents, from the first, are laptops';
// the others are phones'.
const laptopAgents = 5

type phoneModel struct {
	manufacturer, model, typ, os, osVersion, library, libVersion string
	width, height                                                int
}

var phoneModels = []phoneModel{
	{"Apple", "iPhone16,2", "ios", "iOS", "18.4", "analytics-swift", "1.7.3", 430, 932},
	{"Apple", "iPhone15,3", "ios", "iOS", "18.3.2", "analytics-swift", "1.7.3", 430, 932},
	{"Apple", "iPhone14,5", "ios", "iOS", "17.6.1", "analytics-swift", "1.7.3", 390, 844},
	{"Google", "Pixel 8", "android", "Android", "15", "analytics-kotlin", "1.19.1", 412, 915},
	{"samsung", "SM-S921U", "android", "Android", "14", "analytics-kotlin", "1.19.1", 384, 832},
}

const (
	appName    = "Harbor Members"
	appVersion = "5.12.0"
	appBuild   = "51200"
)

// Names of ordinary people.
var firstNames = []string{
	"James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
	"William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Karen", "Christopher", "Sarah",
	"Charles", "Lisa", "Daniel", "Nancy", "Matthew", "Sandra", "Anthony", "Ashley", "Mark", "Emily",
	"Andrew", "Michelle", "Joshua", "Amanda", "Kevin", "Melissa", "Brian", "Stephanie", "George", "Rebecca",
	"Jose", "Maria", "Luis", "Carmen", "Carlos", "Ana", "Juan", "Gabriela", "Miguel", "Lucia",
	"Wei", "Mei", "Jun", "Hana", "Minh", "Linh", "Raj", "Priya", "Arjun", "Ananya",
	"Kwame", "Amara", "Tunde", "Zainab", "Omar", "Fatima", "Ahmed", "Layla", "Noah", "Olivia",
	"Liam", "Emma", "Ethan", "Ava", "Mason", "Sophia", "Logan", "Isabella", "Lucas", "Mia",
	"Aiden", "Harper", "Elijah", "Chloe", "Grace", "Nora", "Samuel", "Zoe", "Henry", "Leah",
	"Diego", "Valentina", "Mateo", "Camila", "Yusuf", "Aaliyah", "Malik", "Imani", "Erik", "Ingrid",
}

var lastNames = []string{
	"Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
	"Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
	"Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
	"Walker", "Young", "Allen", "King", "Wright", "Scott", "Torres", "Nguyen", "Hill", "Flores",
	"Green", "Adams", "Nelson", "Baker", "Hall", "Rivera", "Campbell", "Mitchell", "Carter", "Roberts",
	"Chen", "Wang", "Li", "Zhang", "Liu", "Kim", "Park", "Tran", "Pham", "Patel",
	"Shah", "Singh", "Kumar", "Okafor", "Mensah", "Adeyemi", "Haddad", "Khan", "Ali", "Cohen",
	"Murphy", "O'Brien", "Sullivan", "Kowalski", "Novak", "Schmidt", "Muller", "Rossi", "Bianchi", "Santos",
	"Silva", "Costa", "Yamamoto", "Tanaka", "Sato", "Nakamura", "Ivanova", "Petrov", "Larsen", "Johansson",
	"Reyes", "Cruz", "Morales", "Ortiz", "Gutierrez", "Chavez", "Ramos", "Ruiz", "Alvarez", "Mendoza",
}

var emailDomains = []string{"example.com", "example.com", "example.com", "example.net", "example.net", "example.org"}

var membershipTiers = []string{"Gold Star", "Gold Star", "Gold Star", "Executive", "Business"}

// IP addresses come from the documentation ranges (RFC 5737).
var ipPrefixes = []string{"192.0.2.", "198.51.100.", "203.0.113."}

// E-mail and SMS campaigns, by kind.
var newsletterNames = []struct{ name, subject string }{
	{"Weekly Savings", "This week's member deals are here"},
	{"New in the Warehouse", "Just arrived at your warehouse"},
	{"Seasonal Favorites", "Save on seasonal favorites"},
	{"Member-Only Savings", "Member-only savings end Sunday"},
	{"Weekend Deals", "Fresh deals for your weekend"},
	{"Top Picks", "Top picks from Harbor Members"},
}

var financeNames = []struct{ name, subject string }{
	{"Harbor Members Financial Update", "Your monthly financial services update"},
	{"Insurance: Bundle and Save", "Members save more when they bundle"},
	{"Home Lending Newsletter", "What's new in home lending this month"},
}

var smsNames = []struct{ name, body string }{
	{"Flash Deal", "Harbor Members: flash deal today only, 20% off select TVs. Reply STOP to opt out"},
	{"Gas Price Alert", "Harbor Members: gas is $0.30 below area average at your warehouse this week. Reply STOP to opt out"},
	{"Weekend Coupons", "Harbor Members: new digital coupons for the weekend. Reply STOP to opt out"},
}
