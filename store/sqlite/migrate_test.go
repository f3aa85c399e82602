package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/store/sqlite"
)

// A store made before profiles had a customer column gets it, set from
// the documents, and ScanCustomers finds the same people through it.
func TestMigrateCustomerColumn(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	db := openManual(t, dir, sqlite.Options{})
	err := db.Process(ctx, "test", 3, func(tx kith.ProfileTx) error {
		for _, p := range []*kith.Profile{
			{ID: "prf_buyer", CreatedSeq: 1, CreatedAt: at, UpdatedAt: at,
				Purchases: []kith.Purchase{{At: at, Amount: 5, SourceID: "src_1", Channel: kith.KindWeb, Seq: 1}}},
			{ID: "prf_staged", CreatedSeq: 2, CreatedAt: at, UpdatedAt: at,
				Lifecycle: kith.Lifecycle{Stage: kith.StageLapsed, Since: at, Seq: 2}},
			// Its trait's name is in its document, but it bought nothing.
			{ID: "prf_named", CreatedSeq: 3, CreatedAt: at, UpdatedAt: at,
				Traits: map[string]kith.Trait{"purchases": {Value: []byte(`"none"`), SourceID: "src_1", Time: at, Seq: 3}}},
		} {
			if err := tx.PutProfile(ctx, p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	mustClose(t, db)

	// Back to the schema before migration 3.
	raw, err := sql.Open("sqlite", filepath.Join(dir, sqlite.ProfilesFileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"DROP INDEX profiles_customers",
		"ALTER TABLE profiles DROP COLUMN customer",
		`CREATE INDEX profiles_customers ON profiles (id)
			WHERE merged_into IS NULL AND (instr(doc, '"purchases"') > 0 OR instr(doc, '"lifecycle"') > 0)`,
		"DELETE FROM schema_migrations WHERE version = 3",
	} {
		if _, err := raw.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	raw.Close()

	db = open(t, dir, sqlite.Options{})
	page, err := db.ScanCustomers(ctx, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range page {
		got = append(got, p.ID)
	}
	if len(got) != 2 || got[0] != "prf_buyer" || got[1] != "prf_staged" {
		t.Errorf("customers after the migration: %v, want [prf_buyer prf_staged]", got)
	}
}
