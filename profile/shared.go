package profile

import (
	"context"
	"slices"
	"time"

	"github.com/kithhq/kith"
)

// Partitioned is optional for a Store: a store several nodes share splits
// its log into partitions by person key (kith.Event.Partition), so that
// each node processes some of them while one person's events stay in
// order. The processor keeps a cursor per partition and processes the
// partitions its node claims. Leases spread the work; they do not guard
// it: a batch commits only if its cursor is where the batch began (the
// store's Process locks the cursor's row), so two nodes briefly holding
// one partition cost time, never a double application.
type Partitioned interface {
	// Partitions returns how many partitions the log is split into.
	Partitions() int
	// ReadPartition returns up to limit events of partition p with Seq >
	// after, in Seq order.
	ReadPartition(ctx context.Context, p int, after int64, limit int) ([]kith.Event, error)
	// ReadPartitions returns up to limit events, in Seq order, of the
	// partitions in after, each after its position there, with the
	// partition of each.
	ReadPartitions(ctx context.Context, after map[int]int64, limit int) ([]kith.Event, []int, error)
	// ProcessCursors is Store.Process moving several cursors at once:
	// it locks their rows (in name order) before fn runs and moves each
	// to its position when fn's changes commit.
	ProcessCursors(ctx context.Context, moves map[string]int64, fn func(kith.ProfileTx) error) error
	// Backlog counts partition p's events with Seq > after.
	Backlog(ctx context.Context, p int, after int64) (int64, error)
	// ClaimPartitions renews node's leases and gives it its fair share of
	// the partitions for ttl; it returns the partitions node holds.
	ClaimPartitions(ctx context.Context, node string, ttl time.Duration) ([]int, error)
	// ReleasePartitions gives back every partition node holds.
	ReleasePartitions(ctx context.Context, node string) error
	// PartitionHolders returns the node holding each partition now ("" for none).
	PartitionHolders(ctx context.Context) ([]string, error)
}

// Held returns the partitions this node processes now (nil when the store
// is not partitioned).
func (p *Processor) Held() []int {
	p.heldMu.Lock()
	defer p.heldMu.Unlock()
	return slices.Clone(p.held)
}

func (p *Processor) setHeld(held []int) {
	p.heldMu.Lock()
	p.held = held
	p.heldMu.Unlock()
}

// runShared claims this node's share of the partitions every third of the
// lease and follows the partitions it holds — all of them in one reader
// and one transaction at a time, in log order, so that batches stay big —
// starting again whenever the set changes; it releases them all when ctx
// ends. If it cannot renew its leases for a whole lease it stops
// processing: others will have taken its partitions.
func (p *Processor) runShared(ctx context.Context) error {
	ttl := p.cfg.LeaseTTL
	var following []int
	var stop context.CancelFunc
	var done chan struct{}
	halt := func() {
		if stop != nil {
			stop()
			<-done
			stop, following = nil, nil
		}
		p.setHeld(nil)
	}
	start := func(held []int) {
		halt()
		if len(held) == 0 {
			return
		}
		fctx, cancel := context.WithCancel(ctx)
		stop, done, following = cancel, make(chan struct{}), held
		go func() {
			defer close(done)
			p.follow(fctx, held)
		}()
		p.setHeld(held)
		p.log.Info("processing partitions", "node", p.cfg.Node, "partitions", held)
	}
	defer func() {
		halt()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := p.parts.ReleasePartitions(rctx, p.cfg.Node); err != nil {
			p.log.Warn("could not give back this node's partitions; others take them when the leases lapse", "node", p.cfg.Node, "err", err)
		}
	}()
	lastClaim := time.Now()
	tick := time.NewTicker(ttl / 3)
	defer tick.Stop()
	for {
		held, err := p.parts.ClaimPartitions(ctx, p.cfg.Node, ttl)
		switch {
		case ctx.Err() != nil:
			return nil
		case err != nil:
			p.log.Warn("could not renew this node's partitions", "node", p.cfg.Node, "err", err)
			if time.Since(lastClaim) >= ttl && following != nil {
				p.log.Warn("this node's leases have lapsed; it stops processing until it can claim again", "node", p.cfg.Node)
				halt()
			}
		default:
			lastClaim = time.Now()
			if !slices.Equal(held, following) {
				start(held)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
