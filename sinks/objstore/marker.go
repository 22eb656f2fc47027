package objstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// The cluster marker ties an object store to the one cluster whose
// metadata store refers to its objects. The metadata store names objects
// by key; nothing in a key says which store it is in, so a broker started
// with another --objects than last time (mem:// instead of the local
// directory, another bucket or prefix) would otherwise start and then
// fail every read with "object not found". The broker writes the marker on
// the first start of a cluster and checks it on every start
// (stages/broker/marker.go) and in /readyz.
//
// The marker is one small JSON object at MarkerKey, at the root of the
// store (under its prefix= for the cloud stores, so clusters sharing a
// bucket under different prefixes have one each):
//
//	{
//	  "format": 1,                                   // MarkerFormat; a reader refuses a higher one
//	  "cluster_id": "6f1c…",                         // the metadata store's ClusterID
//	  "created_at": "2026-12-04T21:16:13.123456Z",   // when it was written (UTC)
//	  "metadata": "spanner://projects/p/…",          // the metadata store then, for error messages (secrets redacted)
//	  "writer": "sluice dev"                         // the program and version that wrote it
//	}
//
// Only format and cluster_id are checked; unknown fields are ignored, so a
// later format 1 may add fields. The key is outside the intake/ and
// archive/ prefixes and has no creation time in its name, so the vacuum
// (stages/lifecycle/vacuum.go) never takes it for one of its objects.

// MarkerKey is where the cluster marker lives in an object store.
const MarkerKey = "sluice-cluster.json"

// MarkerFormat is the marker format this version writes and reads.
const MarkerFormat = 1

// maxMarkerBytes bounds what ReadMarker reads: a real marker is a few
// hundred bytes, and a huge object at the key is not one.
const maxMarkerBytes = 64 << 10

// Marker is the content of the cluster marker object.
type Marker struct {
	Format    int       `json:"format"`
	ClusterID string    `json:"cluster_id"`
	CreatedAt time.Time `json:"created_at"`
	// Metadata describes the metadata store the marker was written with
	// (URL with secrets redacted), for messages only.
	Metadata string `json:"metadata,omitempty"`
	// Writer names the program that wrote the marker ("sluice dev").
	Writer string `json:"writer,omitempty"`
}

// EncodeMarker returns m as the marker object's bytes, with Format set to
// MarkerFormat and CreatedAt in UTC. It fails only for a CreatedAt that
// JSON cannot carry (a year outside 0-9999).
func EncodeMarker(m Marker) ([]byte, error) {
	m.Format = MarkerFormat
	m.CreatedAt = m.CreatedAt.UTC()
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("objstore: encode marker: %w", err)
	}
	return append(b, '\n'), nil
}

// DecodeMarker parses a marker object. It refuses anything that is not a
// marker this version understands: not JSON, no cluster id, or a format
// other than MarkerFormat.
func DecodeMarker(data []byte) (Marker, error) {
	var m Marker
	if len(data) > maxMarkerBytes {
		return m, fmt.Errorf("objstore: marker %s: %d bytes, more than a marker's %d", MarkerKey, len(data), maxMarkerBytes)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return Marker{}, fmt.Errorf("objstore: marker %s: not a Sluice cluster marker: %w", MarkerKey, err)
	}
	switch {
	case m.Format > MarkerFormat:
		return Marker{}, fmt.Errorf("objstore: marker %s: format %d, written by a newer Sluice (this one reads format %d)", MarkerKey, m.Format, MarkerFormat)
	case m.Format != MarkerFormat:
		return Marker{}, fmt.Errorf("objstore: marker %s: format %d, want %d", MarkerKey, m.Format, MarkerFormat)
	case m.ClusterID == "":
		return Marker{}, fmt.Errorf("objstore: marker %s: no cluster_id", MarkerKey)
	}
	return m, nil
}

// ReadMarker reads the store's cluster marker. found is false, with a nil
// error, when the store has none.
func ReadMarker(ctx context.Context, s Store) (m Marker, found bool, err error) {
	data, err := s.GetRange(ctx, MarkerKey, 0, maxMarkerBytes+1)
	if errors.Is(err, ErrNotFound) {
		return Marker{}, false, nil
	}
	if err != nil {
		return Marker{}, false, err
	}
	m, err = DecodeMarker(data)
	return m, err == nil, err
}

// WriteMarker writes m as the store's cluster marker, replacing any.
func WriteMarker(ctx context.Context, s Store, m Marker) error {
	data, err := EncodeMarker(m)
	if err != nil {
		return err
	}
	return s.Put(ctx, MarkerKey, data)
}
