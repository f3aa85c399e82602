package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/kithhq/kith"
)

// OffersFileName is the offer ledger's database in the data directory. A
// redemption is a promise kept, so every commit is fsync'd; it has its own
// writer so that redeeming never queues behind ingestion or processing.
const OffersFileName = "offers.db"

// ledgerReq is one ledger operation for the offers writer. The writer runs
// concurrent operations one after another inside one transaction, each in a
// savepoint of its own, and commits them with one fsync: an operation that
// fails rolls back alone, and one writer makes every read-check-write inside
// an operation atomic.
type ledgerReq struct {
	fn   func(q txQuerier) error
	err  error
	done chan struct{}
}

func (db *DB) ledger(ctx context.Context, fn func(q txQuerier) error) error {
	req := &ledgerReq{fn: fn, done: make(chan struct{})}
	if err := submit(ctx, db, db.ledgerReqs, req); err != nil {
		return err
	}
	<-req.done
	return req.err
}

func (db *DB) ledgerLoop() {
	defer close(db.ledgerDone)
	var batch []*ledgerReq
	for req := range db.ledgerReqs {
		batch = append(batch[:0], req)
	gather:
		for len(batch) < 1024 {
			select {
			case more, ok := <-db.ledgerReqs:
				if !ok {
					break gather
				}
				batch = append(batch, more)
			default:
				break gather
			}
		}
		if err := db.commitLedger(batch); err != nil {
			for _, r := range batch {
				r.err = err
			}
		}
		for _, r := range batch {
			close(r.done)
		}
	}
}

func (db *DB) commitLedger(batch []*ledgerReq) error {
	tx, err := db.ow.Begin()
	if err != nil {
		return fmt.Errorf("offer ledger: %w", err)
	}
	defer tx.Rollback()
	q := txQuerier{tx, db.owp}
	ctx := context.Background()
	for _, r := range batch {
		if _, err := q.ExecContext(ctx, qSavepoint); err != nil {
			return fmt.Errorf("offer ledger: %w", err)
		}
		r.err = r.fn(q)
		if r.err != nil {
			if _, err := q.ExecContext(ctx, qRollbackTo); err != nil {
				return fmt.Errorf("offer ledger: %w", err)
			}
		}
		if _, err := q.ExecContext(ctx, qRelease); err != nil {
			return fmt.Errorf("offer ledger: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("offer ledger: commit: %w", err)
	}
	return nil
}

// The ledger's statements, prepared once on its writer (ledgerQueries) and
// read pool (offerReadQueries): parsing them on every call cost more than
// running them.
const (
	offerCols = `v.doc, o.status, o.granted, o.redeemed`
	grantCols = `id, code, offer, offer_version, profile_id, channel, campaign, message, granted_at, granted_by,
	expires_at, coalesce(idem_key, ''), redemption, coalesce(redeem_key, ''), void, address_type, address_value`

	qSavepoint        = "SAVEPOINT op"
	qRollbackTo       = "ROLLBACK TO op"
	qRelease          = "RELEASE op"
	qSavepointGrant   = "SAVEPOINT grant"
	qRollbackGrant    = "ROLLBACK TO grant"
	qReleaseGrant     = "RELEASE grant"
	qCreateOffer      = "INSERT INTO offers (code, version, status) VALUES (?, 1, ?)"
	qCreateVersion1   = "INSERT INTO offer_versions (code, version, doc, created_at) VALUES (?, 1, ?, ?)"
	qOfferExists      = "SELECT 1 FROM offers WHERE code = ?"
	qGrantByIdem      = "SELECT " + grantCols + " FROM grants WHERE idem_key = ?"
	qSpendGrantBudget = "UPDATE offers SET granted = granted + 1 WHERE code = ? AND (? = 0 OR granted < ?)"
	qCountGrants      = "UPDATE offers SET granted = granted + ? WHERE code = ?"
	qHeldByOne        = "SELECT count(*) FROM grants WHERE offer = ? AND voided_at IS NULL AND profile_id = ?"
	qInsertGrant      = `INSERT INTO grants (id, code, offer, offer_version, profile_id, channel, campaign, message,
		granted_at, granted_by, expires_at, idem_key, address_type, address_value) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`
	qOutbox            = "INSERT INTO offer_outbox (event, payload) VALUES (?, ?)"
	qGrantByID         = "SELECT " + grantCols + " FROM grants WHERE id = ?"
	qGrantByCode       = "SELECT " + grantCols + " FROM grants WHERE code = ?"
	qSpendRedeemBudget = "UPDATE offers SET redeemed = redeemed + 1 WHERE code = ? AND (? = 0 OR redeemed < ?)"
	qRedeemGrant       = `UPDATE grants SET redeemed_at = ?, redemption = ?, redeem_key = ?
		WHERE id = ? AND redeemed_at IS NULL AND voided_at IS NULL`
	qOffer = `SELECT ` + offerCols + ` FROM offers o
		JOIN offer_versions v ON v.code = o.code AND v.version = o.version WHERE o.code = ?`
	qOfferVersion = `SELECT ` + offerCols + ` FROM offers o
		JOIN offer_versions v ON v.code = o.code AND v.version = ? WHERE o.code = ?`
	qReadOutbox = "SELECT id, event, payload FROM offer_outbox ORDER BY id LIMIT ?"
)

var (
	ledgerQueries = []string{qSavepoint, qRollbackTo, qRelease,
		qOfferExists, qGrantByIdem, qSpendGrantBudget, qCountGrants, qHeldByOne, qInsertGrant, qOutbox, qGrantByID, qSpendRedeemBudget, qRedeemGrant}
	offerReadQueries = []string{qOffer, qOfferVersion, qGrantByID, qGrantByCode, qReadOutbox}
)

// orq returns the offers read pool with its prepared statements.
func (db *DB) orq() querier { return dbQuerier{db.or, db.orp} }

// offerDoc is what a version row keeps: the offer without status and counts.
func offerDoc(o *kith.Offer) ([]byte, error) {
	c := *o
	c.Status, c.Granted, c.Redeemed = "", 0, 0
	return json.Marshal(&c)
}

// CreateOffer stores version 1 of a new offer.
func (db *DB) CreateOffer(ctx context.Context, o *kith.Offer) error {
	doc, err := offerDoc(o)
	if err != nil {
		return err
	}
	return db.ledger(ctx, func(q txQuerier) error {
		if _, err := q.ExecContext(ctx, qCreateOffer, o.Code, string(o.Status)); err != nil {
			return classify(err, "offer "+o.Code)
		}
		_, err := q.ExecContext(ctx, qCreateVersion1, o.Code, string(doc), o.CreatedAt.UnixNano())
		return err
	})
}

// UpdateOffer stores the offer's next version.
func (db *DB) UpdateOffer(ctx context.Context, o *kith.Offer) error {
	doc, err := offerDoc(o)
	if err != nil {
		return err
	}
	return db.ledger(ctx, func(q txQuerier) error {
		res, err := q.ExecContext(ctx, "UPDATE offers SET version = ? WHERE code = ? AND version = ?", o.Version, o.Code, o.Version-1)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if err := q.QueryRowContext(ctx, qOfferExists, o.Code).Scan(new(int)); err != nil {
				return classify(err, "offer "+o.Code)
			}
			return kith.Errorf(kith.ECONFLICT, "offer %s was changed since version %d; read it again", o.Code, o.Version-1)
		}
		_, err = q.ExecContext(ctx, "INSERT INTO offer_versions (code, version, doc, created_at) VALUES (?, ?, ?, ?)", o.Code, o.Version, string(doc), o.CreatedAt.UnixNano())
		return err
	})
}

// SetOfferStatus changes an offer's status.
func (db *DB) SetOfferStatus(ctx context.Context, code string, status kith.OfferStatus) (*kith.Offer, error) {
	err := db.ledger(ctx, func(q txQuerier) error {
		res, err := q.ExecContext(ctx, "UPDATE offers SET status = ? WHERE code = ?", string(status), code)
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return kith.Errorf(kith.ENOTFOUND, "offer %s not found", code)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return db.Offer(ctx, code)
}

func scanOffer(row interface{ Scan(...any) error }) (*kith.Offer, error) {
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

// Offer returns an offer's current version.
func (db *DB) Offer(ctx context.Context, code string) (*kith.Offer, error) {
	o, err := scanOffer(db.orq().QueryRowContext(ctx, qOffer, code))
	return o, classify(err, "offer "+code)
}

// OfferVersion returns one version of an offer.
func (db *DB) OfferVersion(ctx context.Context, code string, version int) (*kith.Offer, error) {
	o, err := scanOffer(db.orq().QueryRowContext(ctx, qOfferVersion, version, code))
	return o, classify(err, fmt.Sprintf("offer %s version %d", code, version))
}

// Offers returns every offer's current version.
func (db *DB) Offers(ctx context.Context) ([]kith.Offer, error) {
	rows, err := db.or.QueryContext(ctx, `SELECT `+offerCols+` FROM offers o
		JOIN offer_versions v ON v.code = o.code AND v.version = o.version ORDER BY o.code`)
	if err != nil {
		return nil, fmt.Errorf("list offers: %w", err)
	}
	defer rows.Close()
	var out []kith.Offer
	for rows.Next() {
		o, err := scanOffer(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *o)
	}
	return out, rows.Err()
}

// outbox queues an event: its payload as it is, the rest as JSON (the
// payload inside the JSON would be base64, a third larger and slower).
func outbox(ctx context.Context, q txQuerier, e kith.Event) error {
	payload := e.Payload
	e.Payload = nil
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = q.ExecContext(ctx, qOutbox, string(b), payload)
	return err
}

// AddGrants stores grants under their guards. Guards are checked before
// anything is written, so a refused grant leaves nothing to roll back.
func (db *DB) AddGrants(ctx context.Context, gs []kith.NewGrant) ([]*kith.Grant, []error, error) {
	stored := make([]*kith.Grant, len(gs))
	errs := make([]error, len(gs))
	// One ledger operation for the whole call: a store failure stores none.
	err := db.ledger(ctx, func(q txQuerier) error {
		c := grantCall{uncapped: map[string]int{}, exists: map[string]bool{}}
		for i := range gs {
			g, gerr, err := c.add(ctx, q, &gs[i])
			if err != nil {
				return err
			}
			stored[i], errs[i] = g, gerr
		}
		// Grants of offers without a budget are counted once per offer.
		for code, n := range c.uncapped {
			if _, err := q.ExecContext(ctx, qCountGrants, n, code); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("store grants: %w", err)
	}
	return stored, errs, nil
}

// grantCall is one AddGrants call inside the ledger's transaction.
type grantCall struct {
	uncapped map[string]int  // grants stored per offer without a budget, not yet counted
	exists   map[string]bool // offers known to exist
}

// add stores one grant; gerr is a guard that did not hold.
func (c *grantCall) add(ctx context.Context, q txQuerier, ng *kith.NewGrant) (_ *kith.Grant, gerr, err error) {
	g := ng.Grant
	if g.IdempotencyKey != "" {
		prev, err := scanGrant(q.QueryRowContext(ctx, qGrantByIdem, g.IdempotencyKey))
		if err == nil {
			return prev, nil, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, nil, err
		}
	}
	if !c.exists[g.Offer] {
		if err := q.QueryRowContext(ctx, qOfferExists, g.Offer).Scan(new(int)); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return nil, classify(err, "offer "+g.Offer), nil
			}
			return nil, nil, err
		}
		c.exists[g.Offer] = true
	}
	if ng.PerPerson > 0 && len(ng.Holders) > 0 {
		args := []any{g.Offer}
		for _, h := range ng.Holders {
			args = append(args, h)
		}
		query := qHeldByOne
		if len(ng.Holders) > 1 {
			query = `SELECT count(*) FROM grants WHERE offer = ? AND voided_at IS NULL AND profile_id IN (` + placeholders(len(ng.Holders)) + `)`
		}
		var n int
		if err := q.QueryRowContext(ctx, query, args...).Scan(&n); err != nil {
			return nil, nil, err
		}
		if n >= ng.PerPerson {
			return nil, kith.ErrPersonLimit, nil
		}
	}
	if ng.Budget > 0 {
		// Counted now, so that the next grant is measured against it.
		if n := c.uncapped[g.Offer]; n > 0 {
			if _, err := q.ExecContext(ctx, qCountGrants, n, g.Offer); err != nil {
				return nil, nil, err
			}
			delete(c.uncapped, g.Offer)
		}
		res, err := q.ExecContext(ctx, qSpendGrantBudget, g.Offer, ng.Budget, ng.Budget)
		if err != nil {
			return nil, nil, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil, kith.ErrGrantBudget, nil
		}
	} else {
		c.uncapped[g.Offer]++
	}
	var key any
	if g.IdempotencyKey != "" {
		key = g.IdempotencyKey
	}
	if _, err := q.ExecContext(ctx, qInsertGrant,
		g.ID, g.Code, g.Offer, g.OfferVersion, g.ProfileID, string(g.Channel), g.Campaign, g.MessageRef,
		g.GrantedAt.UnixNano(), g.GrantedBy, g.ExpiresAt.UnixNano(), key, g.Address.Type, g.Address.Value); err != nil {
		return nil, nil, classify(err, "grant "+g.ID)
	}
	if err := outbox(ctx, q, ng.Event); err != nil {
		return nil, nil, err
	}
	cp := *g
	return &cp, nil, nil
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?,", n), ",")
}

func scanGrant(row interface{ Scan(...any) error }) (*kith.Grant, error) {
	var g kith.Grant
	var channel string
	var granted, expires int64
	var redemption, void sql.NullString
	var redeemKey string
	if err := row.Scan(&g.ID, &g.Code, &g.Offer, &g.OfferVersion, &g.ProfileID, &channel, &g.Campaign, &g.MessageRef,
		&granted, &g.GrantedBy, &expires, &g.IdempotencyKey, &redemption, &redeemKey, &void, &g.Address.Type, &g.Address.Value); err != nil {
		return nil, err
	}
	g.Channel = kith.Kind(channel)
	g.GrantedAt, g.ExpiresAt = time.Unix(0, granted).UTC(), time.Unix(0, expires).UTC()
	if redemption.Valid {
		g.Redemption = new(kith.Redemption)
		if err := json.Unmarshal([]byte(redemption.String), g.Redemption); err != nil {
			return nil, fmt.Errorf("decode redemption of %s: %w", g.ID, err)
		}
		g.Redemption.IdempotencyKey = redeemKey
	}
	if void.Valid {
		g.Void = new(kith.Void)
		if err := json.Unmarshal([]byte(void.String), g.Void); err != nil {
			return nil, fmt.Errorf("decode void of %s: %w", g.ID, err)
		}
	}
	return &g, nil
}

// GrantByID returns one grant.
func (db *DB) GrantByID(ctx context.Context, id string) (*kith.Grant, error) {
	g, err := scanGrant(db.orq().QueryRowContext(ctx, qGrantByID, id))
	return g, classify(err, "grant "+id)
}

// GrantByCode returns the grant with a redemption code.
func (db *DB) GrantByCode(ctx context.Context, code string) (*kith.Grant, error) {
	g, err := scanGrant(db.orq().QueryRowContext(ctx, qGrantByCode, code))
	return g, classify(err, "grant with code "+code)
}

// Grants returns the grants of the profiles, newest first.
func (db *DB) Grants(ctx context.Context, profileIDs []string) ([]kith.Grant, error) {
	if len(profileIDs) == 0 {
		return nil, nil
	}
	args := make([]any, len(profileIDs))
	for i, id := range profileIDs {
		args[i] = id
	}
	rows, err := db.or.QueryContext(ctx, "SELECT "+grantCols+" FROM grants WHERE profile_id IN ("+
		placeholders(len(args))+") ORDER BY granted_at DESC, id DESC", args...)
	if err != nil {
		return nil, fmt.Errorf("grants: %w", err)
	}
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

// settle runs change on a grant inside a ledger operation: change sees the
// grant as it is and returns a guard that did not hold (nothing written)
// or changes it; settle returns the grant and the guard.
func (db *DB) settle(ctx context.Context, id string, change func(q txQuerier, g *kith.Grant) (guard, err error)) (*kith.Grant, error) {
	var g *kith.Grant
	var guard error
	err := db.ledger(ctx, func(q txQuerier) error {
		cur, err := scanGrant(q.QueryRowContext(ctx, qGrantByID, id))
		if err != nil {
			return classify(err, "grant "+id)
		}
		g = cur
		guard, err = change(q, cur)
		return err
	})
	if err != nil {
		return nil, err
	}
	return g, guard
}

// Redeem spends a held grant once.
func (db *DB) Redeem(ctx context.Context, id string, r kith.Redemption, budget int, e kith.Event) (*kith.Grant, error) {
	doc, err := json.Marshal(r)
	if err != nil {
		return nil, err
	}
	return db.settle(ctx, id, func(q txQuerier, g *kith.Grant) (error, error) {
		switch {
		case g.Redemption != nil && r.IdempotencyKey != "" && g.Redemption.IdempotencyKey == r.IdempotencyKey:
			return nil, nil
		case g.Redemption != nil || g.Void != nil || !r.At.Before(g.ExpiresAt):
			return kith.ErrGrantSettled, nil
		}
		res, err := q.ExecContext(ctx, qSpendRedeemBudget, g.Offer, budget, budget)
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return kith.ErrRedeemBudget, nil
		}
		var key any
		if r.IdempotencyKey != "" {
			key = r.IdempotencyKey
		}
		res, err = q.ExecContext(ctx, qRedeemGrant, r.At.UnixNano(), string(doc), key, id)
		if err != nil {
			return nil, err
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return nil, fmt.Errorf("redeem grant %s: the held grant was not updated", id)
		}
		if err := outbox(ctx, q, e); err != nil {
			return nil, err
		}
		red := r
		g.Redemption = &red
		return nil, nil
	})
}

// VoidGrant withdraws a held grant.
func (db *DB) VoidGrant(ctx context.Context, id string, v kith.Void, e kith.Event) (*kith.Grant, error) {
	doc, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return db.settle(ctx, id, func(q txQuerier, g *kith.Grant) (error, error) {
		if g.Redemption != nil || g.Void != nil {
			return kith.ErrGrantSettled, nil
		}
		if _, err := q.ExecContext(ctx, "UPDATE grants SET voided_at = ?, void = ? WHERE id = ?", v.At.UnixNano(), string(doc), id); err != nil {
			return nil, err
		}
		if _, err := q.ExecContext(ctx, "UPDATE offers SET granted = granted - 1 WHERE code = ?", g.Offer); err != nil {
			return nil, err
		}
		if err := outbox(ctx, q, e); err != nil {
			return nil, err
		}
		vv := v
		g.Void = &vv
		return nil, nil
	})
}

// OfferOutbox returns queued ledger events, oldest first.
func (db *DB) OfferOutbox(ctx context.Context, limit int) ([]kith.OutboxEvent, error) {
	rows, err := db.orq().QueryContext(ctx, qReadOutbox, limit)
	if err != nil {
		return nil, fmt.Errorf("offer outbox: %w", err)
	}
	defer rows.Close()
	var out []kith.OutboxEvent
	for rows.Next() {
		var o kith.OutboxEvent
		var b, payload []byte
		if err := rows.Scan(&o.ID, &b, &payload); err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, &o.Event); err != nil {
			return nil, fmt.Errorf("decode outbox event %d: %w", o.ID, err)
		}
		o.Event.Payload = payload
		out = append(out, o)
	}
	return out, rows.Err()
}

// DeleteOfferOutbox removes delivered events from the queue.
func (db *DB) DeleteOfferOutbox(ctx context.Context, ids []int64) error {
	if len(ids) == 0 {
		return nil
	}
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return db.ledger(ctx, func(q txQuerier) error {
		_, err := q.ExecContext(ctx, "DELETE FROM offer_outbox WHERE id IN ("+placeholders(len(ids))+")", args...)
		return err
	})
}
