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
// lease, runs a follower per partition it holds, stops the followers of
// partitions it gave back, and releases them all when ctx ends. If it
// cannot renew its leases for a whole lease it stops processing: others
// will have taken its partitions.
func (p *Processor) runShared(ctx context.Context) error {
	ttl := p.cfg.LeaseTTL
	type follower struct {
		stop context.CancelFunc
		done chan struct{}
	}
	running := map[int]follower{}
	stop := func(part int) {
		f := running[part]
		f.stop()
		<-f.done
		delete(running, part)
	}
	defer func() {
		for part := range running {
			stop(part)
		}
		p.setHeld(nil)
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
			if time.Since(lastClaim) >= ttl && len(running) > 0 {
				p.log.Warn("this node's leases have lapsed; it stops processing until it can claim again", "node", p.cfg.Node)
				for part := range running {
					stop(part)
				}
				p.setHeld(nil)
			}
		default:
			lastClaim = time.Now()
			for part := range running {
				if !slices.Contains(held, part) {
					stop(part)
				}
			}
			var started []int
			for _, part := range held {
				if _, ok := running[part]; ok {
					continue
				}
				fctx, cancel := context.WithCancel(ctx)
				f := follower{stop: cancel, done: make(chan struct{})}
				go func() {
					defer close(f.done)
					p.follow(fctx, part)
				}()
				running[part] = f
				started = append(started, part)
			}
			if len(started) > 0 {
				p.log.Info("processing partitions", "node", p.cfg.Node, "started", started, "held", held)
			}
			p.setHeld(held)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
