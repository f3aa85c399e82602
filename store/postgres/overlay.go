package postgres

// The overlay of a profile transaction: what the processor asks of a
// batch answered from memory, and what it writes sent at once.
//
// Preload reads the holders of all the batch's identifiers, locks them in
// id order in one statement (step 2 of the lock order in profiles.go, for
// the whole batch at once), and reads their rows and identifiers. From
// then on the transaction answers ProfilesFor, Identifiers and Profile for
// what it knows from memory: rows it has locked cannot change under it,
// and it keeps them current with its own writes. It goes to the database,
// after sending what it buffered, for anything else.
//
// PutProfile, AddLink and AddTimeline are buffered and sent as one
// statement per table, in one round trip, before any statement that could
// read them and at commit. Identity keys of the identifiers linked that no
// profile held are claimed (step 3) in the same round trip, in key order,
// before the links are inserted: if a transaction that committed meanwhile
// linked one, the claim fails with errStale and inTx runs the transaction
// again, with a new overlay.

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/jackc/pgx/v5"

	"github.com/kithhq/kith"
)

type overlay struct {
	on bool // Preload was called: reads use, and writes keep, the maps
	// holders: every profile holding an identifier, sorted; present with
	// no profiles when none holds it.
	holders map[kith.Identifier][]string
	// idents: every identifier a locked profile holds.
	idents map[string][]kith.Identifier
	// profiles: locked profiles as last read or written.
	profiles map[string]*kith.Profile

	puts   map[string]profileRow // not yet written
	links  []kith.Link           // not yet inserted
	claims []kith.Identifier     // identity keys to claim before links
}

// profileRow is a profile as PutProfile was given it.
type profileRow struct {
	id                           string
	createdSeq, created, updated int64
	merged, search1, search2     *string
	doc                          []byte
	fresh                        bool // a new profile: inserted, never replaced
}

// Preload locks the profiles holding ids and reads them with their
// identifiers, so that later calls about them are answered from memory.
// It is profile.Preloader.
func (t *profileTx) Preload(ctx context.Context, ids []kith.Identifier) error {
	if !t.on {
		t.on = true
		t.holders = map[kith.Identifier][]string{}
		t.idents = map[string][]kith.Identifier{}
		t.profiles = map[string]*kith.Profile{}
		t.puts = map[string]profileRow{}
	}
	if err := t.flush(ctx); err != nil {
		return err
	}
	seen := map[kith.Identifier]bool{}
	var want []kith.Identifier
	for _, id := range ids {
		if _, known := t.holders[id]; !known && !seen[id] {
			seen[id] = true
			want = append(want, id)
		}
	}
	if len(want) == 0 {
		return nil
	}
	types, values := make([]string, len(want)), make([][]byte, len(want))
	for i, id := range want {
		types[i], values[i] = id.Type, []byte(id.Value)
	}
	// Each round locks, then reads every identifier of every profile
	// holding one of want (with a snapshot taken after the locks): the
	// holders of want, and all that the locked ones hold. The first round
	// locks the holders its own snapshot finds; a holder that arrived in
	// between is locked in the next.
	const qHeld = `SELECT l.profile_id, l.type, l.value FROM identifiers l WHERE l.profile_id IN (SELECT i.profile_id
		FROM identifiers i JOIN unnest($1::text[], $2::bytea[]) AS q (type, value) ON i.type = q.type AND i.value = q.value)
		ORDER BY l.profile_id, l.seq, l.type, l.value`
	b := &pgx.Batch{}
	b.Queue(`SELECT `+profileCols+` FROM profiles WHERE id IN (SELECT i.profile_id FROM identifiers i
		JOIN unnest($1::text[], $2::bytea[]) AS q (type, value) ON i.type = q.type AND i.value = q.value)
		ORDER BY id FOR UPDATE`, types, values)
	b.Queue(qHeld, types, values)
	wanted := make(map[kith.Identifier]bool, len(want))
	for _, id := range want {
		wanted[id] = true
	}
	for range maxHolderReads {
		found, err := t.preloadRound(ctx, b, wanted)
		if err != nil {
			return fmt.Errorf("preload %d identifiers: %w", len(want), err)
		}
		var holders []string
		for _, ps := range found {
			holders = append(holders, ps...)
		}
		need := t.toLock(holders)
		if len(need) == 0 {
			for _, id := range want {
				t.holders[id] = slices.Clone(found[id])
				if len(found[id]) == 0 {
					t.unheld[id] = true
				} else {
					delete(t.unheld, id)
				}
			}
			return nil
		}
		b = &pgx.Batch{}
		b.Queue(`SELECT `+profileCols+` FROM profiles WHERE id = ANY($1) ORDER BY id FOR UPDATE`, need)
		b.Queue(qHeld, types, values)
	}
	return fmt.Errorf("preload %d identifiers: holders kept changing: %w", len(want), errStale)
}

// preloadRound sends a batch of two statements: lock and read profiles,
// then read the identifiers of the holders of wanted. It returns the
// holders of wanted, and keeps the identifiers of those locked.
func (t *profileTx) preloadRound(ctx context.Context, b *pgx.Batch, wanted map[kith.Identifier]bool) (map[kith.Identifier][]string, error) {
	br := t.tx.SendBatch(ctx, b)
	defer br.Close()
	rows, err := br.Query()
	if err != nil {
		return nil, err
	}
	ps, err := collectProfiles(rows)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		t.locked[p.ID] = true
		if _, known := t.profiles[p.ID]; !known {
			t.profiles[p.ID] = p
		}
	}
	rows, err = br.Query()
	if err != nil {
		return nil, err
	}
	found := map[kith.Identifier][]string{}
	held := map[string][]kith.Identifier{}
	for rows.Next() {
		var p string
		var id kith.Identifier
		var value []byte
		if err := rows.Scan(&p, &id.Type, &value); err != nil {
			rows.Close()
			return nil, err
		}
		id.Value = string(value)
		held[p] = append(held[p], id)
		if wanted[id] {
			found[id] = append(found[id], p) // in profile order
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	// Read after the lock statement: exact for the holders it locked.
	for p, ids := range held {
		if _, known := t.idents[p]; !known && t.locked[p] {
			t.idents[p] = ids
		}
	}
	return found, br.Close()
}

// knownHolders answers ProfilesFor from memory, if every id is known.
func (t *profileTx) knownHolders(ids []kith.Identifier) (map[kith.Identifier][]string, bool) {
	if !t.on {
		return nil, false
	}
	out := make(map[kith.Identifier][]string, len(ids))
	for _, id := range ids {
		ps, ok := t.holders[id]
		if !ok {
			return nil, false
		}
		if len(ps) > 0 {
			out[id] = slices.Clone(ps)
		}
	}
	return out, true
}

// putProfile buffers a profile's row. A profile this transaction has not
// locked or read is new: the processor reads (and so locks) every profile
// it changes.
func (t *profileTx) putProfile(p *kith.Profile) {
	r := profileRow{id: p.ID, createdSeq: p.CreatedSeq, created: p.CreatedAt.UnixNano(), updated: p.UpdatedAt.UnixNano(),
		doc: kith.AppendProfileDoc(make([]byte, 0, 2048), p)}
	if len(p.SearchKeys) > 0 {
		s := storable(p.SearchKeys[0])
		r.search1 = &s
	}
	if len(p.SearchKeys) > 1 {
		s := storable(p.SearchKeys[1])
		r.search2 = &s
	}
	if p.MergedInto != "" {
		m := p.MergedInto
		r.merged = &m
	}
	if _, known := t.profiles[p.ID]; !known && !t.locked[p.ID] {
		r.fresh = true
		t.locked[p.ID] = true
		t.idents[p.ID] = []kith.Identifier{}
	}
	if old, ok := t.puts[p.ID]; ok && old.fresh {
		r.fresh = true
	}
	t.puts[p.ID] = r
	t.profiles[p.ID] = p
}

// addLink buffers a link and keeps the maps current.
func (t *profileTx) addLink(l kith.Link) {
	if ids, ok := t.idents[l.ProfileID]; ok {
		if slices.Contains(ids, l.Identifier) {
			return // linking one already held keeps the first link
		}
		t.idents[l.ProfileID] = append(ids, l.Identifier)
	}
	if t.unheld[l.Identifier] {
		t.claims = append(t.claims, l.Identifier)
		delete(t.unheld, l.Identifier)
	}
	if ps, ok := t.holders[l.Identifier]; ok {
		t.holders[l.Identifier] = insertSorted(ps, l.ProfileID)
	}
	t.links = append(t.links, l)
}

func insertSorted(ps []string, p string) []string {
	i, found := slices.BinarySearch(ps, p)
	if found {
		return ps
	}
	return slices.Insert(ps, i, p)
}

// absorbed keeps the maps current after Absorb moved m.Absorbed's
// identifiers to m.Survivor.
func (t *profileTx) absorbed(m kith.Merge) {
	if !t.on {
		return
	}
	repoint := func(id kith.Identifier) {
		ps, ok := t.holders[id]
		if !ok {
			return
		}
		i, found := slices.BinarySearch(ps, m.Absorbed)
		if !found {
			return
		}
		t.holders[id] = insertSorted(slices.Delete(slices.Clone(ps), i, i+1), m.Survivor)
	}
	if moved, known := t.idents[m.Absorbed]; known {
		for _, id := range moved {
			repoint(id)
		}
		if ids, ok := t.idents[m.Survivor]; ok {
			for _, id := range moved {
				if !slices.Contains(ids, id) {
					ids = append(ids, id)
				}
			}
			t.idents[m.Survivor] = ids
		}
	} else {
		for id := range t.holders {
			repoint(id)
		}
		delete(t.idents, m.Survivor)
	}
	t.idents[m.Absorbed] = []kith.Identifier{}
	for _, p := range t.profiles {
		if p.ID == m.Absorbed || p.MergedInto == m.Absorbed {
			p.MergedInto = m.Survivor
		}
	}
}

// forget drops what the overlay knows; later reads go to the database.
func (t *profileTx) forget() {
	if t.on {
		clear(t.holders)
		clear(t.idents)
		clear(t.profiles)
	}
}

// flush sends the buffered writes.
func (t *profileTx) flush(ctx context.Context) error {
	if len(t.puts) == 0 && len(t.claims) == 0 && len(t.links) == 0 && len(t.pending) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	read, err := t.queueFlush(ctx, b)
	if err != nil {
		return err
	}
	br := t.tx.SendBatch(ctx, b)
	err = read(br)
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return err
}

// queueFlush queues the buffered writes on b and returns what reads their
// results, in order, from the batch's results. The profiles written are
// locked first, then the identity keys claimed.
func (t *profileTx) queueFlush(ctx context.Context, b *pgx.Batch) (func(pgx.BatchResults) error, error) {
	var lockIDs []string
	for _, r := range t.pending {
		lockIDs = append(lockIDs, r.profileID)
	}
	for _, l := range t.links {
		lockIDs = append(lockIDs, l.ProfileID)
	}
	if err := t.lock(ctx, lockIDs...); err != nil {
		return nil, err
	}
	var reads []func(pgx.BatchResults) error
	exec := func(what string) func(pgx.BatchResults) error {
		return func(br pgx.BatchResults) error {
			if _, err := br.Exec(); err != nil {
				return fmt.Errorf("%s: %w", what, classify(err, what))
			}
			return nil
		}
	}
	if len(t.puts) > 0 {
		rows := make([]profileRow, 0, len(t.puts))
		for _, r := range t.puts {
			rows = append(rows, r)
		}
		slices.SortFunc(rows, func(a, b profileRow) int { return cmp.Compare(a.id, b.id) })
		var fresh, old profileCols8
		for _, r := range rows {
			if r.fresh {
				fresh.add(r)
			} else {
				old.add(r)
			}
		}
		const insert = `INSERT INTO profiles (id, created_seq, created_at, updated_at, merged_into, search1, search2, doc)
			SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::bytea[])`
		if len(fresh.ids) > 0 {
			b.Queue(insert, fresh.args()...)
			reads = append(reads, exec("insert profiles"))
		}
		if len(old.ids) > 0 {
			b.Queue(insert+` ON CONFLICT (id) DO UPDATE SET created_seq = excluded.created_seq, created_at = excluded.created_at,
				updated_at = excluded.updated_at, merged_into = excluded.merged_into,
				search1 = excluded.search1, search2 = excluded.search2, doc = excluded.doc`, old.args()...)
			reads = append(reads, exec("put profiles"))
		}
		clear(t.puts)
	}
	if len(t.claims) > 0 {
		claims := slices.Clone(t.claims)
		slices.SortFunc(claims, func(a, b kith.Identifier) int {
			return cmp.Or(cmp.Compare(a.Type, b.Type), cmp.Compare(a.Value, b.Value))
		})
		claims = slices.Compact(claims)
		types, values := make([]string, len(claims)), make([][]byte, len(claims))
		for i, id := range claims {
			types[i], values[i] = id.Type, []byte(id.Value)
		}
		b.Queue(`INSERT INTO identity_keys (type, value)
			SELECT * FROM unnest($1::text[], $2::bytea[]) AS q (type, value) ORDER BY 1, 2 ON CONFLICT DO NOTHING`, types, values)
		b.Queue(`SELECT count(*) FROM (SELECT 1 FROM identity_keys k
			JOIN unnest($1::text[], $2::bytea[]) AS q (type, value) ON k.type = q.type AND k.value = q.value
			ORDER BY k.type, k.value FOR UPDATE OF k) x`, types, values)
		b.Queue(`SELECT EXISTS (SELECT 1 FROM identifiers i
			JOIN unnest($1::text[], $2::bytea[]) AS q (type, value) ON i.type = q.type AND i.value = q.value)`, types, values)
		reads = append(reads, func(br pgx.BatchResults) error {
			var locked int
			var held bool
			_, err := br.Exec()
			if err == nil {
				err = br.QueryRow().Scan(&locked)
			}
			if err == nil {
				err = br.QueryRow().Scan(&held)
			}
			if err != nil {
				return fmt.Errorf("claim %d identity keys: %w", len(claims), err)
			}
			if locked != len(claims) || held {
				// A transaction that committed since this one read the
				// holders linked one (or an erasure removed a key between
				// the insert and the lock).
				return errStale
			}
			return nil
		})
		t.claims = t.claims[:0]
	}
	if len(t.links) > 0 {
		n := len(t.links)
		types, values, profiles := make([]string, n), make([][]byte, n), make([]string, n)
		seqs, ats := make([]int64, n), make([]int64, n)
		messages, sources := make([]string, n), make([]string, n)
		for i, l := range t.links {
			types[i], values[i], profiles[i], seqs[i], ats[i] = l.Type, []byte(l.Value), l.ProfileID, l.Seq, l.At.UnixNano()
			messages[i], sources[i] = storable(l.MessageID), storable(l.SourceID)
		}
		b.Queue(`INSERT INTO identifiers (type, value, profile_id, seq, message_id, source_id, at)
			SELECT * FROM unnest($1::text[], $2::bytea[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::bigint[])
			ON CONFLICT DO NOTHING`, types, values, profiles, seqs, messages, sources, ats)
		reads = append(reads, exec("link identifiers"))
		t.links = t.links[:0]
	}
	if len(t.pending) > 0 {
		n := len(t.pending)
		profiles, ts, seqs, warnings := make([]string, n), make([]int64, n), make([]int64, n), make([]*string, n)
		for i, r := range t.pending {
			profiles[i], ts[i], seqs[i], warnings[i] = r.profileID, r.ts, r.seq, r.warnings
		}
		b.Queue(`INSERT INTO timeline (profile_id, ts, seq, warnings)
			SELECT * FROM unnest($1::text[], $2::bigint[], $3::bigint[], $4::text[]) ON CONFLICT DO NOTHING`,
			profiles, ts, seqs, warnings)
		reads = append(reads, exec("timeline"))
		t.pending = t.pending[:0]
	}
	return func(br pgx.BatchResults) error {
		for _, read := range reads {
			if err := read(br); err != nil {
				return err
			}
		}
		return nil
	}, nil
}

// profileCols8 holds profile rows as the arrays a multi-row insert takes.
type profileCols8 struct {
	ids                      []string
	seqs, created, updated   []int64
	merged, search1, search2 []*string
	docs                     [][]byte
}

func (c *profileCols8) add(r profileRow) {
	c.ids = append(c.ids, r.id)
	c.seqs = append(c.seqs, r.createdSeq)
	c.created = append(c.created, r.created)
	c.updated = append(c.updated, r.updated)
	c.merged = append(c.merged, r.merged)
	c.search1 = append(c.search1, r.search1)
	c.search2 = append(c.search2, r.search2)
	c.docs = append(c.docs, r.doc)
}

func (c *profileCols8) args() []any {
	return []any{c.ids, c.seqs, c.created, c.updated, c.merged, c.search1, c.search2, c.docs}
}
