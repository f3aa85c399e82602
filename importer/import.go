package importer

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/kithhq/kith"
	"github.com/kithhq/kith/identity"
)

// AuditImport is the audit action an import records: a change to the data
// of many profiles at once.
const AuditImport = "import.run"

// Processing tells whether the profile processor has applied events.
type Processing interface {
	// Applied reports whether every event of evs (appended, so with its
	// Seq) has been applied to its profile.
	Applied(ctx context.Context, evs []kith.Event) (bool, error)
}

// Reader is what the importer reads back from the profile store to say
// what processing did with its events. Both stores implement it.
type Reader interface {
	ProfileIDsFor(ctx context.Context, id kith.Identifier) ([]string, error)
	Profile(ctx context.Context, id string) (*kith.Profile, error)
	Merges(ctx context.Context, root string) ([]kith.Merge, error)
}

// HolderReader is optional for a Reader: HoldersOf answers for a whole
// batch of rows in one read what ProfileIDsFor and Profile answer row by
// row. Both stores implement it.
type HolderReader interface {
	// HoldersOf returns, for each of ids that a current profile holds,
	// the profiles holding it, each with the position of the event that
	// created it.
	HoldersOf(ctx context.Context, ids []kith.Identifier) (map[kith.Identifier]map[string]int64, error)
}

// Service imports files into the event log.
type Service struct {
	log      kith.EventLog
	ids      identity.Config
	proc     Processing // nil: profile outcomes are not counted
	profiles Reader
	audit    kith.AuditLog
	now      func() time.Time
}

// New returns a Service that appends to log, validating identifiers with
// ids. With proc and profiles (both non-nil) it waits until its events are
// processed and counts the profiles they created, linked and merged.
func New(log kith.EventLog, ids identity.Config, proc Processing, profiles Reader) *Service {
	s := &Service{log: log, ids: ids, now: time.Now}
	if proc != nil && profiles != nil {
		s.proc, s.profiles = proc, profiles
	}
	return s
}

// RecordTo makes every import leave an audit record.
func (s *Service) RecordTo(a kith.AuditLog) { s.audit = a }

// Options describe one import.
type Options struct {
	Source    *kith.Source
	Mapping   Mapping
	Delimiter rune   // default ','
	File      string // the file's name, kept in each event's context
	// BatchSize is how many rows go to the log per append (default 5,000).
	BatchSize int
	// Rejects receives the rejected rows as CSV: line, reason. Nil
	// discards them (they are still counted).
	Rejects io.Writer
	// Progress, if set, is called as the import goes, from one goroutine
	// at a time.
	Progress func(Progress)
}

// Progress says how far an import has got.
type Progress struct {
	Bytes      int64 `json:"bytes"`      // of the file, read so far
	TotalBytes int64 `json:"totalBytes"` // the file's size
	Rows       int   `json:"rows"`       // data rows read
	Rejected   int   `json:"rejected"`
	Appended   int   `json:"appended"`   // new events in the log
	Duplicates int   `json:"duplicates"` // rows whose events were already in the log
	Processed  int   `json:"processed"`  // of Appended, applied to profiles (when counted)
}

// Summary says what an import did.
type Summary struct {
	Rows       int `json:"rows"`       // data rows read (the header excluded)
	Appended   int `json:"appended"`   // rows that became new events
	Duplicates int `json:"duplicates"` // rows already imported: their events were in the log
	Rejected   int `json:"rejected"`   // rows refused, listed in the rejects file
	// Counted says whether the profile counts below were measured: they
	// need the store's sequence numbers, which a NATS log does not return.
	Counted bool `json:"counted"`
	// Created counts new profiles that an imported row started and that
	// still stand (a profile started by one row and merged into an older
	// one by a later row counts as linked and merged, not created).
	Created int `json:"created"`
	// Linked counts rows that attached to a profile that already existed.
	Linked int `json:"linked"`
	// Merged counts merges of two profiles that imported rows caused.
	Merged int           `json:"merged"`
	Took   time.Duration `json:"-"`
}

// String is a one-line summary for people.
func (s *Summary) String() string {
	out := fmt.Sprintf("%d rows read: %d imported, %d already imported, %d rejected", s.Rows, s.Appended, s.Duplicates, s.Rejected)
	if s.Counted {
		out += fmt.Sprintf("; profiles: %d created, %d linked, %d merged", s.Created, s.Linked, s.Merged)
	}
	return out
}

// batch is a group of rows appended together.
type batch struct {
	rows []row
}

// Run imports the file r: it checks the file as a whole (see Check),
// then streams its rows into the log in batches, rejecting bad rows, and,
// when it can count outcomes, waits until processing has applied its events.
// The summary is returned with an error too, saying how far it got.
func (s *Service) Run(ctx context.Context, r io.ReadSeeker, opt Options) (*Summary, error) {
	start := s.now()
	if opt.Source == nil {
		return nil, kith.Invalid("source", "an import needs a source")
	}
	if opt.Source.Revoked() {
		return nil, kith.Invalid("source", "source %q is revoked", opt.Source.Name)
	}
	if opt.Delimiter == 0 {
		opt.Delimiter = ','
	}
	if opt.BatchSize <= 0 {
		opt.BatchSize = 5000
	}
	hdr, err := Check(r, opt.Mapping, opt.Delimiter)
	if err != nil {
		return nil, err
	}
	counted := &countingReader{r: r}
	cr := newReader(counted, opt.Delimiter)
	cr.ReuseRecord = false               // records wait for a converter
	if _, err := cr.Read(); err != nil { // the header, checked
		return nil, fmt.Errorf("read header: %w", err)
	}
	idx, err := opt.Mapping.index(hdr.Columns, opt.Delimiter)
	if err != nil {
		return nil, err
	}
	conv := &converter{ids: s.ids, source: opt.Source, fields: opt.Mapping, index: idx,
		columns: len(hdr.Columns), at: start.UTC().Truncate(time.Millisecond), file: opt.File}
	rej := newRejects(opt.Rejects)

	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var (
		mu   sync.Mutex // guards sum and prog
		sum  = &Summary{Counted: s.proc != nil}
		prog = Progress{TotalBytes: hdr.Bytes}
		pmu  sync.Mutex // one call of opt.Progress at a time
	)
	report := func(edit func(*Progress)) {
		pmu.Lock()
		defer pmu.Unlock()
		mu.Lock()
		edit(&prog)
		p := prog
		mu.Unlock()
		if opt.Progress != nil {
			opt.Progress(p)
		}
	}
	toAppend := make(chan batch, 1)
	toCount := make(chan batch, 16) // bounds rows waiting for processing
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(toCount)
		for b := range toAppend {
			if ctx.Err() != nil {
				continue
			}
			evs := make([]kith.Event, len(b.rows))
			for i := range b.rows {
				evs[i] = b.rows[i].event
			}
			ar, err := s.log.Append(ctx, evs)
			if err != nil {
				cancel(fmt.Errorf("append %d rows: %w", len(evs), err))
				continue
			}
			seqs := 0
			for i := range b.rows {
				b.rows[i].event.Seq = evs[i].Seq
				b.rows[i].event.Payload = nil // not needed any more
				if evs[i].Seq > 0 {
					seqs++
				}
			}
			mu.Lock()
			sum.Appended += ar.Appended
			sum.Duplicates += ar.Duplicates
			if seqs != ar.Appended {
				sum.Counted = false // the log does not say where the events went
			}
			counting := sum.Counted
			mu.Unlock()
			report(func(p *Progress) { p.Appended += ar.Appended; p.Duplicates += ar.Duplicates })
			if counting && ar.Appended > 0 {
				select {
				case toCount <- b:
				case <-ctx.Done():
				}
			}
		}
	})
	if s.proc != nil {
		wg.Go(func() {
			for b := range toCount {
				if ctx.Err() != nil {
					continue
				}
				o, err := s.outcome(ctx, b)
				if err != nil {
					cancel(err)
					continue
				}
				mu.Lock()
				sum.Created += o.Created
				sum.Linked += o.Linked
				sum.Merged += o.Merged
				mu.Unlock()
				report(func(p *Progress) { p.Processed += o.Created + o.Linked })
			}
		})
	} else {
		wg.Go(func() {
			for range toCount {
			}
		})
	}

	readErr := s.read(ctx, cr, counted, conv, opt, rej, toAppend, func(rows, rejected int, bytes int64) {
		report(func(p *Progress) { p.Rows, p.Rejected, p.Bytes = rows, rejected, min(bytes, hdr.Bytes) })
	})
	close(toAppend)
	wg.Wait()
	mu.Lock()
	sum.Rows, sum.Rejected = prog.Rows, prog.Rejected
	sum.Took = s.now().Sub(start)
	mu.Unlock()
	if err := rej.flush(); err != nil && readErr == nil {
		readErr = fmt.Errorf("write rejects: %w", err)
	}
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		readErr = err
	} else if readErr == nil {
		readErr = ctx.Err()
	}
	if err := s.record(ctx, opt, sum, readErr); err != nil && readErr == nil {
		readErr = fmt.Errorf("record the import in the audit log: %w", err)
	}
	return sum, readErr
}

// chunk is a run of records read from the file, converted by one of
// several workers: conversion (phone numbers above all) costs more than
// reading, and the file's order is kept by emitting chunks in turn.
type chunk struct {
	recs     [][]string
	lines    []int
	rejected []rejection // in line order, with the rows refused by the CSV reader
	rows     []row
	bytes    int64 // of the file read when the chunk was complete
	done     chan struct{}
}

type rejection struct {
	line   int
	reason string
}

// read parses rows, converts them on every core and hands them to the
// appender in batches, in the file's order.
func (s *Service) read(ctx context.Context, cr *csv.Reader, counted *countingReader, conv *converter, opt Options,
	rej *rejects, out chan<- batch, progress func(rows, rejected int, bytes int64)) error {
	workers := max(1, runtime.GOMAXPROCS(0))
	todo := make(chan *chunk, workers)
	inOrder := make(chan *chunk, 2*workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for c := range todo {
				c.convert(conv)
			}
		})
	}
	emitted := make(chan error, 1)
	go func() {
		var rows, rejected int
		var err error
		for c := range inOrder {
			<-c.done
			if err != nil {
				continue
			}
			rows += len(c.lines)
			rejected += len(c.rejected)
			for _, r := range c.rejected {
				rej.add(r.line, r.reason)
			}
			progress(rows, rejected, c.bytes)
			if len(c.rows) == 0 {
				continue
			}
			select {
			case out <- batch{rows: c.rows}:
			case <-ctx.Done():
				err = context.Cause(ctx)
			}
		}
		emitted <- err
	}()

	err := func() error {
		defer func() {
			close(todo)
			close(inOrder)
		}()
		c := &chunk{done: make(chan struct{})}
		send := func() error {
			c.bytes = counted.n
			select {
			case inOrder <- c:
			case <-ctx.Done():
				return context.Cause(ctx)
			}
			todo <- c
			c = &chunk{done: make(chan struct{})}
			return nil
		}
		for {
			rec, err := cr.Read()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				var pe *csv.ParseError
				if !errors.As(err, &pe) {
					return fmt.Errorf("read file: %w", err)
				}
				c.lines = append(c.lines, pe.StartLine)
				c.recs = append(c.recs, nil) // refused: its reason is kept
				c.rejected = append(c.rejected, rejection{pe.StartLine, csvReason(err)})
			} else {
				line, _ := cr.FieldPos(0)
				c.lines = append(c.lines, line)
				c.recs = append(c.recs, rec)
			}
			if len(c.lines) == opt.BatchSize {
				if err := send(); err != nil {
					return err
				}
			}
		}
		if len(c.lines) > 0 {
			return send()
		}
		return nil
	}()
	wg.Wait()
	if eerr := <-emitted; err == nil {
		err = eerr
	}
	return err
}

// convert turns the chunk's records into rows and rejections, in order.
func (c *chunk) convert(conv *converter) {
	defer close(c.done)
	refused := c.rejected
	c.rejected = nil
	c.rows = make([]row, 0, len(c.recs))
	for i, rec := range c.recs {
		if rec == nil {
			c.rejected = append(c.rejected, refused[0])
			refused = refused[1:]
			continue
		}
		rw, err := conv.convert(c.lines[i], rec)
		if err != nil {
			c.rejected = append(c.rejected, rejection{c.lines[i], err.Error()})
			continue
		}
		c.rows = append(c.rows, rw)
	}
	c.recs = nil
}

// outcomes counts what processing did with one batch.
type outcomes struct{ Created, Linked, Merged int }

// outcome waits until the processor has applied the batch's new events,
// then reads back, for each, the profile now holding its strongest
// identifier: the row created it if the profile's creating event is the
// row's; otherwise it linked to an existing one, and merges recorded for
// its event are counted.
func (s *Service) outcome(ctx context.Context, b batch) (outcomes, error) {
	var o outcomes
	evs := make([]kith.Event, 0, len(b.rows))
	for _, r := range b.rows {
		if r.event.Seq > 0 {
			evs = append(evs, r.event)
		}
	}
	for wait := time.Millisecond; ; wait = min(2*wait, 100*time.Millisecond) {
		ok, err := s.proc.Applied(ctx, evs)
		if err != nil {
			return o, fmt.Errorf("processing progress: %w", err)
		}
		if ok {
			break
		}
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return o, context.Cause(ctx)
		}
	}
	var holders map[kith.Identifier]map[string]int64
	var linked []linkedRow
	hr, batched := s.profiles.(HolderReader)
	if batched {
		keys := make([]kith.Identifier, 0, len(evs))
		for _, r := range b.rows {
			if r.event.Seq > 0 {
				keys = append(keys, r.key)
			}
		}
		var err error
		if holders, err = hr.HoldersOf(ctx, keys); err != nil {
			return o, fmt.Errorf("profiles of the rows: %w", err)
		}
	}
	for _, r := range b.rows {
		seq := r.event.Seq
		if seq == 0 {
			continue // a duplicate, applied by an earlier import
		}
		var ps []string
		created := false
		if batched {
			for id, cs := range holders[r.key] {
				ps = append(ps, id)
				created = created || cs == seq
			}
		} else {
			var err error
			if ps, err = s.profiles.ProfileIDsFor(ctx, r.key); err != nil {
				return o, fmt.Errorf("line %d: profile of %s: %w", r.line, r.key.Type, err)
			}
			for _, id := range ps {
				p, err := s.profiles.Profile(ctx, id)
				if err != nil {
					return o, fmt.Errorf("line %d: profile %s: %w", r.line, id, err)
				}
				if p.CreatedSeq == seq {
					created = true
					break
				}
			}
		}
		if created {
			o.Created++
			continue
		}
		o.Linked++
		linked = append(linked, linkedRow{r.line, seq, ps})
	}
	// Only a profile that absorbed others has merges to count: with a
	// store that reads memberships for a list, the others are skipped.
	var members map[string]kith.Membership
	if mr, ok := s.profiles.(memberReader); ok && batched && len(linked) > 0 {
		var ids []string
		for _, l := range linked {
			ids = append(ids, l.holders...)
		}
		var err error
		if members, err = mr.MembersOf(ctx, ids); err != nil {
			return o, fmt.Errorf("memberships of the rows' profiles: %w", err)
		}
	}
	for _, l := range linked {
		for _, id := range l.holders {
			if m, ok := members[id]; ok && m.Current == id && len(m.Absorbed) == 0 {
				continue
			}
			ms, err := s.profiles.Merges(ctx, id)
			if err != nil {
				return o, fmt.Errorf("line %d: merges of %s: %w", l.line, id, err)
			}
			for _, m := range ms {
				if m.Seq == l.seq && m.UndoneAt.IsZero() {
					o.Merged++
				}
			}
		}
	}
	return o, nil
}

// linkedRow is a row that linked to existing profiles, whose merges are
// counted once the batch's rows are all read.
type linkedRow struct {
	line    int
	seq     int64
	holders []string
}

// memberReader is optional for a Reader (both stores have it): the
// memberships of a list of profiles in a few reads.
type memberReader interface {
	MembersOf(ctx context.Context, ids []string) (map[string]kith.Membership, error)
}

// record leaves the import's audit record: who imported what into which
// source, and what came of it.
func (s *Service) record(ctx context.Context, opt Options, sum *Summary, err error) error {
	if s.audit == nil {
		return nil
	}
	a, _ := kith.ActorFrom(ctx)
	detail := fmt.Sprintf("file %s, mapping %s: %s", strconv.Quote(opt.File), opt.Mapping, sum)
	if err != nil {
		detail += "; stopped: " + kith.ErrorMessage(err)
	}
	// The import's own context may have ended; the record must still be kept.
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	return s.audit.AppendAudit(actx, kith.AuditRecord{Actor: a, Action: AuditImport, Target: "source:" + opt.Source.Name, Detail: detail})
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
