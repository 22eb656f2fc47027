package lifecycle

import (
	"context"
	"fmt"
	"hash/fnv"

	"github.com/sluicedata/sluice/sinks/meta"
)

// The archive and retention work is split into ArchiveShards shards, each
// under its own lease, so that the brokers of a cluster share it: each
// broker holds about shards/brokers of them (rounded up), renews the ones
// it holds, gives back any beyond its share (when brokers join), and takes
// free or lapsed ones up to its share (when brokers leave or die). The
// partitions of a topic fall in consecutive shards, so a topic's work
// spreads over the brokers.

func shardLease(i int) string { return fmt.Sprintf("%s/%d", leaseArchive, i) }

// shardOf maps a partition to its shard.
func shardOf(tp meta.TP, shards int) int {
	h := fnv.New32a()
	_, _ = h.Write(tp.Topic[:])
	return int((uint64(h.Sum32()) + uint64(tp.Partition)) % uint64(shards))
}

// holderStart is where this holder starts looking for free shards, so
// brokers starting together do not all race for shard 0.
func holderStart(holder string, shards int) int {
	h := fnv.New32a()
	_, _ = h.Write([]byte(holder))
	return int(h.Sum32() % uint32(shards))
}

// claimShards renews, gives back and takes shard leases as described
// above and returns the shards held for this pass. Called under runMu.
func (w *Worker) claimShards(ctx context.Context) (map[int]bool, error) {
	n := w.cfg.ArchiveShards
	brokers := 1
	if w.cfg.Brokers != nil {
		brokers = max(1, w.cfg.Brokers())
	}
	share := (n + brokers - 1) / brokers
	held := map[int]bool{}
	// Renew what we hold, in a stable order, up to our share.
	start := holderStart(w.cfg.Holder, n)
	for k := range n {
		i := (start + k) % n
		if !w.held[i] {
			continue
		}
		if len(held) >= share {
			if err := w.cfg.Meta.Lifecycle().ReleaseLease(ctx, shardLease(i), w.cfg.Holder); err != nil {
				return held, fmt.Errorf("release %s: %w", shardLease(i), err)
			}
			delete(w.held, i)
			continue
		}
		ok, err := w.lease(ctx, shardLease(i))
		if err != nil {
			return held, err
		}
		if ok {
			held[i] = true
		} else {
			delete(w.held, i) // lapsed and taken over
		}
	}
	// Take free ones up to our share.
	for k := 0; k < n && len(held) < share; k++ {
		i := (start + k) % n
		if held[i] {
			continue
		}
		ok, err := w.lease(ctx, shardLease(i))
		if err != nil {
			return held, err
		}
		if ok {
			held[i], w.held[i] = true, true
		}
	}
	return held, nil
}

// releaseShards gives back every shard lease held (Close).
func (w *Worker) releaseShards(ctx context.Context) {
	for i := range w.held {
		_ = w.cfg.Meta.Lifecycle().ReleaseLease(ctx, shardLease(i), w.cfg.Holder)
	}
	clear(w.held)
}
