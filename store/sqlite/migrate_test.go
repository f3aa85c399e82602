package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

// The log's and the profiles' WALs are copied into their files beside the
// writers, within seconds, though no commit reached the writers' own
// checkpoint threshold.
func TestCheckpointsBesideTheWriters(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	db := open(t, dir, sqlite.Options{})
	size := func(name string) int64 {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Size()
	}
	logBefore, profilesBefore := size(sqlite.FileName), size(sqlite.ProfilesFileName)
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	evs := make([]kith.Event, 2000)
	for i := range evs {
		evs[i] = kith.Event{SourceID: "src_1", MessageID: fmt.Sprintf("m%d", i), Type: kith.TypeTrack, Channel: kith.KindWeb,
			Timestamp: at, ReceivedAt: at, Payload: []byte(`{"event":"` + strings.Repeat("x", 500) + `"}`)}
	}
	if _, err := db.Append(ctx, evs); err != nil {
		t.Fatal(err)
	}
	err := db.Process(ctx, "test", 1, func(tx kith.ProfileTx) error {
		for i := range 2000 {
			p := &kith.Profile{ID: fmt.Sprintf("prf_%05d", i), CreatedSeq: 1, CreatedAt: at, UpdatedAt: at,
				SearchKeys: []string{strings.Repeat("n", 200)}}
			if err := tx.PutProfile(ctx, p); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for size(sqlite.FileName) < logBefore+500_000 || size(sqlite.ProfilesFileName) < profilesBefore+400_000 {
		if time.Now().After(deadline) {
			t.Fatalf("after 10 s, kith.db is %d bytes (from %d) and profiles.db %d (from %d): the WALs were not checkpointed",
				size(sqlite.FileName), logBefore, size(sqlite.ProfilesFileName), profilesBefore)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
