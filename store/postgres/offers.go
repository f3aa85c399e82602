package postgres

// The offer ledger (kith.OfferStore) and the locks it takes.
//
// SQLite's ledger has one writer, which makes every read-check-write
// atomic. Here several transactions, on several nodes, run at once; each
// guard holds because of a row lock taken before what it rests on is read
// (READ COMMITTED reads afresh at every statement):
//
//  1. An offer's row stands for its counts and for its grants. Whatever
//     changes granted or redeemed, or stores a grant of the offer, holds
//     it. AddGrants locks the rows of every offer of its call first, in
//     code order, with one SELECT … FOR NO KEY UPDATE; each grant is then
//     one statement, run after the lock was granted, that reads the
//     offer's live grants (the budget) and the person's (the per-person
//     limit) and stores the grant and queues its event only if both
//     guards hold; the counts are added before the commit. A refused
//     grant writes nothing, so it needs no savepoint; a failing statement
//     fails the transaction, so a store failure stores none of the call.
//  2. A grant's row stands for its state. Redeem and VoidGrant lock it
//     (SELECT … FOR UPDATE) before they read whether it is held, then
//     take its offer's row with the UPDATE of the count.
//
// AddGrants never locks an existing grant's row, and Redeem and VoidGrant
// lock one grant and then one offer, so those orders never form a cycle.
// One wait remains: a grant whose idempotency key another transaction is
// storing, for another offer, waits for it (ON CONFLICT), and two calls
// storing two such keys in opposite orders can deadlock; PostgreSQL aborts
// one and inTx runs it again.

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/kithhq/kith"
)

// offerDoc is what a version row keeps: the offer without status and counts.
func offerDoc(o *kith.Offer) ([]byte, error) {
	c := *o
	c.Status, c.Granted, c.Redeemed = "", 0, 0
	return json.Marshal(&c)
}

func checkOffer(o *kith.Offer) error {
	if err := checkText(o.Code, "code"); err != nil {
		return err
	}
	if err := checkText(string(o.Status), "status"); err != nil {
		return err
	}
	return checkTime(o.CreatedAt, "created_at")
}

// CreateOffer stores version 1 of a new offer; ECONFLICT if its code is taken.
func (db *DB) CreateOffer(ctx context.Context, o *kith.Offer) error {
	if err := checkOffer(o); err != nil {
		return err
	}
	doc, err := offerDoc(o)
	if err != nil {
		return fmt.Errorf("create offer %s: %w", o.Code, err)
	}
	// One statement: the offer and its first version, or neither.
	_, err = db.pool.Exec(ctx, `WITH o AS (INSERT INTO offers (code, version, status) VALUES ($1, 1, $2) RETURNING code)
		INSERT INTO offer_versions (code, version, doc, created_at) SELECT code, 1, $3, $4 FROM o`,
		o.Code, string(o.Status), doc, o.CreatedAt.UnixNano())
	if err != nil {
		return fmt.Errorf("create offer %s: %w", o.Code, classify(err, "offer "+o.Code))
	}
	return nil
}

// UpdateOffer stores o as the offer's next version; ECONFLICT unless
// o.Version is the current version plus one. Of two nodes storing the same
// version, the second's UPDATE waits for the first's row lock, then finds
// the version moved on.
func (db *DB) UpdateOffer(ctx context.Context, o *kith.Offer) error {
	if err := checkOffer(o); err != nil {
		return err
	}
	doc, err := offerDoc(o)
	if err != nil {
		return fmt.Errorf("update offer %s: %w", o.Code, err)
	}
	tag, err := db.pool.Exec(ctx, `WITH o AS (UPDATE offers SET version = $2::int WHERE code = $1 AND version = $2::int - 1 RETURNING code)
		INSERT INTO offer_versions (code, version, doc, created_at) SELECT code, $2::int, $3, $4 FROM o`,
		o.Code, o.Version, doc, o.CreatedAt.UnixNano())
	if err != nil {
		return fmt.Errorf("update offer %s: %w", o.Code, classify(err, fmt.Sprintf("offer %s version %d", o.Code, o.Version)))
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var exists bool
	if err := db.pool.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM offers WHERE code = $1)", o.Code).Scan(&exists); err != nil {
		return fmt.Errorf("update offer %s: %w", o.Code, unreachable(err))
	}
	if !exists {
		return kith.Errorf(kith.ENOTFOUND, "offer %s not found", o.Code)
	}
	return kith.Errorf(kith.ECONFLICT, "offer %s was changed since version %d; read it again", o.Code, o.Version-1)
}

// SetOfferStatus changes an offer's status and returns the offer as the
// change left it.
func (db *DB) SetOfferStatus(ctx context.Context, code string, status kith.OfferStatus) (*kith.Offer, error) {
	if err := checkText(string(status), "status"); err != nil {
		return nil, err
	}
	o, err := scanOffer(db.pool.QueryRow(ctx, `WITH o AS (UPDATE offers SET status = $2 WHERE code = $1 RETURNING *)
		SELECT `+offerCols+` FROM o JOIN offer_versions v ON v.code = o.code AND v.version = o.version`, code, string(status)))
	if err != nil {
		return nil, fmt.Errorf("set the status of offer %s: %w", code, classify(err, "offer "+code))
	}
	return o, nil
}

const offerCols = `v.doc, o.status, o.granted, o.redeemed`

func scanOffer(row pgx.Row) (*kith.Offer, error) {
	var doc []byte
	var status string
	var granted, redeemed int
	if err := row.Scan(&doc, &status, &granted, &redeemed); err != nil {
		return nil, err
	}
	o := new(kith.Offer)
	if err := json.Unmarshal(doc, o); err != nil {
		return nil, fmt.Errorf("decode offer: %w", err)
	}
	o.Status, o.Granted, o.Redeemed = kith.OfferStatus(status), granted, redeemed
	return o, nil
}

// Offer returns an offer's current version, with its counts.
func (db *DB) Offer(ctx context.Context, code string) (*kith.Offer, error) {
	o, err := scanOffer(db.pool.QueryRow(ctx, `SELECT `+offerCols+` FROM offers o
		JOIN offer_versions v ON v.code = o.code AND v.version = o.version WHERE o.code = $1`, code))
	if err != nil {
		return nil, classify(err, "offer "+code)
	}
	return o, nil
}

// OfferVersion returns one version of an offer, with the current counts
// and status.
func (db *DB) OfferVersion(ctx context.Context, code string, version int) (*kith.Offer, error) {
	o, err := scanOffer(db.pool.QueryRow(ctx, `SELECT `+offerCols+` FROM offers o
		JOIN offer_versions v ON v.code = o.code AND v.version = $2 WHERE o.code = $1`, code, version))
	if err != nil {
		return nil, classify(err, fmt.Sprintf("offer %s version %d", code, version))
	}
	return o, nil
}

// Offers returns every offer's current version, by code.
func (db *DB) Offers(ctx context.Context) ([]kith.Offer, error) {
	rows, err := db.pool.Query(ctx, `SELECT `+offerCols+` FROM offers o
		JOIN offer_versions v ON v.code = o.code AND v.version = o.version ORDER BY o.code`)
	if err != nil {
		return nil, fmt.Errorf("list offers: %w", unreachable(err))
	}
	defer rows.Close()
	var out []kith.Offer
	for rows.Next() {
		o, err := scanOffer(rows)
		if err != nil {
			return nil, fmt.Errorf("list offers: %w", err)
		}
		out = append(out, *o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list offers: %w", unreachable(err))
	}
	return out, nil
}

// lockOffers locks the rows of the offers of an AddGrants call, in code
// order, and returns those that exist with their live grants.
const lockOffers = `SELECT code, granted FROM offers WHERE code = ANY($1::text[]) ORDER BY code FOR NO KEY UPDATE`

// addGrant stores one grant of an offer ($1) whose row the transaction
// holds, if its guards hold: no grant with its idempotency key ($5) is
// stored, the offer's live grants are under the budget ($2, 0: none), and
// the holders' ($4) live grants of the offer under the per-person limit
// ($3, 0: none). If so it queues the grant's event ($16) and, if $17, adds
// it to the offer's count. It says which guards held and whether the
// grant was stored: a grant whose guards held but was not stored lost its
// idempotency key to a grant of another offer stored meanwhile (ON
// CONFLICT waits for that one to commit).
const addGrant = `WITH held AS (
		SELECT count(*) AS n FROM grants
		WHERE $3::int > 0 AND offer = $1 AND voided_at IS NULL AND profile_id = ANY($4::text[])),
	verdict AS (
		SELECT EXISTS (SELECT 1 FROM grants WHERE idem_key = $5::text) AS retried,
			$2::int = 0 OR (SELECT granted FROM offers WHERE code = $1) < $2::int AS budget_ok,
			$3::int = 0 OR cardinality($4::text[]) = 0 OR (SELECT n FROM held) < $3::int AS person_ok),
	stored AS (
		INSERT INTO grants (id, code, offer, offer_version, profile_id, channel, campaign, message,
			granted_at, granted_by, expires_at, idem_key, address_type, address_value)
		SELECT $6::text, $7::text, $1, $8::int, $9::text, $10::text, $11::text, $12::text,
			$13::bigint, $14::text, $15::bigint, $5::text, $18::text, $19::text
		FROM verdict WHERE NOT retried AND budget_ok AND person_ok
		ON CONFLICT (idem_key) DO NOTHING
		RETURNING id),
	counted AS (
		UPDATE offers SET granted = granted + 1 WHERE $17::bool AND code = $1 AND EXISTS (SELECT 1 FROM stored)),
	queued AS (
		INSERT INTO offer_outbox (event) SELECT $16::bytea WHERE EXISTS (SELECT 1 FROM stored))
	SELECT retried, budget_ok, person_ok, EXISTS (SELECT 1 FROM stored) FROM verdict`

// addCounts adds the grants an AddGrants call stored to their offers'
// counts, one update per offer.
const addCounts = `UPDATE offers SET granted = granted + d.n
	FROM unnest($1::text[], $2::int[]) AS d (code, n) WHERE offers.code = d.code`

// newGrant is a grant of an AddGrants call as it will be stored.
type newGrant struct {
	g       *kith.Grant // free text made storable
	holders []string
	key     *string // nil: none
	event   []byte
}

// prepareGrant returns a grant as it will be stored, or why it cannot be.
func prepareGrant(ng *kith.NewGrant) (*newGrant, error) {
	if ng.Grant == nil {
		return nil, kith.Invalid("grant", "is missing")
	}
	g := *ng.Grant
	g.Campaign, g.MessageRef, g.GrantedBy = storable(g.Campaign), storable(g.MessageRef), storable(g.GrantedBy)
	for _, f := range []struct{ s, name string }{{g.ID, "id"}, {g.Code, "code"}, {g.Offer, "offer"},
		{g.ProfileID, "profile"}, {string(g.Channel), "channel"}, {g.IdempotencyKey, "idempotency_key"},
		{g.Address.Type, "address.type"}, {g.Address.Value, "address.value"}} {
		if err := checkText(f.s, f.name); err != nil {
			return nil, err
		}
	}
	for _, h := range ng.Holders {
		if err := checkText(h, "holders"); err != nil {
			return nil, err
		}
	}
	if err := checkTime(g.GrantedAt, "granted_at"); err != nil {
		return nil, err
	}
	if err := checkTime(g.ExpiresAt, "expires_at"); err != nil {
		return nil, err
	}
	event, err := json.Marshal(ng.Event)
	if err != nil {
		return nil, kith.Invalid("event", "cannot be encoded: %v", err)
	}
	p := &newGrant{g: &g, holders: ng.Holders, event: event}
	if p.holders == nil {
		p.holders = []string{}
	}
	if g.IdempotencyKey != "" {
		p.key = &g.IdempotencyKey
	}
	return p, nil
}

// AddGrants stores each grant whose guards hold, and its event, in one
// transaction. It locks the offers' rows, sends every grant's statement
// in one pipeline, then adds what it stored to the offers' counts: with
// BEGIN and COMMIT, five round trips however many grants.
//
// An offer's count is updated once per call, unless its budget may run
// out within the call: then each grant adds itself, for the next to be
// tested against. (Updating one row a thousand times in a transaction
// leaves a thousand versions of it for every later statement to step
// through; it doubles the time of a call of a thousand grants.)
//
// A grant whose text or times the store cannot keep is refused alone, with
// EINVALID in errs; a grant of an offer that does not exist with ENOTFOUND.
func (db *DB) AddGrants(ctx context.Context, gs []kith.NewGrant) ([]*kith.Grant, []error, error) {
	stored := make([]*kith.Grant, len(gs))
	errs := make([]error, len(gs))
	prep := make([]*newGrant, len(gs))
	var codes []string
	for i := range gs {
		if prep[i], errs[i] = prepareGrant(&gs[i]); errs[i] == nil {
			codes = append(codes, prep[i].g.Offer)
		}
	}
	if len(codes) == 0 {
		return stored, errs, nil
	}
	slices.Sort(codes)
	codes = slices.Compact(codes)
	// The outcome of each attempt; inTx may run the function again.
	tried := make([]error, len(gs))
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		clear(stored)
		copy(tried, errs)
		rows, err := tx.Query(ctx, lockOffers, codes)
		if err != nil {
			return fmt.Errorf("lock offers: %w", err)
		}
		granted := map[string]int{}
		var code string
		var n int
		if _, err := pgx.ForEachRow(rows, []any{&code, &n}, func() error {
			granted[code] = n
			return nil
		}); err != nil {
			return fmt.Errorf("lock offers: %w", err)
		}
		var sent []int
		calls := map[string]int{} // grants sent per offer
		for i, p := range prep {
			if p == nil {
				continue
			}
			if _, ok := granted[p.g.Offer]; !ok {
				tried[i] = kith.Errorf(kith.ENOTFOUND, "offer %s not found", p.g.Offer)
				continue
			}
			sent = append(sent, i)
			calls[p.g.Offer]++
		}
		if len(sent) == 0 {
			return nil
		}
		// Offers whose budget the call may spend: if every grant of this
		// call were stored, some grant's budget would be passed.
		tight := map[string]bool{}
		for _, i := range sent {
			o := prep[i].g.Offer
			if b := gs[i].Budget; b > 0 && granted[o]+calls[o] > b {
				tight[o] = true
			}
		}
		b := &pgx.Batch{}
		for _, i := range sent {
			p, o := prep[i], prep[i].g.Offer
			budget := 0 // the budget cannot run out: not tested
			if tight[o] {
				budget = gs[i].Budget
			}
			b.Queue(addGrant, o, budget, gs[i].PerPerson, p.holders, p.key, p.g.ID, p.g.Code, p.g.OfferVersion,
				p.g.ProfileID, string(p.g.Channel), p.g.Campaign, p.g.MessageRef, p.g.GrantedAt.UnixNano(), p.g.GrantedBy,
				p.g.ExpiresAt.UnixNano(), p.event, tight[o], p.g.Address.Type, p.g.Address.Value)
		}
		added := map[string]int{} // stored per offer counted once
		var again []int           // results that are grants stored before, by their keys
		br := tx.SendBatch(ctx, b)
		for _, i := range sent {
			p := prep[i]
			var retried, budgetOK, personOK, ok bool
			if err = br.QueryRow().Scan(&retried, &budgetOK, &personOK, &ok); err != nil {
				err = fmt.Errorf("grant %s: %w", p.g.ID, classify(err, "a grant with id "+p.g.ID+" or code "+p.g.Code))
				break
			}
			switch {
			case retried:
				again = append(again, i)
			case !budgetOK:
				tried[i] = kith.ErrGrantBudget
			case !personOK:
				tried[i] = kith.ErrPersonLimit
			case !ok:
				again = append(again, i)
			default:
				c := *p.g
				stored[i] = &c
				if !tight[p.g.Offer] {
					added[p.g.Offer]++
				}
			}
		}
		if cerr := br.Close(); err == nil && cerr != nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		b = &pgx.Batch{}
		if len(added) > 0 {
			offers, ns := make([]string, 0, len(added)), make([]int, 0, len(added))
			for o, n := range added {
				offers, ns = append(offers, o), append(ns, n)
			}
			b.Queue(addCounts, offers, ns)
		}
		keys := make([]string, len(again))
		for j, i := range again {
			keys[j] = prep[i].g.IdempotencyKey
		}
		if len(keys) > 0 {
			b.Queue("SELECT "+grantCols+" FROM grants WHERE idem_key = ANY($1)", keys)
		}
		if b.Len() == 0 {
			return nil
		}
		br = tx.SendBatch(ctx, b)
		defer br.Close()
		if len(added) > 0 {
			if _, err := br.Exec(); err != nil {
				return fmt.Errorf("count grants: %w", err)
			}
		}
		if len(keys) == 0 {
			return br.Close()
		}
		rows, err = br.Query()
		if err != nil {
			return fmt.Errorf("read grants by idempotency key: %w", err)
		}
		prev, err := collectGrants(rows)
		if err != nil {
			return fmt.Errorf("read grants by idempotency key: %w", err)
		}
		for _, i := range again {
			j := slices.IndexFunc(prev, func(g kith.Grant) bool { return g.IdempotencyKey == prep[i].g.IdempotencyKey })
			if j < 0 {
				return fmt.Errorf("grant %s: no grant holds its idempotency key %q", prep[i].g.ID, prep[i].g.IdempotencyKey)
			}
			c := prev[j]
			stored[i] = &c
		}
		return br.Close()
	})
	if err != nil {
		return nil, nil, fmt.Errorf("store grants: %w", err)
	}
	return stored, tried, nil
}

const grantCols = `id, code, offer, offer_version, profile_id, channel, campaign, message, granted_at, granted_by,
	expires_at, coalesce(idem_key, ''), redemption, coalesce(redeem_key, ''), void, address_type, address_value`

func scanGrant(row pgx.Row) (*kith.Grant, error) {
	var g kith.Grant
	var channel string
	var granted, expires int64
	var redemption, void []byte
	var redeemKey string
	if err := row.Scan(&g.ID, &g.Code, &g.Offer, &g.OfferVersion, &g.ProfileID, &channel, &g.Campaign, &g.MessageRef,
		&granted, &g.GrantedBy, &expires, &g.IdempotencyKey, &redemption, &redeemKey, &void, &g.Address.Type, &g.Address.Value); err != nil {
		return nil, err
	}
	g.Channel = kith.Kind(channel)
	g.GrantedAt, g.ExpiresAt = time.Unix(0, granted).UTC(), time.Unix(0, expires).UTC()
	if redemption != nil {
		g.Redemption = new(kith.Redemption)
		if err := json.Unmarshal(redemption, g.Redemption); err != nil {
			return nil, fmt.Errorf("decode the redemption of %s: %w", g.ID, err)
		}
		g.Redemption.IdempotencyKey = redeemKey
	}
	if void != nil {
		g.Void = new(kith.Void)
		if err := json.Unmarshal(void, g.Void); err != nil {
			return nil, fmt.Errorf("decode the void of %s: %w", g.ID, err)
		}
	}
	return &g, nil
}

func collectGrants(rows pgx.Rows) ([]kith.Grant, error) {
	defer rows.Close()
	var out []kith.Grant
	for rows.Next() {
		g, err := scanGrant(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *g)
	}
	return out, rows.Err()
}

// GrantByID returns one grant; ENOTFOUND when none.
func (db *DB) GrantByID(ctx context.Context, id string) (*kith.Grant, error) {
	g, err := scanGrant(db.pool.QueryRow(ctx, "SELECT "+grantCols+" FROM grants WHERE id = $1", id))
	if err != nil {
		return nil, classify(err, "grant "+id)
	}
	return g, nil
}

// GrantByCode returns the grant with a redemption code; ENOTFOUND when none.
func (db *DB) GrantByCode(ctx context.Context, code string) (*kith.Grant, error) {
	g, err := scanGrant(db.pool.QueryRow(ctx, "SELECT "+grantCols+" FROM grants WHERE code = $1", code))
	if err != nil {
		return nil, classify(err, "grant with code "+code)
	}
	return g, nil
}

// Grants returns the grants made to any of the profiles, newest first.
func (db *DB) Grants(ctx context.Context, profileIDs []string) ([]kith.Grant, error) {
	if len(profileIDs) == 0 {
		return nil, nil
	}
	rows, err := db.pool.Query(ctx, "SELECT "+grantCols+" FROM grants WHERE profile_id = ANY($1) ORDER BY granted_at DESC, id DESC", profileIDs)
	if err != nil {
		return nil, fmt.Errorf("grants: %w", classify(err, "grants"))
	}
	out, err := collectGrants(rows)
	if err != nil {
		return nil, fmt.Errorf("grants: %w", unreachable(err))
	}
	return out, nil
}

// redeemGrant spends a held grant ($3) whose row the transaction holds:
// it counts the redemption if the offer's ($1) budget ($2, 0: none)
// allows, and only then records it ($4 to $6) and queues its event ($7).
// The count's UPDATE waits for the offer's row if another transaction
// holds it, then tests the budget against the count that one left.
const redeemGrant = `WITH spent AS (
		UPDATE offers SET redeemed = redeemed + 1 WHERE code = $1 AND ($2::int = 0 OR redeemed < $2::int) RETURNING code),
	marked AS (
		UPDATE grants SET redeemed_at = $4, redemption = $5, redeem_key = $6
		WHERE id = $3 AND EXISTS (SELECT 1 FROM spent) RETURNING id),
	queued AS (
		INSERT INTO offer_outbox (event) SELECT $7::bytea WHERE EXISTS (SELECT 1 FROM marked))
	SELECT EXISTS (SELECT 1 FROM marked)`

// Redeem spends a held grant that has not expired at r.At, under the
// offer's redemption budget, and queues the event, in one transaction
// that first locks the grant's row: of any number of redemptions of one
// grant, on any nodes, one finds it held.
func (db *DB) Redeem(ctx context.Context, id string, r kith.Redemption, budget int, e kith.Event) (*kith.Grant, error) {
	if err := checkTime(r.At, "at"); err != nil {
		return nil, err
	}
	if err := checkText(r.IdempotencyKey, "idempotency_key"); err != nil {
		return nil, err
	}
	doc, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("redeem grant %s: %w", id, err)
	}
	event, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("redeem grant %s: %w", id, err)
	}
	var key *string
	if r.IdempotencyKey != "" {
		key = &r.IdempotencyKey
	}
	g, guard, err := db.settle(ctx, id, func(tx pgx.Tx, g *kith.Grant) (error, error) {
		switch {
		case g.Redemption != nil && r.IdempotencyKey != "" && g.Redemption.IdempotencyKey == r.IdempotencyKey:
			return nil, nil
		case g.Redemption != nil || g.Void != nil || !r.At.Before(g.ExpiresAt):
			return kith.ErrGrantSettled, nil
		}
		var done bool
		if err := tx.QueryRow(ctx, redeemGrant, g.Offer, budget, id, r.At.UnixNano(), doc, key, event).Scan(&done); err != nil {
			return nil, err
		}
		if !done {
			return kith.ErrRedeemBudget, nil
		}
		red := r
		g.Redemption = &red
		return nil, nil
	})
	if err != nil {
		return nil, fmt.Errorf("redeem grant %s: %w", id, err)
	}
	return g, guard
}

// settle runs change on a grant in one transaction that first locks the
// grant's row: change sees the grant as it is and returns a guard that did
// not hold (nothing written) or changes it.
func (db *DB) settle(ctx context.Context, id string, change func(tx pgx.Tx, g *kith.Grant) (guard, err error)) (*kith.Grant, error, error) {
	var g *kith.Grant
	var guard error
	err := db.inTx(ctx, func(tx pgx.Tx) error {
		g, guard = nil, nil
		cur, err := scanGrant(tx.QueryRow(ctx, "SELECT "+grantCols+" FROM grants WHERE id = $1 FOR UPDATE", id))
		if err != nil {
			return classify(err, "grant "+id)
		}
		g = cur
		guard, err = change(tx, cur)
		return err
	})
	return g, guard, err
}

// VoidGrant withdraws a held grant and queues the event, in one
// transaction that first locks the grant's row.
func (db *DB) VoidGrant(ctx context.Context, id string, v kith.Void, e kith.Event) (*kith.Grant, error) {
	if err := checkTime(v.At, "at"); err != nil {
		return nil, err
	}
	doc, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("void grant %s: %w", id, err)
	}
	event, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("void grant %s: %w", id, err)
	}
	g, guard, err := db.settle(ctx, id, func(tx pgx.Tx, g *kith.Grant) (error, error) {
		if g.Redemption != nil || g.Void != nil {
			return kith.ErrGrantSettled, nil
		}
		b := &pgx.Batch{}
		b.Queue("UPDATE grants SET voided_at = $2, void = $3 WHERE id = $1", id, v.At.UnixNano(), doc)
		b.Queue("UPDATE offers SET granted = granted - 1 WHERE code = $1", g.Offer)
		b.Queue("INSERT INTO offer_outbox (event) VALUES ($1)", event)
		if err := tx.SendBatch(ctx, b).Close(); err != nil {
			return nil, err
		}
		vv := v
		g.Void = &vv
		return nil, nil
	})
	if err != nil {
		return nil, fmt.Errorf("void grant %s: %w", id, err)
	}
	return g, guard
}

// OfferOutbox returns up to limit queued ledger events, oldest first (a
// negative limit: all of them). Nodes reading at once may read the same
// events: their messageIds are fixed, so the log keeps one copy.
func (db *DB) OfferOutbox(ctx context.Context, limit int) ([]kith.OutboxEvent, error) {
	var lim *int
	if limit >= 0 {
		lim = &limit
	}
	rows, err := db.pool.Query(ctx, "SELECT id, event FROM offer_outbox ORDER BY id LIMIT $1", lim)
	if err != nil {
		return nil, fmt.Errorf("offer outbox: %w", unreachable(err))
	}
	defer rows.Close()
	var out []kith.OutboxEvent
	for rows.Next() {
		var o kith.OutboxEvent
		var b []byte
		if err := rows.Scan(&o.ID, &b); err != nil {
			return nil, fmt.Errorf("offer outbox: %w", err)
		}
		if err := json.Unmarshal(b, &o.Event); err != nil {
			return nil, fmt.Errorf("decode outbox event %d: %w", o.ID, err)
		}
		out = append(out, o)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("offer outbox: %w", unreachable(err))
	}
	return out, nil
}

// DeleteOfferOutbox removes delivered events from the queue; events
// already removed (by another node) are no error.
func (db *DB) DeleteOfferOutbox(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	if _, err := db.pool.Exec(ctx, "DELETE FROM offer_outbox WHERE id = ANY($1)", ids); err != nil {
		return fmt.Errorf("delete from the offer outbox: %w", unreachable(err))
	}
	return nil
}
