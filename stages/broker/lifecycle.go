package broker

import (
	"context"
	"errors"
	"strconv"

	"github.com/sluicedata/sluice/stages/lifecycle"
)

// startLifecycle starts the archive, retention, producer expiry and vacuum
// passes, unless disabled. Every broker runs them; leases in the metadata
// store let one broker at a time do each job.
func (b *Broker) startLifecycle() error {
	if b.cfg.LifecycleInterval < 0 {
		return nil
	}
	w, err := lifecycle.New(lifecycle.Config{
		Meta: b.meta, Objects: b.objects, Fetcher: b.fetch, Holder: b.name, ClusterID: b.clusterID, Logger: b.log,
		Interval:     b.cfg.LifecycleInterval,
		ArchiveBytes: b.cfg.ArchiveBytes, ArchiveAge: b.cfg.ArchiveAge, SegmentBytes: b.cfg.SegmentBytes,
		ArchiveShards:    b.cfg.ArchiveShards,
		Grace:            b.cfg.VacuumGrace,
		DefaultRetention: b.cfg.Retention, DefaultRetentionBytes: b.cfg.RetentionBytes,
		Failpoint:          b.cfg.Failpoint,
		ProducerExpiration: b.cfg.ProducerIDExpiration,
		// The live brokers this broker knows of share the archive work.
		Brokers: func() int { return len(b.reg.cluster()) },
	})
	if err != nil {
		return err
	}
	b.life = w
	b.counters.life.Store(w)
	w.Start()
	return nil
}

// ErrLifecycleDisabled is returned by RunLifecycle on a broker started with
// a negative LifecycleInterval.
var ErrLifecycleDisabled = errors.New("broker: lifecycle disabled")

// RunLifecycle runs one lifecycle pass now (tests, tools): retention,
// archive and producer expiry, then vacuum, each if this broker holds or
// can take its lease.
func (b *Broker) RunLifecycle(ctx context.Context) error {
	if b.life == nil {
		return ErrLifecycleDisabled
	}
	return b.life.RunOnce(ctx)
}

// LifecycleStats reports the lifecycle work this broker did.
func (b *Broker) LifecycleStats() lifecycle.Stats {
	if b.life == nil {
		return lifecycle.Stats{}
	}
	return b.life.Stats()
}

// topicDefaults are the topic config defaults the broker's retention
// settings give, as clients see them in DescribeConfigs and CreateTopics.
func topicDefaults(cfg Config) map[string]string {
	d := map[string]string{}
	switch {
	case cfg.Retention < 0:
		d["retention.ms"] = "-1"
	case cfg.Retention > 0:
		d["retention.ms"] = strconv.FormatInt(cfg.Retention.Milliseconds(), 10)
	}
	if cfg.RetentionBytes != 0 {
		d["retention.bytes"] = strconv.FormatInt(max(cfg.RetentionBytes, -1), 10)
	}
	return d
}
