package objstore_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/sluicedata/sluice/sinks/objstore"
	"github.com/sluicedata/sluice/sinks/objstore/faulty"
	"github.com/sluicedata/sluice/sinks/objstore/filestore"
)

func TestMarkerRoundTrip(t *testing.T) {
	ctx := context.Background()
	s, err := filestore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if _, found, err := objstore.ReadMarker(ctx, s); found || err != nil {
		t.Fatalf("empty store: found %v, %v", found, err)
	}
	want := objstore.Marker{ClusterID: "c-1", CreatedAt: time.Date(2026, 12, 4, 21, 0, 0, 123, time.FixedZone("x", 3600)),
		Metadata: "embedded:/data", Writer: "sluice test"}
	if err := objstore.WriteMarker(ctx, s, want); err != nil {
		t.Fatal(err)
	}
	got, found, err := objstore.ReadMarker(ctx, s)
	if err != nil || !found {
		t.Fatalf("found %v, %v", found, err)
	}
	if got.Format != objstore.MarkerFormat || got.ClusterID != want.ClusterID || !got.CreatedAt.Equal(want.CreatedAt) ||
		got.CreatedAt.Location() != time.UTC || got.Metadata != want.Metadata || got.Writer != want.Writer {
		t.Fatalf("read %+v, wrote %+v", got, want)
	}
	// Rewriting is allowed (brokers starting at once each write it).
	want.ClusterID = "c-2"
	if err := objstore.WriteMarker(ctx, s, want); err != nil {
		t.Fatal(err)
	}
	if got, _, _ := objstore.ReadMarker(ctx, s); got.ClusterID != "c-2" {
		t.Fatalf("rewritten marker reads %+v", got)
	}
}

// A read failure is an error, not "no marker": only ErrNotFound is that.
func TestReadMarkerFailure(t *testing.T) {
	s, err := filestore.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := faulty.New(s, faulty.Config{Get: faulty.Rule{Count: 1}})
	defer f.Close()
	if _, found, err := objstore.ReadMarker(context.Background(), f); err == nil || found {
		t.Fatalf("failed read: found %v, err %v", found, err)
	}
}

func TestDecodeMarkerRefuses(t *testing.T) {
	for name, data := range map[string]string{
		"empty":       "",
		"not json":    "hello",
		"no id":       `{"format":1}`,
		"no format":   `{"cluster_id":"x"}`,
		"newer":       `{"format":2,"cluster_id":"x"}`,
		"trailing":    `{"format":1,"cluster_id":"x"} {}`,
		"wrong types": `{"format":"1","cluster_id":"x"}`,
		"huge":        `{"format":1,"cluster_id":"x","writer":"` + strings.Repeat("a", 70<<10) + `"}`,
	} {
		if m, err := objstore.DecodeMarker([]byte(data)); err == nil {
			t.Errorf("%s: decoded %+v", name, m)
		}
	}
	if m, err := objstore.DecodeMarker([]byte(`{"format":1,"cluster_id":"x","later":"field"}`)); err != nil || m.ClusterID != "x" {
		t.Errorf("unknown field: %+v, %v", m, err)
	}
}

// FuzzDecodeMarker: any bytes at the marker key give a marker or an
// error, never a panic; a decoded marker encodes and decodes to itself.
func FuzzDecodeMarker(f *testing.F) {
	seed, err := objstore.EncodeMarker(objstore.Marker{ClusterID: "6f1c", CreatedAt: time.Unix(1_800_000_000, 5), Metadata: "spanner://p", Writer: "sluice dev"})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(seed)
	f.Add([]byte(`{"format":1,"cluster_id":"x","created_at":"0000-01-01T00:00:00+01:00"}`))
	f.Add([]byte(`{"format":1,"cluster_id":"x"}`))
	f.Add([]byte(`{"format":2}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := objstore.DecodeMarker(data)
		if err != nil {
			return
		}
		if m.ClusterID == "" || m.Format != objstore.MarkerFormat {
			t.Fatalf("decoded an invalid marker: %+v", m)
		}
		data, err = objstore.EncodeMarker(m)
		if err != nil {
			return // a time JSON cannot carry once in UTC: WriteMarker reports it
		}
		m2, err := objstore.DecodeMarker(data)
		if err != nil || m2.ClusterID != m.ClusterID || !m2.CreatedAt.Equal(m.CreatedAt) || m2.Metadata != m.Metadata || m2.Writer != m.Writer {
			t.Fatalf("re-encoded %+v reads %+v, %v", m, m2, err)
		}
	})
}
