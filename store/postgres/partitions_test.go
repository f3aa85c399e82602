package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/store/postgres"
)

// Leases: a node alone holds every partition; a second node gets half once
// the first has given them back at its next claim; a node that stops
// claiming loses its partitions when its leases lapse; one that stops
// cleanly gives them back at once.
func TestClaimPartitions(t *testing.T) {
	ctx := context.Background()
	db := open(t, newSchema(t), postgres.Options{})
	const ttl = 500 * time.Millisecond
	n := db.Partitions()
	if n != 8 {
		t.Fatalf("Partitions() = %d, want 8", n)
	}
	all := []int{0, 1, 2, 3, 4, 5, 6, 7}
	claim := func(node string, want []int) {
		t.Helper()
		got, err := db.ClaimPartitions(ctx, node, ttl)
		if err != nil {
			t.Fatalf("ClaimPartitions(%s): %v", node, err)
		}
		if want != nil && !cmp.Equal(got, want, cmpopts.EquateEmpty()) {
			t.Fatalf("ClaimPartitions(%s) = %v, want %v", node, got, want)
		}
	}
	holders := func() []string {
		t.Helper()
		h, err := db.PartitionHolders(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	claim("a", all)
	claim("a", all) // renewed, not doubled
	claim("b", []int{})
	claim("a", []int{0, 1, 2, 3}) // two live nodes: a gives half back
	claim("b", []int{4, 5, 6, 7})
	if got, want := holders(), []string{"a", "a", "a", "a", "b", "b", "b", "b"}; !cmp.Equal(got, want) {
		t.Errorf("holders = %v, want %v", got, want)
	}

	// b dies: its leases lapse, and a, alone alive, takes everything.
	time.Sleep(ttl + 100*time.Millisecond)
	claim("a", all)
	if got := holders(); slices.Contains(got, "b") || slices.Contains(got, "") {
		t.Errorf("holders after b's leases lapsed = %v, want a everywhere", got)
	}

	// b comes back and a stops cleanly: b gets everything at its next claim.
	claim("b", []int{})
	claim("a", []int{0, 1, 2, 3})
	if err := db.ReleasePartitions(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	claim("b", all)

	for _, c := range []struct {
		node string
		ttl  time.Duration
	}{{"", ttl}, {"c", 0}} {
		if _, err := db.ClaimPartitions(ctx, c.node, c.ttl); !kith.IsCode(err, kith.EINVALID) {
			t.Errorf("ClaimPartitions(%q, %s) = %v, want invalid", c.node, c.ttl, err)
		}
	}
	if _, err := db.ReadPartition(ctx, 8, 0, 10); !kith.IsCode(err, kith.EINVALID) {
		t.Errorf("ReadPartition(8) = %v, want invalid", err)
	}
	if _, err := db.Backlog(ctx, -1, 0); !kith.IsCode(err, kith.EINVALID) {
		t.Errorf("Backlog(-1) = %v, want invalid", err)
	}
}

// Each event lands in its person key's partition, in order; the backlog
// counts a partition's events after a position exactly, gaps included.
func TestReadPartition(t *testing.T) {
	ctx := context.Background()
	db := open(t, newSchema(t), postgres.Options{})
	var evs []kith.Event
	for i := range 200 {
		evs = append(evs, track(i, "", fmt.Sprint("anon-", i%13), time.Duration(i)*time.Second, `{"event":"Viewed"}`))
	}
	evs = append(evs, track(200, "user-only", "", time.Hour, `{"event":"Viewed"}`))
	if _, err := db.Append(ctx, slices.Clone(evs)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Append(ctx, slices.Clone(evs[:50])); err != nil { // duplicates: gaps in seq
		t.Fatal(err)
	}
	total := 0
	for p := range db.Partitions() {
		got, err := db.ReadPartition(ctx, p, 0, 1000)
		if err != nil {
			t.Fatal(err)
		}
		var want []string
		for _, e := range evs {
			if e.Partition(db.Partitions()) == p {
				want = append(want, e.MessageID)
			}
		}
		var ids []string
		for i, e := range got {
			ids = append(ids, e.MessageID)
			if i > 0 && e.Seq <= got[i-1].Seq {
				t.Errorf("partition %d: seq %d after %d", p, e.Seq, got[i-1].Seq)
			}
		}
		if diff := cmp.Diff(want, ids); diff != "" {
			t.Errorf("partition %d (-want +got):\n%s", p, diff)
		}
		if len(got) > 1 {
			if n, err := db.Backlog(ctx, p, got[0].Seq); err != nil || n != int64(len(got)-1) {
				t.Errorf("Backlog(%d, after its first) = %d, %v; want %d", p, n, err, len(got)-1)
			}
			page, err := db.ReadPartition(ctx, p, got[0].Seq, 1)
			if err != nil || len(page) != 1 || page[0].MessageID != got[1].MessageID {
				t.Errorf("ReadPartition(%d, after its first, 1) = %v, %v", p, page, err)
			}
		}
		total += len(got)
	}
	if total != len(evs) {
		t.Errorf("partitions hold %d events, want %d", total, len(evs))
	}

	// A node's share, read at once: its partitions' events after their
	// own positions, in log order, each with its partition.
	all, err := db.ReadEvents(ctx, 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	after := map[int]int64{1: 0, 4: all[40].Seq, 6: all[len(all)-1].Seq}
	var want []string
	for _, e := range all {
		if p := e.Partition(db.Partitions()); after[p] < e.Seq && (p == 1 || p == 4 || p == 6) {
			want = append(want, fmt.Sprint(p, " ", e.MessageID))
		}
	}
	got, parts, err := db.ReadPartitions(ctx, after, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var gotIDs []string
	for i, e := range got {
		gotIDs = append(gotIDs, fmt.Sprint(parts[i], " ", e.MessageID))
	}
	if diff := cmp.Diff(want, gotIDs); diff != "" {
		t.Errorf("ReadPartitions (-want +got):\n%s", diff)
	}
	if got, _, err := db.ReadPartitions(ctx, after, 3); err != nil || len(got) != 3 {
		t.Errorf("ReadPartitions with limit 3: %d events, %v", len(got), err)
	}
	if _, _, err := db.ReadPartitions(ctx, map[int]int64{9: 0}, 3); !kith.IsCode(err, kith.EINVALID) {
		t.Errorf("ReadPartitions of partition 9: %v, want invalid", err)
	}
}

// ProcessCursors moves several cursors in one commit, or none.
func TestProcessCursors(t *testing.T) {
	ctx := context.Background()
	db := open(t, newSchema(t), postgres.Options{})
	moves := map[string]int64{"c.2": 20, "c.1": 10, "c.3": 30}
	err := db.ProcessCursors(ctx, moves, func(tx kith.ProfileTx) error {
		for name := range moves {
			if cur, err := tx.Cursor(ctx, name); err != nil || cur != 0 {
				return fmt.Errorf("cursor %s inside = %d, %v; want 0", name, cur, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range moves {
		if cur, err := db.Cursor(ctx, name); err != nil || cur != want {
			t.Errorf("cursor %s = %d, %v; want %d", name, cur, err, want)
		}
	}
	failed := fmt.Errorf("no")
	err = db.ProcessCursors(ctx, map[string]int64{"c.1": 11, "c.2": 21}, func(kith.ProfileTx) error { return failed })
	if err != failed {
		t.Errorf("ProcessCursors with a failing fn = %v", err)
	}
	if cur, _ := db.Cursor(ctx, "c.1"); cur != 10 {
		t.Errorf("cursor c.1 = %d after a failed batch, want 10", cur)
	}
}

// Two nodes process at once, each its share of the partitions; when one
// stops, the other takes its partitions and carries on; a node that dies
// without giving its partitions back loses them when its leases lapse.
func TestNodesSharePartitions(t *testing.T) {
	ctx := context.Background()
	url := newSchema(t)
	nodes := []*postgres.DB{open(t, url, postgres.Options{}), open(t, url, postgres.Options{})}
	var evs []kith.Event
	for i := range 400 {
		k := i % 40
		evs = append(evs, track(i, fmt.Sprint("u", k), fmt.Sprintf("a%d-%d", k, i%3), time.Duration(i)*time.Second, `{"event":"Viewed"}`))
	}
	if _, err := nodes[0].Append(ctx, slices.Clone(evs[:200])); err != nil {
		t.Fatal(err)
	}
	runNodes(t, nodes, 0) // both held partitions, all applied; both stopped and gave them back

	// A node dies holding every partition: it claimed, then nothing; its
	// leases last 10×ttl.
	const ttl = 600 * time.Millisecond
	held, err := nodes[1].ClaimPartitions(ctx, "dead-node", 10*ttl)
	if err != nil || len(held) != 8 {
		t.Fatalf("dead node claims %v, %v; want every partition", held, err)
	}
	if _, err := nodes[0].Append(ctx, slices.Clone(evs[200:])); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	runNodes(t, nodes[:1], ttl)
	if took := time.Since(start); took < 5*ttl {
		t.Errorf("the dead node's partitions were taken after %s, before its leases lapsed", took)
	}
	total := 0
	for k := range 40 {
		p := holderOf(t, nodes[1], kith.Identifier{Type: kith.IDUserID, Value: fmt.Sprint("u", k)})
		total += p.Events
	}
	if total != len(evs) {
		t.Errorf("profiles hold %d events, want %d", total, len(evs))
	}
}
