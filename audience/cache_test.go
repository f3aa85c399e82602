package audience

import (
	"context"
	"errors"
	"slices"
	"testing"
)

func TestMemberCache(t *testing.T) {
	ctx := context.Background()
	store := map[string][]string{"p1": {"a", "b"}}
	reads := 0
	read := func(_ context.Context, ids []string) (map[string][]string, error) {
		reads++
		out := map[string][]string{}
		for _, id := range ids {
			if store[id] != nil {
				out[id] = store[id]
			}
		}
		return out, nil
	}
	c := newMemberCache(3)
	got, err := c.memberships(ctx, []string{"p1", "p2"}, read)
	if err != nil || !slices.Equal(got["p1"], []string{"a", "b"}) || got["p2"] != nil || reads != 1 {
		t.Fatalf("first read: %v, %v, %d reads", got, err, reads)
	}
	c.set("p1", map[string]bool{"a": false, "c": true})
	c.set("p2", map[string]bool{"a": true})
	c.set("p9", map[string]bool{"a": true}) // not held: nothing to keep
	got, _ = c.memberships(ctx, []string{"p1", "p2"}, read)
	if reads != 1 || !slices.Equal(got["p1"], []string{"b", "c"}) || !slices.Equal(got["p2"], []string{"a"}) {
		t.Errorf("from the cache: %v after %d reads", got, reads)
	}
	c.forget([]string{"p1"})
	if _, err := c.memberships(ctx, []string{"p1"}, read); err != nil || reads != 2 {
		t.Errorf("a forgotten profile is read again: %d reads, %v", reads, err)
	}
	// Beyond its bound the cache starts again.
	if _, err := c.memberships(ctx, []string{"p3", "p4"}, read); err != nil || len(c.held) != 2 {
		t.Errorf("held %d profiles past the bound, want 2", len(c.held))
	}
	failing := func(context.Context, []string) (map[string][]string, error) { return nil, errors.New("disk") }
	if _, err := c.memberships(ctx, []string{"p7"}, failing); err == nil {
		t.Error("a failed read was not reported")
	}
}
