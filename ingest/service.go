package ingest

import (
	"context"
	"fmt"
	"time"

	"github.com/kithhq/kith"
)

// SourceResolver finds the active source a write key belongs to.
type SourceResolver interface {
	SourceForWriteKey(ctx context.Context, writeKey string) (*kith.Source, error)
}

// Service accepts Segment requests and appends their events to the log.
type Service struct {
	log     kith.EventLog
	sources SourceResolver
	now     func() time.Time
}

// New returns a Service that authenticates write keys with sources and
// appends to log.
func New(log kith.EventLog, sources SourceResolver) *Service {
	return &Service{log: log, sources: sources, now: time.Now}
}

// Request is one ingestion request, body already decompressed.
type Request struct {
	Endpoint Endpoint
	Body     []byte
	WriteKey string // from Basic auth; the body's writeKey is used when empty
}

// Result says what became of a request's messages.
type Result struct {
	Source     *kith.Source
	Accepted   int // valid messages, now durable (new or duplicates of stored ones)
	Duplicates int // of Accepted, those already stored, skipped
	Rejected   []Rejection
}

// Ingest authenticates, parses and appends one request. It returns only
// after the accepted events are durable. Errors carry kith codes: EINVALID
// and ETOOLARGE for the body, EUNAUTHORIZED for the write key.
func (s *Service) Ingest(ctx context.Context, req Request) (*Result, error) {
	received := s.now()
	var src *kith.Source
	var err error
	if req.WriteKey != "" {
		// Authenticate before reading the body, so a stranger learns nothing of our parser.
		if src, err = s.sources.SourceForWriteKey(ctx, req.WriteKey); err != nil {
			return nil, err
		}
	}
	p, err := Parse(req.Endpoint, req.Body, received)
	if err != nil {
		return nil, err
	}
	if src == nil {
		if src, err = s.sources.SourceForWriteKey(ctx, p.WriteKey); err != nil {
			return nil, err
		}
	}
	for i := range p.Events {
		p.Events[i].SourceID = src.ID
		p.Events[i].Channel = src.Kind
	}
	res := &Result{Source: src, Rejected: p.Rejected}
	if len(p.Events) == 0 {
		return res, nil
	}
	ar, err := s.log.Append(ctx, p.Events)
	if err != nil {
		return nil, fmt.Errorf("append %d events: %w", len(p.Events), err)
	}
	res.Accepted = ar.Appended + ar.Duplicates
	res.Duplicates = ar.Duplicates
	return res, nil
}
