package erasure

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kithhq/kith"
)

// The service's order of steps, with the store, processor and caches as
// simple stand-ins: what each does to real data is tested in the stores'
// contract suite and end to end in cmd/kith.

type fakeStore struct {
	mu        sync.Mutex
	erasures  map[string]kith.Erasure
	primary   [][]string // profile ids ErasePrimary was called with
	failPrime error
}

func (s *fakeStore) PutErasure(_ context.Context, e kith.Erasure) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.erasures[e.ID] = e
	return nil
}

func (s *fakeStore) Erasure(_ context.Context, id string) (*kith.Erasure, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.erasures[id]
	if !ok {
		return nil, kith.Errorf(kith.ENOTFOUND, "no erasure %s", id)
	}
	return &e, nil
}

func (s *fakeStore) Erasures(_ context.Context, since time.Time, _ int) ([]kith.Erasure, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []kith.Erasure
	for _, e := range s.erasures {
		if !e.RequestedAt.Before(since) {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b kith.Erasure) int { return a.RequestedAt.Compare(b.RequestedAt) })
	return out, nil
}

func (s *fakeStore) ErasePrimary(_ context.Context, ids []string, seqs []int64) (kith.ErasureCounts, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failPrime != nil {
		return kith.ErasureCounts{}, s.failPrime
	}
	s.primary = append(s.primary, ids)
	return kith.ErasureCounts{Events: len(seqs), Consents: 1}, nil
}

// fakeProc holds profiles; Erase removes them only if then succeeds, as a
// transaction would.
type fakeProc struct {
	mu       sync.Mutex
	profiles map[string][]int64 // id → its events' positions
	applied  int64
}

func (p *fakeProc) Erase(ctx context.Context, ids []string, then func(context.Context, kith.ErasedProfiles) error) (kith.ErasedProfiles, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out kith.ErasedProfiles
	for _, id := range ids {
		if seqs, ok := p.profiles[id]; ok {
			out.Profiles++
			out.Identifiers++
			out.Seqs = append(out.Seqs, seqs...)
		}
	}
	if err := then(ctx, out); err != nil {
		return kith.ErasedProfiles{}, err
	}
	for _, id := range ids {
		delete(p.profiles, id)
	}
	return out, nil
}

func (p *fakeProc) Applied(context.Context) (int64, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.applied, nil
}

func (p *fakeProc) Members(_ context.Context, id string) (string, []string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.profiles[id]; !ok {
		return "", nil, kith.Errorf(kith.ENOTFOUND, "no profile %s", id)
	}
	if id == "prf_a" || id == "prf_a2" {
		return "prf_a", []string{"prf_a2"}, nil
	}
	return id, nil, nil
}

type head int64

func (h head) LastSeq(context.Context) (int64, error) { return int64(h), nil }

type cache struct {
	mu     sync.Mutex
	forgot []string
}

func (c *cache) Forget(ids []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.forgot = append(c.forgot, ids...)
}

type auditLog struct {
	recs     []kith.AuditRecord
	redacted []string
}

func (a *auditLog) AppendAudit(_ context.Context, recs ...kith.AuditRecord) error {
	a.recs = append(a.recs, recs...)
	return nil
}
func (a *auditLog) Audit(context.Context, kith.AuditFilter) ([]kith.AuditRecord, error) {
	return a.recs, nil
}
func (a *auditLog) RedactAudit(_ context.Context, targets []string, _ string) (int, error) {
	a.redacted = append(a.redacted, targets...)
	return len(targets), nil
}

func setup() (*Service, *fakeStore, *fakeProc, *cache, *auditLog) {
	st := &fakeStore{erasures: map[string]kith.Erasure{}}
	proc := &fakeProc{profiles: map[string][]int64{"prf_a": {1, 4}, "prf_a2": {2}, "prf_b": {3}}, applied: 4}
	c, al := &cache{}, &auditLog{}
	s := New(st, proc, proc, head(4), al, Config{CatchUp: 200 * time.Millisecond}, nil)
	s.Forgets(c)
	return s, st, proc, c, al
}

func TestErase(t *testing.T) {
	s, st, proc, c, al := setup()
	ctx := kith.WithActor(context.Background(), kith.Actor{Kind: kith.ActorKey, Name: "admin"})
	e, err := s.Erase(ctx, "prf_a2", "ticket 9")
	if err != nil {
		t.Fatal(err)
	}
	if e.State != kith.ErasureDone || !slices.Equal(e.Profiles, []string{"prf_a", "prf_a2"}) || e.By != "key:admin" || e.Reason != "ticket 9" ||
		e.Removed.Profiles != 2 || e.Removed.Events != 3 || e.Removed.AuditRedacted != 2 || e.CompletedAt.IsZero() {
		t.Errorf("erasure = %+v", e)
	}
	if _, ok := proc.profiles["prf_a"]; ok || len(proc.profiles) != 1 {
		t.Errorf("profiles left: %v, want only prf_b", proc.profiles)
	}
	if !slices.Equal(c.forgot, []string{"prf_a", "prf_a2"}) {
		t.Errorf("the cache forgot %v", c.forgot)
	}
	if stored := st.erasures[e.ID]; stored.State != kith.ErasureDone {
		t.Errorf("stored erasure = %+v", stored)
	}
	if len(al.recs) != 1 || al.recs[0].Action != kith.AuditProfileErase || al.recs[0].Target != "prf_a" {
		t.Errorf("audit = %+v", al.recs)
	}
	if _, err := s.Erase(ctx, "prf_a", ""); !kith.IsCode(err, kith.ENOTFOUND) {
		t.Errorf("erasing again: %v, want not found", err)
	}
	if _, err := s.Erase(ctx, "", ""); !kith.IsCode(err, kith.EINVALID) || kith.ErrorField(err) != "profile" {
		t.Errorf("erasing no one: %v", err)
	}
	if _, err := s.Erase(ctx, "prf_b", strings.Repeat("x", 501)); !kith.IsCode(err, kith.EINVALID) || kith.ErrorField(err) != "reason" {
		t.Errorf("a 501-character reason: %v", err)
	}
	if _, err := s.Erase(ctx, "nobody", strings.Repeat("é", 500)); !kith.IsCode(err, kith.ENOTFOUND) {
		t.Errorf("a 500-character reason of 1,000 bytes: %v, want it accepted (and nobody found)", err)
	}
	if len(st.erasures) != 1 {
		t.Errorf("refused requests left erasures behind: %v", st.erasures)
	}
}

// A failure half-way leaves the profiles in place and the erasure pending;
// Resume finishes it once it is over a minute old, and not before.
func TestEraseResumes(t *testing.T) {
	s, st, proc, c, _ := setup()
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	s.SetClock(func() time.Time { return now })
	st.failPrime = errors.New("disk full")
	_, err := s.Erase(context.Background(), "prf_a", "")
	if err == nil || !errors.Is(err, st.failPrime) {
		t.Fatalf("Erase with a failing store: %v", err)
	}
	if len(proc.profiles) != 3 {
		t.Errorf("a failed erasure removed profiles: %v", proc.profiles)
	}
	var pending kith.Erasure
	for _, e := range st.erasures {
		pending = e
	}
	if pending.State != kith.ErasurePending {
		t.Fatalf("the failed erasure is %+v, want pending", pending)
	}
	st.failPrime = nil
	if n, err := s.Resume(context.Background()); err != nil || n != 0 {
		t.Errorf("Resume at once = %d, %v; want it left to its own request", n, err)
	}
	now = now.Add(2 * time.Minute)
	if n, err := s.Resume(context.Background()); err != nil || n != 1 {
		t.Fatalf("Resume after two minutes = %d, %v; want 1", n, err)
	}
	if e := st.erasures[pending.ID]; e.State != kith.ErasureDone || e.Removed.Profiles != 2 {
		t.Errorf("the resumed erasure = %+v", e)
	}
	if len(proc.profiles) != 1 || len(c.forgot) != 2 {
		t.Errorf("after resuming: profiles %v, forgot %v", proc.profiles, c.forgot)
	}
	if n, err := s.Resume(context.Background()); err != nil || n != 0 {
		t.Errorf("Resume again = %d, %v", n, err)
	}
	if len(c.forgot) != 2 {
		t.Errorf("forgot again: %v", c.forgot)
	}
}

// An erasure made by another node is forgotten by this one's caches, once.
func TestForgetsOtherNodes(t *testing.T) {
	s, st, _, c, _ := setup()
	st.erasures["era_x"] = kith.Erasure{ID: "era_x", Profiles: []string{"prf_z"}, State: kith.ErasureDone, RequestedAt: time.Now()}
	for range 3 {
		if _, err := s.Resume(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if !slices.Equal(c.forgot, []string{"prf_z"}) {
		t.Errorf("forgot %v, want prf_z once", c.forgot)
	}
}

// The processor behind the log makes the erasure wait, then give up with
// a reason, erasing nothing.
func TestEraseWaitsForTheProcessor(t *testing.T) {
	s, _, proc, _, _ := setup()
	s.log = head(9)
	start := time.Now()
	_, err := s.Erase(context.Background(), "prf_b", "")
	if !kith.IsCode(err, kith.EUNAVAILABLE) || time.Since(start) < 200*time.Millisecond {
		t.Errorf("Erase behind the log: %v after %s; want unavailable after the 200 ms wait", err, time.Since(start))
	}
	if _, ok := proc.profiles["prf_b"]; !ok {
		t.Errorf("the profile was erased although the processor was behind")
	}
	go func() {
		time.Sleep(50 * time.Millisecond)
		proc.mu.Lock()
		proc.applied = 9
		proc.mu.Unlock()
	}()
	if _, err := s.Erase(context.Background(), "prf_b", ""); err != nil {
		t.Errorf("Erase once the processor caught up: %v", err)
	}
}

// Ten seconds after an erasure completes, what work in flight wrote of the
// person is swept away, once, on every node.
func TestSweepsOnceAfter(t *testing.T) {
	s, st, _, _, _ := setup()
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	s.SetClock(func() time.Time { return now })
	st.erasures["era_x"] = kith.Erasure{ID: "era_x", Profiles: []string{"prf_z"}, State: kith.ErasureDone,
		RequestedAt: now.Add(-time.Second), CompletedAt: now}
	resume := func() {
		t.Helper()
		if _, err := s.Resume(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	resume()
	if len(st.primary) != 0 {
		t.Errorf("swept at once: %v", st.primary)
	}
	now = now.Add(15 * time.Second)
	resume()
	resume()
	if len(st.primary) != 1 || !slices.Equal(st.primary[0], []string{"prf_z"}) {
		t.Errorf("sweeps = %v, want prf_z once", st.primary)
	}
}
