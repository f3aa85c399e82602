package sqlite

import (
	"cmp"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kithhq/kith"
)

// MembersOf returns the memberships of many profiles in three reads,
// however many ids. The ids go to SQLite as one JSON array (json_each),
// not as a statement of placeholders per few hundred.
//
// A list that holds a fair share of everyone (a campaign's audience) is
// read differently: found through the indexes, each id costs a lookup of
// its profile's row and two of each identifier, while one pass over every
// absorbed profile and every identifier costs a few times less per row.
// The work then grows with the store rather than the list, which is why
// it is kept for lists of at least a quarter of the profiles.
func (db *DB) MembersOf(ctx context.Context, ids []string) (map[string]kith.Membership, error) {
	out := make(map[string]kith.Membership, len(ids))
	if len(ids) == 0 {
		return out, nil
	}
	list, err := jsonIDs(ids)
	if err != nil {
		return nil, err
	}
	// The largest rowid bounds how many profiles there are.
	var most sql.NullInt64
	if err := db.pr.QueryRowContext(ctx, "SELECT max(rowid) FROM profiles").Scan(&most); err != nil {
		return nil, fmt.Errorf("members: %w", err)
	}
	var asked map[string]string
	var current map[string]*kith.Membership
	if int64(len(ids))*4 >= most.Int64 {
		asked, current, err = db.membersByScan(ctx, list, len(ids))
	} else {
		asked, current, err = db.membersByIndex(ctx, list, len(ids))
	}
	if err != nil {
		return nil, err
	}
	for _, m := range current {
		slices.Sort(m.Absorbed)
		slices.SortFunc(m.Links, func(a, b kith.Link) int {
			return cmp.Or(cmp.Compare(a.Seq, b.Seq), strings.Compare(a.Type, b.Type), strings.Compare(a.Value, b.Value))
		})
	}
	for id, cur := range asked {
		out[id] = *current[cur]
	}
	return out, nil
}

// membersByIndex finds the profiles of list (a JSON array of n ids),
// those merged into them and their identifiers through the indexes. It
// returns each id's current profile, and the memberships by current
// profile.
func (db *DB) membersByIndex(ctx context.Context, list string, n int) (map[string]string, map[string]*kith.Membership, error) {
	// Each id's current profile: itself, or the one it was merged into.
	rows, err := db.pr.QueryContext(ctx, "SELECT j.value, p.merged_into FROM json_each(?) j JOIN profiles p ON p.id = j.value", list)
	if err != nil {
		return nil, nil, fmt.Errorf("members: %w", err)
	}
	asked := make(map[string]string, n)
	current := make(map[string]*kith.Membership, n)
	for rows.Next() {
		var id string
		var into sql.NullString
		if err := rows.Scan(&id, &into); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("members: %w", err)
		}
		cur := id
		if into.Valid {
			cur = into.String
		}
		asked[id] = cur
		if current[cur] == nil {
			current[cur] = &kith.Membership{Current: cur}
		}
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("members: %w", err)
	}
	if len(current) == 0 {
		return asked, current, nil
	}
	curs := make([]string, 0, len(current))
	for cur := range current {
		curs = append(curs, cur)
	}
	if list, err = jsonIDs(curs); err != nil {
		return nil, nil, err
	}
	rows, err = db.pr.QueryContext(ctx, "SELECT merged_into, id FROM profiles WHERE merged_into IN (SELECT value FROM json_each(?))", list)
	if err != nil {
		return nil, nil, fmt.Errorf("members: %w", err)
	}
	for rows.Next() {
		var cur, id string
		if err := rows.Scan(&cur, &id); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("members: %w", err)
		}
		m := current[cur]
		m.Absorbed = append(m.Absorbed, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("members: %w", err)
	}
	rows, err = db.pr.QueryContext(ctx, `SELECT profile_id, type, value, seq, message_id, source_id, at FROM identifiers
		WHERE profile_id IN (SELECT value FROM json_each(?))`, list)
	if err := collectLinks(rows, err, current); err != nil {
		return nil, nil, err
	}
	return asked, current, nil
}

// membersByScan is membersByIndex by one pass over the absorbed profiles
// and one over the identifiers, keeping those of the list's people.
func (db *DB) membersByScan(ctx context.Context, list string, n int) (map[string]string, map[string]*kith.Membership, error) {
	// Which ids are profiles: the primary key's index answers alone.
	rows, err := db.pr.QueryContext(ctx, "SELECT p.id FROM json_each(?) j JOIN profiles p ON p.id = j.value", list)
	if err != nil {
		return nil, nil, fmt.Errorf("members: %w", err)
	}
	var found []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("members: %w", err)
		}
		found = append(found, id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("members: %w", err)
	}
	// Every absorbed profile, through the partial index of those.
	rows, err = db.pr.QueryContext(ctx, "SELECT id, merged_into FROM profiles WHERE merged_into IS NOT NULL")
	if err != nil {
		return nil, nil, fmt.Errorf("members: %w", err)
	}
	into := map[string]string{}
	absorbed := map[string][]string{}
	for rows.Next() {
		var id, cur string
		if err := rows.Scan(&id, &cur); err != nil {
			rows.Close()
			return nil, nil, fmt.Errorf("members: %w", err)
		}
		into[id] = cur
		absorbed[cur] = append(absorbed[cur], id)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("members: %w", err)
	}
	asked := make(map[string]string, n)
	current := make(map[string]*kith.Membership, n)
	for _, id := range found {
		cur := id
		if c, ok := into[id]; ok {
			cur = c
		}
		asked[id] = cur
		if current[cur] == nil {
			current[cur] = &kith.Membership{Current: cur, Absorbed: absorbed[cur]}
		}
	}
	if len(current) == 0 {
		return asked, current, nil
	}
	// Only the profiles from the least to the greatest of the list's: a
	// list cut in parts by id reads its own part of the table (the unary +
	// keeps SQLite from the index, a lookup per row).
	lo, hi := "", ""
	for cur := range current {
		if lo == "" || cur < lo {
			lo = cur
		}
		hi = max(hi, cur)
	}
	rows, err = db.pr.QueryContext(ctx, `SELECT profile_id, type, value, seq, message_id, source_id, at FROM identifiers
		WHERE +profile_id BETWEEN ? AND ?`, lo, hi)
	if err := collectLinks(rows, err, current); err != nil {
		return nil, nil, err
	}
	return asked, current, nil
}

// collectLinks reads identifiers into the memberships of their profiles,
// skipping those of other profiles.
func collectLinks(rows *sql.Rows, err error, current map[string]*kith.Membership) error {
	if err != nil {
		return fmt.Errorf("members' identifiers: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var l kith.Link
		var at int64
		if err := rows.Scan(&l.ProfileID, &l.Type, &l.Value, &l.Seq, &l.MessageID, &l.SourceID, &at); err != nil {
			return fmt.Errorf("members' identifiers: %w", err)
		}
		m := current[l.ProfileID]
		if m == nil {
			continue
		}
		l.At = time.Unix(0, at).UTC()
		m.Links = append(m.Links, l)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("members' identifiers: %w", err)
	}
	return nil
}

// jsonIDs is ids, in order and without repeats, as a JSON array for
// json_each.
func jsonIDs(ids []string) (string, error) {
	ids = slices.Compact(slices.Sorted(slices.Values(ids)))
	b, err := json.Marshal(ids)
	if err != nil {
		return "", fmt.Errorf("list ids: %w", err)
	}
	return string(b), nil
}
