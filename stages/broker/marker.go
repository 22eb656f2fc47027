package broker

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/sinks/objstore"
	"github.com/sluicedata/sluice/stages/lifecycle"
)

// The stores belong together: the metadata store names objects by key
// only, so a broker whose object store is not the one those objects went
// to (another --objects after a restart: mem:// instead of the local
// directory, another bucket or prefix) would start "ready" and then fail
// every read. The cluster marker (objstore.MarkerKey, format in
// sinks/objstore/marker.go) records in the object store the cluster id
// its metadata store holds. At every start checkStores compares them:
//
//	marker                    metadata store                 result
//	cluster id = ours         anything                       start
//	cluster id ≠ ours         anything                       refuse
//	none                      names no object                write the marker, start
//	                          (but the object store holds    refuse: another cluster's objects,
//	                          Sluice objects)                which our vacuum would delete
//	none                      names objects, one of the      upgrade: an older Sluice wrote no
//	                          first few is in the store      marker; write it, start
//	none                      names objects, none of the     refuse: the wrong object store
//	                          first few is in the store
//
// The cluster id is decided by the metadata store's transaction
// (ClusterID), so brokers starting at once on fresh stores all get the
// same id and write the same marker: whichever Put lands last, it names
// that id. After writing, the broker reads the marker back and refuses to
// start if it names another cluster (a broker of another metadata store
// wrote at the same moment). The Put is not conditional, so two clusters
// first starting at once on one store can still both start; the later
// marker wins, the other cluster's /readyz turns 503 (ready.go) and its
// vacuum deletes nothing (lifecycle.Config.ClusterID).
//
// Upgrade: data written by a Sluice without markers has none. Its first
// start with this version writes the marker only if an object the
// metadata refers to is actually in the object store, read at its
// recorded size: keys carry a random part, so a store holding one is the
// right store. An older cluster whose metadata names no objects (every
// topic deleted or empty) while its store still holds objects cannot be
// told from a foreign store; it is refused, and the message says so (the
// objects are garbage to this metadata store: remove them, or point
// --objects elsewhere).
//
// During a rolling upgrade the older brokers ignore the marker, and their
// vacuum, which only lists intake/ and archive/, leaves it alone.
//
// No flag in the metadata store records that a marker was written: the
// table above needs none, and a deleted marker is then rewritten only
// where the metadata's objects are found.

// markerProbes is how many objects the metadata refers to are looked for
// when the marker is missing: one found is enough; several guard against
// one deleted by retention between reading the index and reading it.
const markerProbes = 4

// checkStores is the start check above. clusterID is the metadata
// store's.
func (b *Broker) checkStores(ctx context.Context, clusterID string) error {
	objs, md := objectsName(b.cfg), metaName(b.cfg)
	mismatch := func(format string, args ...any) error {
		return fmt.Errorf("object store %s and metadata store %s do not belong together: %s", objs, md, fmt.Sprintf(format, args...))
	}
	m, found, err := objstore.ReadMarker(ctx, b.objects)
	if err != nil {
		return fmt.Errorf("object store %s: reading the cluster marker: %w (metadata store %s, cluster %s)", objs, err, md, clusterID)
	}
	if found {
		if m.ClusterID != clusterID {
			return mismatch("the object store's marker %s names cluster %s (written %s with metadata store %s), the metadata store holds cluster %s",
				objstore.MarkerKey, m.ClusterID, m.CreatedAt.Format(time.RFC3339), orUnknown(m.Metadata), clusterID)
		}
		return nil
	}

	refs, err := referencedObjects(ctx, b.meta, markerProbes)
	if err != nil {
		return fmt.Errorf("metadata store %s: looking for objects it refers to: %w", md, err)
	}
	if len(refs) > 0 {
		present := ""
		for _, e := range refs {
			if ok, err := holds(ctx, b.objects, e); err != nil {
				return fmt.Errorf("object store %s: looking for %s: %w", objs, e.ObjectKey, err)
			} else if ok {
				present = e.ObjectKey
				break
			}
		}
		if present == "" {
			return mismatch("the object store has no cluster marker and lacks the objects the metadata store (cluster %s) refers to, e.g. %s: is --objects the store this cluster was started with?",
				clusterID, refs[0].ObjectKey)
		}
		b.log.Info("object store has no cluster marker but holds this cluster's objects (data from before markers): writing it",
			"objects", objs, "metadata", md, "cluster", clusterID, "found", present)
	} else {
		key, ok, err := lifecycle.FirstObject(ctx, b.objects)
		if err != nil {
			return fmt.Errorf("object store %s: listing: %w", objs, err)
		}
		if ok {
			// A broker of this cluster writes the marker before it takes a
			// produce, so if that is where the object comes from, the
			// marker is there by now.
			if m, found, err := objstore.ReadMarker(ctx, b.objects); err == nil && found && m.ClusterID == clusterID {
				return nil
			}
			return mismatch("the object store has no cluster marker and holds Sluice objects (e.g. %s) that the metadata store (cluster %s) does not refer to: another cluster's data, or garbage of an older Sluice, which this cluster's vacuum would delete. Point --objects at this cluster's store, or remove those objects",
				key, clusterID)
		}
	}

	want := objstore.Marker{ClusterID: clusterID, CreatedAt: time.Now(), Metadata: md, Writer: "sluice " + b.cfg.Version}
	if err := objstore.WriteMarker(ctx, b.objects, want); err != nil {
		return fmt.Errorf("object store %s: writing the cluster marker: %w", objs, err)
	}
	got, found, err := objstore.ReadMarker(ctx, b.objects)
	switch {
	case err != nil:
		return fmt.Errorf("object store %s: reading back the cluster marker: %w", objs, err)
	case !found:
		return fmt.Errorf("object store %s: the cluster marker just written is not there", objs)
	case got.ClusterID != clusterID:
		return mismatch("another cluster (%s, metadata store %s) wrote its marker at the same time", got.ClusterID, orUnknown(got.Metadata))
	}
	b.log.Info("wrote the cluster marker", "objects", objs, "key", objstore.MarkerKey, "cluster", clusterID)
	return nil
}

// referencedObjects returns index entries of up to n distinct objects the
// metadata store refers to (intake objects, segment catalogs), at most one
// per partition, from the first partitions that have any.
func referencedObjects(ctx context.Context, ms meta.Store, n int) ([]meta.IndexEntry, error) {
	topics, err := ms.Topics(ctx)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	var out []meta.IndexEntry
	for _, t := range topics {
		for p := int32(0); p < t.Partitions && len(out) < n; p++ {
			es, err := ms.Entries(ctx, meta.TP{Topic: t.ID, Partition: p}, 0, 1)
			if errors.Is(err, meta.ErrUnknownTopicOrPartition) {
				break // deleted meanwhile
			}
			if err != nil {
				return nil, err
			}
			if len(es) > 0 && !seen[es[0].ObjectKey] {
				seen[es[0].ObjectKey] = true
				out = append(out, es[0])
			}
		}
	}
	return out, nil
}

// holds reports whether the object store has e's object at its recorded
// size (the last byte is there). One ranged read.
func holds(ctx context.Context, s objstore.Store, e meta.IndexEntry) (bool, error) {
	if e.ObjectSize <= 0 {
		_, err := s.GetRange(ctx, e.ObjectKey, 0, 0)
		if errors.Is(err, objstore.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	}
	data, err := s.GetRange(ctx, e.ObjectKey, e.ObjectSize-1, 1)
	if errors.Is(err, objstore.ErrNotFound) {
		return false, nil
	}
	return err == nil && len(data) == 1, err
}

// checkMarker is the object store half of /readyz: the marker is readable
// and names this cluster.
func (b *Broker) checkMarker(ctx context.Context, clusterID string) error {
	m, found, err := objstore.ReadMarker(ctx, b.objects)
	switch {
	case err != nil:
		return err
	case !found:
		return fmt.Errorf("cluster marker %s missing", objstore.MarkerKey)
	case m.ClusterID != clusterID:
		return fmt.Errorf("cluster marker %s names cluster %s, not %s", objstore.MarkerKey, m.ClusterID, clusterID)
	}
	return nil
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

// objectsName describes the object store for messages.
func objectsName(cfg Config) string {
	if cfg.ObjectStore != nil {
		return fmt.Sprintf("(a %T given in the config)", cfg.ObjectStore)
	}
	return redactURL(cfg.Objects)
}

// metaName describes the metadata store for messages.
func metaName(cfg Config) string {
	switch {
	case cfg.MetaStore != nil:
		return fmt.Sprintf("(a %T given in the config)", cfg.MetaStore)
	case cfg.Metadata == "":
		return "embedded:" + cfg.DataDir
	}
	return redactURL(cfg.Metadata)
}

// redactURL hides what may be a secret in a store URL: a password in the
// user info and the values of query parameters whose names suggest one
// (key, secret, token, password, credential, signature).
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	redacted := false
	if u.User != nil {
		if _, ok := u.User.Password(); ok {
			u.User = url.UserPassword(u.User.Username(), "REDACTED")
			redacted = true
		}
	}
	if u.RawQuery != "" {
		q := u.Query()
		for k, vs := range q {
			lk := strings.ToLower(k)
			for _, s := range []string{"key", "secret", "token", "password", "credential", "sig"} {
				if strings.Contains(lk, s) {
					for i := range vs {
						vs[i] = "REDACTED"
					}
					redacted = true
				}
			}
		}
		u.RawQuery = q.Encode()
	}
	if !redacted {
		return raw // as the operator wrote it (String would turn mem:// into mem:)
	}
	return u.String()
}
