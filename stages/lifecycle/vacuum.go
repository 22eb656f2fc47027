package lifecycle

import (
	"context"
	"fmt"

	"github.com/sluicedata/sluice/sinks/objstore"
)

// FirstObject returns the key of one object in objects that the vacuum
// takes for Sluice's (an intake object, a segment or a catalog, named
// with its creation time), or ok false if there is none. The broker's
// start check uses it: such objects in a store without a cluster marker,
// next to a metadata store that refers to none of them, belong to another
// cluster (or an older Sluice), and this cluster's vacuum would delete
// them all.
func FirstObject(ctx context.Context, objects objstore.Store) (key string, ok bool, err error) {
	for _, prefix := range []string{intakePrefix, archivePrefix} {
		err := objects.List(ctx, prefix, func(k string, _ int64) bool {
			if _, dated := objectTime(k); dated && sluiceKey(k) {
				key, ok = k, true
			}
			return !ok
		})
		if err != nil || ok {
			return key, ok, err
		}
	}
	return "", false, nil
}

// vacuum deletes every object of ours that no index entry refers to and
// that is older than the grace period (see the package comment for why
// that is safe).
func (w *Worker) vacuum(ctx context.Context) error {
	// Mark: every key the index refers to. Any failure here ends the pass
	// before anything is deleted: a key missed is a key deleted.
	live := map[string]struct{}{}
	topics, err := w.cfg.Meta.Topics(ctx)
	if err != nil {
		return fmt.Errorf("vacuum: list topics: %w", err)
	}
	for _, t := range topics {
		for p := int32(0); p < t.Partitions; p++ {
			es, err := w.cfg.Meta.Entries(ctx, metaTP(t.ID, p), 0, 0)
			if err != nil {
				return fmt.Errorf("vacuum: entries of %s/%d: %w", t.Name, p, err)
			}
			for i := range es {
				live[es[i].ObjectKey] = struct{}{}
				if arch, _ := splitEntries(es[i : i+1]); arch != nil {
					cat, err := w.loadCatalog(ctx, arch)
					if err != nil {
						return fmt.Errorf("vacuum: %w", err)
					}
					for _, s := range cat.Segments {
						live[s.Key] = struct{}{}
					}
				}
			}
		}
	}

	// Everything unreferenced is about to go: make sure the store is this
	// cluster's. The broker checked at start, but two clusters first
	// starting at once on one store can both pass that check (the marker
	// is a plain Put); the later marker wins, and the other cluster's
	// vacuum stops here instead of deleting the winner's objects.
	if err := w.checkMarker(ctx); err != nil {
		return err
	}

	// Sweep. The list is taken after the mark, so an object committed
	// since is either in live or younger than the grace period.
	cutoff := w.cfg.Now().Add(-w.cfg.Grace)
	type victim struct {
		key  string
		size int64
	}
	var victims []victim
	for _, prefix := range []string{intakePrefix, archivePrefix} {
		err := w.cfg.Objects.List(ctx, prefix, func(key string, size int64) bool {
			if _, ok := live[key]; ok || !sluiceKey(key) {
				return true
			}
			born, ok := objectTime(key)
			if ok && born.Before(cutoff) {
				victims = append(victims, victim{key, size})
			}
			return true
		})
		if err != nil {
			return fmt.Errorf("vacuum: list %s: %w", prefix, err)
		}
	}
	for i, v := range victims {
		if err := w.cfg.Objects.Delete(ctx, v.key); err != nil {
			return fmt.Errorf("vacuum: delete %s: %w", v.key, err)
		}
		w.stats.deleted.Add(1)
		w.stats.deletedBytes.Add(v.size)
		if i == 0 {
			w.failpoint(FailMidVacuum)
		}
	}
	if len(victims) > 0 {
		w.log.Debug("vacuum deleted objects", "objects", len(victims))
	}
	return nil
}

// checkMarker fails unless the object store's cluster marker names
// cfg.ClusterID (no check when that is unset).
func (w *Worker) checkMarker(ctx context.Context) error {
	if w.cfg.ClusterID == "" {
		return nil
	}
	m, found, err := objstore.ReadMarker(ctx, w.cfg.Objects)
	switch {
	case err != nil:
		return fmt.Errorf("vacuum: reading the cluster marker: %w", err)
	case !found:
		return fmt.Errorf("vacuum: the object store has no cluster marker %s: not deleting anything", objstore.MarkerKey)
	case m.ClusterID != w.cfg.ClusterID:
		return fmt.Errorf("vacuum: the object store's cluster marker names cluster %s, not this one (%s): not deleting anything", m.ClusterID, w.cfg.ClusterID)
	}
	return nil
}
