package lifecycle

import (
	"context"
	"fmt"
	"time"

	"github.com/sluicedata/sluice/sinks/meta"
)

// Producer-state expiry (Kafka's producer.id.expiration.ms). The store
// keeps one state per idempotent producer and partition, to recognise
// retries; every new client process gets a new producer id, so the states
// of producers gone for good pile up unless deleted. A state is deleted
// once its producer has not written to the partition for
// ProducerExpiration, inside the archive pass of the partition's shard.
// Expiry never touches offsets and never removes a state written within
// the expiration: the store checks each state's last write in the
// deleting transaction.
//
// Most passes have nothing to expire: a state written at time t cannot
// expire before t+ProducerExpiration. Each call tells the oldest last
// write it kept (meta.ProducerExpiry.KeptSince), so the partition is not
// looked at again until that plus the expiration: for a partition without
// idempotent producers, once per expiration; after a broker restart, once
// in the first pass.

// producerCheck is when a partition's producer states can next have
// something to expire, and the pass that learned it.
type producerCheck struct {
	next time.Time
	pass int64
}

// expireProducers deletes tp's producer states idle longer than
// ProducerExpiration, unless an earlier call showed that none can be yet.
// Called under runMu.
func (w *Worker) expireProducers(ctx context.Context, tp meta.TP) error {
	if w.cfg.ProducerExpiration < 0 {
		return nil
	}
	now := w.cfg.Now()
	if c, ok := w.producerChecks[tp]; ok && now.Before(c.next) {
		w.producerChecks[tp] = producerCheck{c.next, w.pass}
		return nil
	}
	for {
		res, err := w.cfg.Meta.Lifecycle().ExpireProducers(ctx, tp, now.Add(-w.cfg.ProducerExpiration))
		if err != nil {
			delete(w.producerChecks, tp)
			return err
		}
		w.stats.producersExpired.Add(int64(res.Removed))
		if res.Removed > 0 || res.Stamped > 0 {
			w.log.Debug("expired idle producer states", "topic_id", fmt.Sprintf("%x", tp.Topic), "partition", tp.Partition,
				"removed", res.Removed, "stamped", res.Stamped)
		}
		if !res.More {
			w.producerChecks[tp] = producerCheck{res.KeptSince.Add(w.cfg.ProducerExpiration), w.pass}
			return nil
		}
		if err := ctx.Err(); err != nil {
			return err
		}
	}
}

// forgetProducerChecks drops, after a whole archive pass, the partitions
// it did not visit: those of deleted topics and of shards another broker
// took. Should this broker take such a shard back, it checks their
// partitions anew. Called under runMu.
func (w *Worker) forgetProducerChecks() {
	for tp, c := range w.producerChecks {
		if c.pass != w.pass {
			delete(w.producerChecks, tp)
		}
	}
}
