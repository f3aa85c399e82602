package audience

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/profile"
)

// Create saves an audience after checking its expression.
func (s *Service) Create(ctx context.Context, name, expression string) (*kith.AudienceDef, error) {
	if s.defs == nil {
		return nil, kith.Errorf(kith.EUNAVAILABLE, "audiences cannot be saved here")
	}
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		return nil, kith.Invalid("name", "an audience needs a name of 1 to 200 characters")
	}
	x, err := s.Validate(expression)
	if err != nil {
		return nil, err
	}
	a, _ := kith.ActorFrom(ctx)
	b := make([]byte, 10)
	rand.Read(b)
	def := &kith.AudienceDef{ID: "aud_" + hex.EncodeToString(b), Name: name, Expression: x.Source, CreatedAt: s.now().UTC(), CreatedBy: a.String()}
	if err := s.defs.CreateAudience(ctx, def); err != nil {
		if kith.IsCode(err, kith.ECONFLICT) {
			return nil, &kith.Error{Code: kith.ECONFLICT, Field: "name", Message: fmt.Sprintf("an audience named %q exists", name)}
		}
		return nil, err
	}
	if s.audit != nil {
		if err := s.audit.AppendAudit(ctx, kith.AuditRecord{Actor: a, Action: kith.AuditAudienceCreate, Target: def.ID,
			Detail: def.Name + ": " + def.Expression}); err != nil {
			return nil, err
		}
	}
	if s.engine != nil {
		if err := s.engine.added(ctx, def); err != nil {
			return nil, err
		}
	}
	return def, nil
}

// Status is a saved audience with its size and, while it is being
// backfilled, the backfill's progress.
type Status struct {
	kith.AudienceDef
	Size     int       `json:"size"`
	Backfill *Backfill `json:"backfill,omitempty"`
}

// Status returns a saved audience with its size now.
func (s *Service) Status(ctx context.Context, id string) (*Status, error) {
	def, err := s.Audience(ctx, id)
	if err != nil {
		return nil, err
	}
	n, err := s.defs.AudienceSize(ctx, id)
	if err != nil {
		return nil, err
	}
	st := &Status{AudienceDef: *def, Size: n}
	if s.engine != nil {
		st.Backfill = s.engine.Progress(id)
	}
	return st, nil
}

// MembershipsOf returns the saved audiences a profile is in now.
func (s *Service) MembershipsOf(ctx context.Context, profileID string) ([]string, error) {
	if s.defs == nil {
		return nil, nil
	}
	return s.defs.MembershipsOf(ctx, profileID)
}

// Audiences lists the saved audiences by name.
func (s *Service) Audiences(ctx context.Context) ([]kith.AudienceDef, error) {
	if s.defs == nil {
		return nil, nil
	}
	return s.defs.Audiences(ctx)
}

// Audience returns one saved audience.
func (s *Service) Audience(ctx context.Context, id string) (*kith.AudienceDef, error) {
	if s.defs == nil {
		return nil, kith.Errorf(kith.ENOTFOUND, "no audience %s", id)
	}
	return s.defs.AudienceByID(ctx, id)
}

// Page is a page of an audience's members, who match it now.
type Page struct {
	Members []Member `json:"members"`
	// Next is the cursor of the next page; empty on the last.
	Next string `json:"next,omitempty"`
}

// Members returns up to limit people who match a saved audience now, after
// the cursor of an earlier page, in profile id order. Names only for an
// actor who may see personal data; the members shown are recorded as found
// by a search.
func (s *Service) Members(ctx context.Context, id, after string, limit int, name func(*kith.Profile) string) (*Page, error) {
	def, err := s.Audience(ctx, id)
	if err != nil {
		return nil, err
	}
	x, err := Compile(def.Expression)
	if err != nil {
		return nil, err
	}
	a, _ := kith.ActorFrom(ctx)
	out := &Page{Members: []Member{}}
	err = s.scan(ctx, x, after, a.PII && name != nil, func(p *kith.Profile, in bool, _ error) bool {
		if in {
			m := Member{ID: p.ID}
			if a.PII && name != nil {
				m.Name = name(p)
			}
			out.Members = append(out.Members, m)
		}
		if len(out.Members) == limit {
			out.Next = p.ID
			return false
		}
		return true
	})
	if err != nil {
		return nil, err
	}
	return out, s.recordFound(ctx, a, out.Members, "audience "+def.ID)
}

// Export calls each with every member of a saved audience now, and records
// the export.
func (s *Service) Export(ctx context.Context, id string, name func(*kith.Profile) string, each func(Member) error) (int, error) {
	def, err := s.Audience(ctx, id)
	if err != nil {
		return 0, err
	}
	x, err := Compile(def.Expression)
	if err != nil {
		return 0, err
	}
	a, _ := kith.ActorFrom(ctx)
	n := 0
	var werr error
	err = s.scan(ctx, x, "", a.PII && name != nil, func(p *kith.Profile, in bool, _ error) bool {
		if !in {
			return true
		}
		m := Member{ID: p.ID}
		if a.PII && name != nil {
			m.Name = name(p)
		}
		if werr = each(m); werr != nil {
			return false
		}
		n++
		return true
	})
	if err == nil {
		err = werr
	}
	if s.audit != nil {
		if aerr := s.audit.AppendAudit(ctx, kith.AuditRecord{Actor: a, Action: kith.AuditAudienceExport, Target: def.ID,
			Detail: fmt.Sprintf("%d members of %s", n, def.Name)}); aerr != nil && err == nil {
			err = aerr
		}
	}
	return n, err
}

// scan evaluates x on every current profile after the cursor, in id
// order, until fn says stop (see scanMany).
func (s *Service) scan(ctx context.Context, x *Expression, after string, names bool, fn func(p *kith.Profile, in bool, err error) bool) error {
	return s.scanMany(ctx, []*Expression{x}, after, names, func(p *kith.Profile, in []bool, errs []error) bool {
		return fn(p, in[0], errs[0])
	})
}

// scanMany evaluates every one of xs on every current profile after the
// cursor, in id order, until fn says stop. It decodes of each profile only
// what the expressions read (and the name traits, with names), a page at a
// time on every core while the next page is read.
func (s *Service) scanMany(ctx context.Context, xs []*Expression, after string, names bool, fn func(p *kith.Profile, in []bool, errs []error) bool) error {
	now := s.now()
	reads := make([][]string, len(xs))
	withIDs := false
	for i, x := range xs {
		reads[i] = x.Reads
		withIDs = withIDs || x.Reading("identifiers")
	}
	n := needOf(reads...)
	fields := n.fields()
	if names {
		fields.Traits = append(fields.Traits, profile.NameTraits...)
	}
	workers := runtime.GOMAXPROCS(0)
	type result struct {
		p    *kith.Profile
		in   []bool
		errs []error
	}
	type read struct {
		page []kith.StoredProfile
		err  error
	}
	fetch := func(after string) <-chan read {
		c := make(chan read, 1)
		go func() {
			page, err := s.store.ScanStoredProfiles(ctx, after, 1000)
			c <- read{page, err}
		}()
		return c
	}
	next := fetch(after)
	for {
		r := <-next
		page, err := r.page, r.err
		if err != nil {
			return err
		}
		if len(page) == 0 {
			return nil
		}
		next = fetch(page[len(page)-1].ID)
		out := make([]result, len(page))
		ins, merrs := make([]bool, len(page)*len(xs)), make([]error, len(page)*len(xs))
		errs := make([]error, workers)
		var wg sync.WaitGroup
		per := (len(page) + workers - 1) / workers
		for w := range workers {
			lo, hi := w*per, min(len(page), (w+1)*per)
			if lo >= hi {
				break
			}
			wg.Go(func() {
				for i := lo; i < hi; i++ {
					p, err := page[i].Decode(fields)
					if err != nil {
						errs[w] = err
						return
					}
					person := s.personFor(p, now, n)
					if withIDs {
						if err := s.identify(ctx, p.ID, person); err != nil {
							errs[w] = err
							return
						}
					}
					k0 := i * len(xs)
					res := result{p: p, in: ins[k0 : k0+len(xs)], errs: merrs[k0 : k0+len(xs)]}
					for k, x := range xs {
						res.in[k], res.errs[k] = x.Match(person)
					}
					out[i] = res
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			<-next
			return err
		}
		for _, r := range out {
			if !fn(r.p, r.in, r.errs) {
				<-next // nothing is left reading behind the caller's back
				return nil
			}
		}
	}
}

func (s *Service) recordFound(ctx context.Context, a kith.Actor, ms []Member, detail string) error {
	if s.audit == nil || len(ms) == 0 {
		return nil
	}
	recs := make([]kith.AuditRecord, len(ms))
	for i, m := range ms {
		recs[i] = kith.AuditRecord{Actor: a, Action: kith.AuditProfileSearch, Target: m.ID, Detail: detail}
	}
	return s.audit.AppendAudit(ctx, recs...)
}
