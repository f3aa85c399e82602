package clv

import (
	"fmt"
	"math"
	"sort"
	"time"
)

// Customer is one customer's purchase history in the form the models use.
// Times are in weeks (7 days).
type Customer struct {
	// ID names the customer in errors and output.
	ID string
	// X is the number of repeat purchase days in the calibration period:
	// distinct days with a purchase, not counting the first.
	X float64
	// TX is the recency: weeks from the first purchase to the last one in
	// the calibration period (0 when X is 0).
	TX float64
	// T is the customer's age at the end of calibration: weeks from the first
	// purchase to the calibration end.
	T float64
	// MX is the mean amount of the repeat purchase days in the calibration
	// period; the first purchase is left out. It is 0 when X is 0.
	MX float64
	// XStar is the number of purchase days in the holdout period, after the
	// calibration end. The models never read it; it is there to test them.
	XStar float64
}

// InputError reports a customer summary or transaction the models cannot use.
type InputError struct {
	// Customer is the customer's ID, or "#i" (its index) when it has none.
	Customer string
	// Field is the offending field: x, t_x, T, m_x, date or amount.
	Field string
	// Reason says what is wrong with it.
	Reason string
}

// Error says which customer and field are wrong, and why.
func (e *InputError) Error() string {
	return fmt.Sprintf("customer %s: %s: %s", e.Customer, e.Field, e.Reason)
}

func customerName(id string, i int) string {
	if id == "" {
		return fmt.Sprintf("#%d", i)
	}
	return fmt.Sprintf("%q", id)
}

// Validate checks that c is a possible purchase history: no negative or
// non-finite values, a whole number of repeat purchases, t_x <= T, and t_x
// and m_x 0 when there are no repeat purchases.
func (c Customer) Validate() error { return c.validate(0) }

func (c Customer) validate(i int) error {
	bad := func(field, format string, args ...any) error {
		return &InputError{Customer: customerName(c.ID, i), Field: field, Reason: fmt.Sprintf(format, args...)}
	}
	for _, f := range []struct {
		name string
		v    float64
	}{{"x", c.X}, {"t_x", c.TX}, {"T", c.T}, {"m_x", c.MX}, {"x_star", c.XStar}} {
		if math.IsNaN(f.v) || math.IsInf(f.v, 0) {
			return bad(f.name, "%v is not a finite number", f.v)
		}
		if f.v < 0 {
			return bad(f.name, "%v is negative", f.v)
		}
	}
	switch {
	case c.X != math.Trunc(c.X):
		return bad("x", "%v is not a whole number of purchases", c.X)
	case c.TX > c.T:
		return bad("t_x", "%v is greater than T (%v)", c.TX, c.T)
	case c.X == 0 && c.TX > 0:
		return bad("t_x", "%v with x = 0; a customer with no repeat purchase has t_x 0", c.TX)
	case c.X == 0 && c.MX > 0:
		return bad("m_x", "%v with x = 0; a customer with no repeat purchase has m_x 0", c.MX)
	}
	return nil
}

func validateAll(cs []Customer) error {
	for i, c := range cs {
		if err := c.validate(i); err != nil {
			return err
		}
	}
	return nil
}

// Transaction is one purchase. Only the calendar date of Date counts (in
// Date's location); purchases by one customer on one day are merged.
type Transaction struct {
	// Customer identifies who bought.
	Customer string
	// Date is the day of the purchase.
	Date time.Time
	// Amount is what the purchase was worth, not negative.
	Amount float64
}

// Period splits transactions into calibration and holdout.
type Period struct {
	// End is the last day of the calibration period (inclusive).
	End time.Time
	// HoldoutEnd is the last day of the holdout period (inclusive); the zero
	// time counts every transaction after End.
	HoldoutEnd time.Time
}

// civilDay numbers t's calendar date: days since 1970-01-01.
func civilDay(t time.Time) int64 {
	y, m, d := t.Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

// Summarize turns transactions into customer summaries, one per customer
// whose first purchase is on or before p.End, in order of first appearance
// in txs. It follows the conventions of the CDNOW studies: purchases on one
// day are merged into one (amounts summed); X counts the days after the
// first purchase day up to and including p.End; TX and T are in weeks of 7
// days; MX is the mean amount of those repeat days; XStar counts purchase
// days after p.End, up to p.HoldoutEnd if set. Customers who first bought
// after p.End are left out: they were not yet customers at calibration.
func Summarize(txs []Transaction, p Period) ([]Customer, error) {
	if p.End.IsZero() {
		return nil, fmt.Errorf("summarize: calibration end is not set")
	}
	end := civilDay(p.End)
	holdEnd := int64(math.MaxInt64)
	if !p.HoldoutEnd.IsZero() {
		holdEnd = civilDay(p.HoldoutEnd)
		if holdEnd < end {
			return nil, fmt.Errorf("summarize: holdout end %s is before calibration end %s",
				p.HoldoutEnd.Format(time.DateOnly), p.End.Format(time.DateOnly))
		}
	}
	type purchase struct {
		cust   int
		day    int64
		amount float64
	}
	index := make(map[string]int)
	var ids []string
	ps := make([]purchase, 0, len(txs))
	for _, tx := range txs {
		i, ok := index[tx.Customer]
		if !ok {
			i = len(ids)
			index[tx.Customer] = i
			ids = append(ids, tx.Customer)
		}
		name := customerName(tx.Customer, i)
		if tx.Date.IsZero() {
			return nil, &InputError{Customer: name, Field: "date", Reason: "missing"}
		}
		if math.IsNaN(tx.Amount) || math.IsInf(tx.Amount, 0) || tx.Amount < 0 {
			return nil, &InputError{Customer: name, Field: "amount", Reason: fmt.Sprintf("%v is not a non-negative number", tx.Amount)}
		}
		ps = append(ps, purchase{i, civilDay(tx.Date), tx.Amount})
	}
	sort.Slice(ps, func(i, j int) bool {
		if ps[i].cust != ps[j].cust {
			return ps[i].cust < ps[j].cust
		}
		return ps[i].day < ps[j].day
	})
	out := make([]Customer, 0, len(ids))
	for lo := 0; lo < len(ps); {
		hi := lo
		for hi < len(ps) && ps[hi].cust == ps[lo].cust {
			hi++
		}
		first := ps[lo].day
		if first <= end {
			c := Customer{ID: ids[ps[lo].cust], T: float64(end-first) / 7}
			var spend float64
			for i := lo; i < hi; {
				day, amount := ps[i].day, 0.0
				for ; i < hi && ps[i].day == day; i++ {
					amount += ps[i].amount
				}
				switch {
				case day == first:
				case day <= end:
					c.X++
					c.TX = float64(day-first) / 7
					spend += amount
				case day <= holdEnd:
					c.XStar++
				}
			}
			if c.X > 0 {
				c.MX = spend / c.X
			}
			out = append(out, c)
		}
		lo = hi
	}
	return out, nil
}

// row is a group of customers with the same (x, t_x, T), or for the spend
// model the same (x, m_x): the log-likelihood is a weighted sum over rows.
type row struct {
	x, tx, t, mx float64
	w            float64
}

func groupCounts(cs []Customer) []row {
	type key struct{ x, tx, t float64 }
	at := make(map[key]int)
	var rows []row
	for _, c := range cs {
		k := key{c.X, c.TX, c.T}
		if i, ok := at[k]; ok {
			rows[i].w++
			continue
		}
		at[k] = len(rows)
		rows = append(rows, row{x: c.X, tx: c.TX, t: c.T, w: 1})
	}
	return rows
}

func groupSpend(cs []Customer) []row {
	type key struct{ x, mx float64 }
	at := make(map[key]int)
	var rows []row
	for _, c := range cs {
		if c.X == 0 || c.MX <= 0 {
			continue
		}
		k := key{c.X, c.MX}
		if i, ok := at[k]; ok {
			rows[i].w++
			continue
		}
		at[k] = len(rows)
		rows = append(rows, row{x: c.X, mx: c.MX, w: 1})
	}
	return rows
}
