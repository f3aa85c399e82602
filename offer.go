package kith

import (
	"context"
	"encoding/json"
	"time"
)

// OfferStatus says whether an offer may be granted.
type OfferStatus string

// The statuses of an offer. Only an active offer is granted; what pausing or
// ending does to grants already made is the offer's Withdrawal policy.
const (
	OfferDraft  OfferStatus = "draft"
	OfferActive OfferStatus = "active"
	OfferPaused OfferStatus = "paused"
	OfferEnded  OfferStatus = "ended"
)

// Money is an amount in a currency (ISO 4217 code, e.g. USD).
type Money struct {
	Amount   float64 `json:"amount"`
	Currency string  `json:"currency"`
}

// Terms are what an offer promises: the price the customer pays under it,
// what the same thing costs without it, and the promise in words.
type Terms struct {
	Price        Money  `json:"price"`
	RegularPrice *Money `json:"regular_price,omitempty"`
	Summary      string `json:"summary,omitempty"`
}

// HonourAction is what a channel where an offer may not be redeemed does
// when a customer brings it.
type HonourAction string

// The honour actions.
const (
	HonourAsGranted   HonourAction = "honour"      // redeem it as granted
	HonourWithFee     HonourAction = "fee"         // redeem it, charging the stated fee
	HonourAlternative HonourAction = "alternative" // do not redeem it; offer the stated alternative
)

// Honour is a channel's instruction for an offer brought from another channel.
type Honour struct {
	Action      HonourAction `json:"action"`
	Fee         *Money       `json:"fee,omitempty"`         // for HonourWithFee
	Alternative string       `json:"alternative,omitempty"` // for HonourAlternative: what to offer instead
	Note        string       `json:"note,omitempty"`        // what staff should say or do
}

// Withdrawal is what pausing or ending an offer does to its grants.
type Withdrawal string

// The withdrawal policies.
const (
	// WithdrawHonour keeps grants redeemable until they expire (the default).
	WithdrawHonour Withdrawal = "honour"
	// WithdrawHold refuses redemptions while the offer is paused or ended.
	WithdrawHold Withdrawal = "hold"
)

// Condition is one eligibility rule on a profile's trait, e.g.
// {"trait": "plan", "op": "eq", "value": "internet"}.
type Condition struct {
	Trait string          `json:"trait"`
	Op    string          `json:"op"`
	Value json.RawMessage `json:"value,omitempty"`
}

// OtherChannels is the Honour key that stands for every channel an offer
// names no instruction for.
const OtherChannels Kind = "*"

// Offer is one version of a catalog entry. Editing an offer makes a new
// version; a grant keeps the version it was made under.
type Offer struct {
	Code        string      `json:"code"`
	Version     int         `json:"version"`
	Name        string      `json:"name"`
	Description string      `json:"description,omitempty"`
	Terms       Terms       `json:"terms"`
	Status      OfferStatus `json:"status"`
	ValidFrom   time.Time   `json:"valid_from"`
	ValidUntil  time.Time   `json:"valid_until"`
	// GrantDays is how long a grant stays redeemable; zero: until ValidUntil.
	GrantDays int `json:"grant_days,omitempty"`
	// GrantBudget and RedeemBudget cap how many grants may be live and how
	// many redeemed; zero means no cap.
	GrantBudget  int `json:"grant_budget,omitempty"`
	RedeemBudget int `json:"redeem_budget,omitempty"`
	// PerPerson caps the live grants of this offer one person holds.
	PerPerson   int         `json:"per_person"`
	Eligibility []Condition `json:"eligibility,omitempty"`
	// Channels are where the offer may be redeemed; Honour says what every
	// other channel does (OtherChannels for those not named).
	Channels   []Kind          `json:"channels"`
	Honour     map[Kind]Honour `json:"honour"`
	Withdrawal Withdrawal      `json:"withdrawal"`
	CreatedAt  time.Time       `json:"created_at"` // of this version
	CreatedBy  string          `json:"created_by,omitempty"`
	// Granted and Redeemed count the offer's live (not voided) grants and
	// its redemptions, across versions. Stores keep them.
	Granted  int `json:"granted"`
	Redeemed int `json:"redeemed"`
}

// Grant is an offer promised to one profile through one channel.
type Grant struct {
	ID           string    `json:"id"`
	Code         string    `json:"code"` // the redemption code a store scans or types
	Offer        string    `json:"offer"`
	OfferVersion int       `json:"offer_version"`
	ProfileID    string    `json:"profile"` // the profile it was granted to; merges are followed when read
	Channel      Kind      `json:"channel"`
	Campaign     string    `json:"campaign,omitempty"`
	MessageRef   string    `json:"message,omitempty"`
	GrantedAt    time.Time `json:"granted_at"`
	GrantedBy    string    `json:"granted_by,omitempty"`
	ExpiresAt    time.Time `json:"expires_at"`
	// IdempotencyKey makes a retried grant return the first one.
	IdempotencyKey string `json:"-"`
	// Address is the identifier the grant's events are addressed to,
	// chosen among the person's when it was made.
	Address    Identifier  `json:"-"`
	Redemption *Redemption `json:"redemption,omitempty"`
	Void       *Void       `json:"void,omitempty"`
}

// Redemption records that a grant was spent: where, by whom, at what fee.
type Redemption struct {
	At       time.Time `json:"at"`
	Channel  Kind      `json:"channel"`
	Actor    string    `json:"actor"`              // the agent, the till, the API key
	Location string    `json:"location,omitempty"` // e.g. the store
	Fee      *Money    `json:"fee,omitempty"`      // charged under the channel's honour policy
	Honour   string    `json:"honour,omitempty"`   // how the channel honoured it
	// IdempotencyKey makes a retried redemption return the first result.
	IdempotencyKey string `json:"-"`
}

// Void records that a grant was withdrawn before it was redeemed.
type Void struct {
	At      time.Time `json:"at"`
	Channel Kind      `json:"channel,omitempty"`
	Actor   string    `json:"actor"`
	Reason  string    `json:"reason"`
}

// Grant states, as Grant.State reports them.
const (
	GrantHeld     = "held"
	GrantRedeemed = "redeemed"
	GrantVoided   = "voided"
	GrantExpired  = "expired"
)

// State says whether a grant is held, redeemed, voided or expired at now.
func (g *Grant) State(now time.Time) string {
	switch {
	case g.Redemption != nil:
		return GrantRedeemed
	case g.Void != nil:
		return GrantVoided
	case !now.Before(g.ExpiresAt):
		return GrantExpired
	}
	return GrantHeld
}

// Offer ledger events: track events from Kith's offers source that put
// grants, redemptions and voids on the timeline, for later features to
// react to.
const (
	EventOfferGranted  = "Offer Granted"
	EventOfferRedeemed = "Offer Redeemed"
	EventOfferVoided   = "Offer Voided"
)

// Audit actions of the offer ledger.
const (
	AuditOfferCreate = "offer.create" // an offer was added to the catalog
	AuditOfferUpdate = "offer.update" // an offer was edited (a new version) or its status changed
	AuditGrant       = "grant.create" // an offer was granted to a profile
	AuditRedeem      = "grant.redeem" // a grant was redeemed
	AuditVoid        = "grant.void"   // a grant was voided
)

// Errors the offer ledger's atomic operations return when a guard did not
// hold. Stores return them (wrapped or not) so the offer package can say why.
var (
	ErrGrantBudget  = Errorf(ECONFLICT, "the offer's grant budget is spent")
	ErrRedeemBudget = Errorf(ECONFLICT, "the offer's redemption budget is spent")
	ErrPersonLimit  = Errorf(ECONFLICT, "the person already holds as many grants of this offer as it allows")
	ErrGrantSettled = Errorf(ECONFLICT, "the grant is no longer held")
)

// NewGrant is a grant to store, with the guards it is stored under and the
// event that announces it.
type NewGrant struct {
	Grant *Grant
	// Holders are the profile ids that are one person with the grantee (the
	// survivor and every profile merged into it): the per-person limit
	// counts their live grants.
	Holders   []string
	PerPerson int   // 0: no limit
	Budget    int   // the offer's grant budget; 0: none
	Event     Event // appended to the log once the grant is stored
}

// OutboxEvent is a ledger event stored with the change it announces, waiting
// to be appended to the event log.
type OutboxEvent struct {
	ID    int64
	Event Event
}

// OfferStore keeps the offer catalog, grants and redemptions. What must hold
// across nodes (a budget, a per-person limit, one redemption per grant) each
// method guards inside one transaction; the rules that decide what to ask
// for live in the offer package.
type OfferStore interface {
	// CreateOffer stores version 1 of a new offer. ECONFLICT if its code is taken.
	CreateOffer(ctx context.Context, o *Offer) error
	// UpdateOffer stores o as the offer's next version; o.Version must be
	// the current version plus one, else ECONFLICT (someone else edited it).
	// Status and counts are not changed by it.
	UpdateOffer(ctx context.Context, o *Offer) error
	// SetOfferStatus changes the status of an offer (of every version).
	SetOfferStatus(ctx context.Context, code string, status OfferStatus) (*Offer, error)
	// Offer returns the current version of an offer, with its counts.
	Offer(ctx context.Context, code string) (*Offer, error)
	// OfferVersion returns one version of an offer, with the current counts and status.
	OfferVersion(ctx context.Context, code string, version int) (*Offer, error)
	// Offers returns the current version of every offer, by code.
	Offers(ctx context.Context) ([]Offer, error)

	// AddGrants stores each grant whose guards hold — the offer's live
	// grants under its budget, the person's under the per-person limit —
	// and its event, atomically per grant. A grant whose IdempotencyKey is
	// already stored is not stored again: its result is the stored grant.
	// errs[i] is nil, ErrGrantBudget, ErrPersonLimit, ENOTFOUND (no such
	// offer) or EINVALID (a value the store cannot keep, such as a NUL
	// byte in an id); err is for a failure of the store, in which case no
	// grant of the call is stored.
	AddGrants(ctx context.Context, gs []NewGrant) (stored []*Grant, errs []error, err error)
	// GrantByID and GrantByCode return one grant; ENOTFOUND when none.
	GrantByID(ctx context.Context, id string) (*Grant, error)
	GrantByCode(ctx context.Context, code string) (*Grant, error)
	// Grants returns the grants made to any of the profiles, newest first.
	Grants(ctx context.Context, profileIDs []string) ([]Grant, error)
	// Redeem spends a held grant that has not expired at r.At, under the
	// offer's redemption budget (0: none), and queues the event, in one
	// transaction. If the grant was already redeemed with the same
	// IdempotencyKey it returns the grant as it is, without error. Otherwise
	// it returns the grant as it is and ErrGrantSettled (redeemed, voided or
	// expired) or ErrRedeemBudget.
	Redeem(ctx context.Context, id string, r Redemption, budget int, e Event) (*Grant, error)
	// VoidGrant withdraws a held grant and queues the event; ErrGrantSettled
	// (with the grant as it is) when it is redeemed or voided already.
	VoidGrant(ctx context.Context, id string, v Void, e Event) (*Grant, error)

	// OfferOutbox returns up to limit queued ledger events, oldest first.
	OfferOutbox(ctx context.Context, limit int) ([]OutboxEvent, error)
	// DeleteOfferOutbox removes events from the queue once the log holds them.
	DeleteOfferOutbox(ctx context.Context, ids []int64) error
}
