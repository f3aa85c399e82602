package audience

import (
	"context"
	"fmt"
	"time"

	"github.com/kithhq/kith"
)

// RecordSizes records every saved audience's size now, at the engine's
// clock to the minute, for the chart of sizes over time. Recording twice in
// a minute, or on two nodes, keeps one size. An audience whose first
// evaluation is still under way is left out: its count is not yet its size.
func (e *Engine) RecordSizes(ctx context.Context) error {
	defs, err := e.defs.Audiences(ctx)
	if err != nil {
		return fmt.Errorf("record audience sizes: %w", err)
	}
	sizes := make(map[string]int, len(defs))
	for _, d := range defs {
		if b := e.Progress(d.ID); b != nil && !b.Done {
			continue
		}
		n, err := e.defs.AudienceSize(ctx, d.ID)
		if err != nil {
			return fmt.Errorf("record audience sizes: %w", err)
		}
		sizes[d.ID] = n
	}
	return e.defs.RecordAudienceSizes(ctx, e.svc.now().UTC().Truncate(time.Minute), sizes)
}

// History returns a saved audience's recorded sizes since a time, oldest
// first; ENOTFOUND for no such audience.
func (s *Service) History(ctx context.Context, id string, since time.Time) ([]kith.AudienceSize, error) {
	if _, err := s.Audience(ctx, id); err != nil {
		return nil, err
	}
	return s.defs.AudienceSizes(ctx, id, since)
}
