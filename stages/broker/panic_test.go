package broker_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/sinks/meta/boltmeta"
	"github.com/sluicedata/sluice/sinks/objstore"
	"github.com/sluicedata/sluice/stages/broker"
)

// panickingObjects and panickingMeta wrap the real embedded stores and
// panic in Put / Commit while panics is set: they stand in for an SDK bug,
// which nothing real produces on demand.
type panickingObjects struct {
	objstore.Store
	panics atomic.Bool
}

func (s *panickingObjects) Put(ctx context.Context, key string, data []byte) error {
	if s.panics.Load() {
		panic("object store SDK bug")
	}
	return s.Store.Put(ctx, key, data)
}

type panickingMeta struct {
	meta.Store
	panics atomic.Bool
}

func (s *panickingMeta) Commit(ctx context.Context, objs []meta.ObjectCommit) ([][]meta.BatchResult, error) {
	if s.panics.Load() {
		panic("metadata store SDK bug")
	}
	return s.Store.Commit(ctx, objs)
}

// TestStagePanicAnswersStorageError: a store panicking under the upload
// or the commit stage fails that produce with the retriable
// KAFKA_STORAGE_ERROR; the broker lives on, serves the next produce, and
// counts the panic in sluice_pipeline_panics_total.
func TestStagePanicAnswersStorageError(t *testing.T) {
	dir := t.TempDir()
	files, err := objstore.Open(context.Background(), "file://"+dir+"/objects")
	if err != nil {
		t.Fatal(err)
	}
	objs := &panickingObjects{Store: files}
	bolt, err := boltmeta.Open(dir + "/meta")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bolt.Close() })
	store := &panickingMeta{Store: bolt}
	b := startBroker(t, func(c *broker.Config) {
		c.ObjectStore, c.MetaStore = objs, store
		c.Metrics = "prometheus"
		c.AdminAddr = "127.0.0.1:0"
	})
	tp, err := b.Meta().CreateTopic(context.Background(), "p", 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	cl := newClient(t, b.Addr())
	now := time.Now().UnixMilli()
	var want int64
	for _, c := range []struct {
		stage  string
		panics *atomic.Bool
	}{{"upload", &objs.panics}, {"commit", &store.panics}} {
		c.panics.Store(true)
		p := produceRaw(t, cl, tp.ID, rawBatch(t, 2, now))
		c.panics.Store(false)
		if p.ErrorCode != kerr.KafkaStorageError.Code {
			t.Fatalf("%s panic: error %d, want KAFKA_STORAGE_ERROR", c.stage, p.ErrorCode)
		}
		p = produceRaw(t, cl, tp.ID, rawBatch(t, 3, now))
		if p.ErrorCode != 0 || p.BaseOffset != want {
			t.Fatalf("after the %s panic: error %d base offset %d, want 0 and %d", c.stage, p.ErrorCode, p.BaseOffset, want)
		}
		want += 3
	}
	resp, err := http.Get("http://" + b.AdminAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, stage := range []string{"upload", "commit"} {
		if !containsLine(string(body), "sluice_pipeline_panics_total{", `stage="`+stage+`"`, "} 1") {
			t.Errorf("/metrics lacks sluice_pipeline_panics_total{stage=%q} 1", stage)
		}
	}
}

// containsLine reports whether one line of text has all the parts.
func containsLine(text string, parts ...string) bool {
	for _, l := range strings.Split(text, "\n") {
		ok := true
		for _, p := range parts {
			ok = ok && strings.Contains(l, p)
		}
		if ok {
			return true
		}
	}
	return false
}
