package profile

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"strconv"

	"github.com/kithhq/kith"
)

// PurchaseConfig says which events are completed orders and where their
// amount is, after Segment's e-commerce spec.
type PurchaseConfig struct {
	// Events are the track events that complete an order (default
	// "Order Completed").
	Events []string `json:"events"`
	// AmountFields are the properties read for the order's amount, the
	// first present wins (default revenue, then total).
	AmountFields []string `json:"amount_fields"`
}

// DefaultPurchaseConfig follows Segment's e-commerce spec.
func DefaultPurchaseConfig() PurchaseConfig {
	return PurchaseConfig{Events: []string{"Order Completed"}, AmountFields: []string{"revenue", "total"}}
}

// StageChangedEvent is the track event that moves a person to another
// lifecycle stage; profiles heed it only from the lifecycle source
// (Config.LifecycleSource), with properties {from, to}.
const StageChangedEvent = kith.EventStageChanged

// orderProps are the properties of an order event.
type orderProps map[string]json.RawMessage

// purchase reads a completed order from an event, if it is one: a track
// event named in Events whose amount is a finite number (or a numeric
// string, as some SDKs send).
func (c *PurchaseConfig) purchase(e *kith.Event, name string) (kith.Purchase, bool) {
	if e.Type != kith.TypeTrack || !slices.Contains(c.Events, name) {
		return kith.Purchase{}, false
	}
	var m struct {
		Properties orderProps `json:"properties"`
	}
	if json.Unmarshal(e.Payload, &m) != nil {
		return kith.Purchase{}, false
	}
	amount, ok := 0.0, false
	for _, f := range c.AmountFields {
		if amount, ok = number(m.Properties[f]); ok {
			break
		}
	}
	if !ok {
		return kith.Purchase{}, false
	}
	order := rawString(m.Properties["order_id"])
	if order == "" {
		order = rawString(m.Properties["orderId"])
	}
	return kith.Purchase{At: e.Timestamp, Amount: amount, Currency: rawString(m.Properties["currency"]), OrderID: order,
		SourceID: e.SourceID, Channel: e.Channel, Seq: e.Seq}, true
}

func number(raw json.RawMessage) (float64, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0, false
	}
	s := string(raw)
	if raw[0] == '"' {
		if json.Unmarshal(raw, &s) != nil {
			return 0, false
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// addPurchase keeps p's purchases in time order, each order once: a second
// event for an order id already held (a resend under another messageId)
// is ignored, whichever arrives first.
func addPurchase(p *kith.Profile, pu kith.Purchase) {
	if pu.OrderID != "" {
		for _, old := range p.Purchases {
			if old.OrderID == pu.OrderID && old.SourceID == pu.SourceID {
				return
			}
		}
	}
	i, _ := slices.BinarySearchFunc(p.Purchases, pu, func(a, b kith.Purchase) int {
		if c := a.At.Compare(b.At); c != 0 {
			return c
		}
		return cmpInt(a.Seq, b.Seq)
	})
	p.Purchases = slices.Insert(p.Purchases, i, pu)
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// stageChange reads a stage change event from the lifecycle source.
func stageChange(e *kith.Event, name, source string) (kith.Lifecycle, bool) {
	if source == "" || e.SourceID != source || e.Type != kith.TypeTrack || name != StageChangedEvent {
		return kith.Lifecycle{}, false
	}
	var m struct {
		Properties struct {
			From string `json:"from"`
			To   string `json:"to"`
		} `json:"properties"`
	}
	if json.Unmarshal(e.Payload, &m) != nil || m.Properties.To == "" {
		return kith.Lifecycle{}, false
	}
	return kith.Lifecycle{Stage: m.Properties.To, Previous: m.Properties.From, Since: e.Timestamp, Seq: e.Seq}, true
}

// foldCommerce applies an event's order and stage change to p; it
// reports whether the event was an order.
func (p *Processor) foldCommerce(prof *kith.Profile, e *kith.Event, m *message) (purchased bool) {
	pu, purchased := p.cfg.Purchases.purchase(e, m.Event)
	if purchased {
		addPurchase(prof, pu)
	}
	if l, ok := stageChange(e, m.Event, p.cfg.LifecycleSource); ok && laterStage(l, prof.Lifecycle) {
		prof.Lifecycle = l
	}
	return purchased
}

// laterStage: the newer stage change wins, by event time then position.
func laterStage(a, b kith.Lifecycle) bool {
	return b.Stage == "" || a.Since.After(b.Since) || a.Since.Equal(b.Since) && a.Seq > b.Seq
}

// absorbCommerce folds absorbed's purchases and stage into survivor s.
func absorbCommerce(s, absorbed *kith.Profile) {
	for _, pu := range absorbed.Purchases {
		addPurchase(s, pu)
	}
	if absorbed.Lifecycle.Stage != "" && laterStage(absorbed.Lifecycle, s.Lifecycle) {
		s.Lifecycle = absorbed.Lifecycle
	}
}
