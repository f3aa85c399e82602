package storetest

import (
	"bytes"
	"context"
	"sync"
	"testing"
	"time"
)

func runLinks(t *testing.T, open func(t *testing.T) Store) {
	runEach(t, open, []storeTest{
		{"Links/KeyMadeOnce", testLinkKeyMadeOnce},
		{"Links/Revocations", testLinkRevocations},
	})
}

// The key is made once, whoever asks first, and stays.
func testLinkKeyMadeOnce(t *testing.T, s Store) {
	ctx := context.Background()
	keys := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := s.LinkKey(ctx)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for _, k := range keys {
		if len(k) != 32 || !bytes.Equal(k, keys[0]) {
			t.Fatalf("keys differ or are short: %x and %x", k, keys[0])
		}
	}
	if again, err := s.LinkKey(ctx); err != nil || !bytes.Equal(again, keys[0]) {
		t.Errorf("the key changed: %x, %v", again, err)
	}
}

// A revocation only ever moves forward.
func testLinkRevocations(t *testing.T, s Store) {
	ctx := context.Background()
	if got, err := s.LinksRevokedBefore(ctx, "prf_1"); err != nil || !got.IsZero() {
		t.Fatalf("before any revocation: %v, %v", got, err)
	}
	for _, d := range []time.Duration{time.Hour, time.Minute} {
		if err := s.RevokeLinks(ctx, "prf_1", at(d)); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := s.LinksRevokedBefore(ctx, "prf_1"); err != nil || !got.Equal(at(time.Hour)) {
		t.Errorf("revoked before %v, %v; want the later time", got, err)
	}
	if got, _ := s.LinksRevokedBefore(ctx, "prf_2"); !got.IsZero() {
		t.Errorf("another profile's links revoked: %v", got)
	}
}
