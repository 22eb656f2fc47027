package broker_test

import (
	"context"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/sinks/meta/memmeta"
	"github.com/sluicedata/sluice/sinks/meta/spannermeta/spanneremu"
	"github.com/sluicedata/sluice/sinks/objstore"
	"github.com/sluicedata/sluice/sinks/objstore/faulty"
	"github.com/sluicedata/sluice/stages/broker"
)

// The tests of the cluster marker (marker.go): a broker refuses to start
// on stores that do not belong together, and /readyz watches both.

// firstCluster starts a broker on the embedded stores under dir, produces
// n records to topic "marked" and stops it. It returns what was produced
// and the cluster id.
func firstCluster(t *testing.T, dir string, n int) (map[int32][]int, string) {
	t.Helper()
	b := startBroker(t, func(c *broker.Config) { c.DataDir = dir })
	createTopic(t, b.Addr(), "marked", 2, nil)
	cl := newClient(t, b.Addr())
	got := produceAll(t, cl, "marked", n)
	id, err := b.Meta().ClusterID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	cl.Close()
	b.Close()
	return got, id
}

// wantRefused checks that a start failed, naming both stores.
func wantRefused(t *testing.T, b *broker.Broker, err error, names ...string) {
	t.Helper()
	if err == nil {
		b.Close()
		t.Fatal("broker started on stores that do not belong together")
	}
	for _, n := range names {
		if !strings.Contains(err.Error(), n) {
			t.Errorf("error does not name %q: %v", n, err)
		}
	}
	t.Logf("refused as expected: %v", err)
}

func readMarker(t *testing.T, s objstore.Store) objstore.Marker {
	t.Helper()
	m, found, err := objstore.ReadMarker(context.Background(), s)
	if err != nil || !found {
		t.Fatalf("marker: found %v, %v", found, err)
	}
	return m
}

func openFileStore(t *testing.T, dir string) objstore.Store {
	t.Helper()
	s, err := objstore.Open(context.Background(), "file://"+dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// A fresh pair of stores gets a marker naming the metadata store's
// cluster; a restart on the same stores finds it and keeps it.
func TestMarkerWrittenOnFirstStart(t *testing.T) {
	dir := t.TempDir()
	produced, id := firstCluster(t, dir, 200)
	objs := openFileStore(t, filepath.Join(dir, "objects"))
	m := readMarker(t, objs)
	if m.ClusterID != id || m.Format != objstore.MarkerFormat || m.CreatedAt.IsZero() || !strings.Contains(m.Metadata, dir) {
		t.Fatalf("marker %+v, want cluster %s, format %d, a creation time and the metadata store", m, id, objstore.MarkerFormat)
	}
	b := startBroker(t, func(c *broker.Config) { c.DataDir = dir })
	checkConsumed(t, b.Addr(), "marked", produced, 200)
	if m2 := readMarker(t, objs); m2 != m {
		t.Fatalf("restart rewrote the marker: %+v, was %+v", m2, m)
	}
}

// The case: the same data dir (so the same embedded metadata
// store) restarted with mem:// objects.
func TestMarkerRefusesMemObjectsAfterFileObjects(t *testing.T) {
	dir := t.TempDir()
	firstCluster(t, dir, 50)
	b, err := tryStartBroker(t, func(c *broker.Config) { c.DataDir, c.Objects = dir, "mem://" })
	wantRefused(t, b, err, "mem://", "embedded:"+dir)
}

// The same data dir restarted with another, empty, object directory.
func TestMarkerRefusesAnotherFileDir(t *testing.T) {
	dir, other := t.TempDir(), t.TempDir()
	firstCluster(t, dir, 50)
	b, err := tryStartBroker(t, func(c *broker.Config) { c.DataDir, c.Objects = dir, "file://"+other })
	wantRefused(t, b, err, "file://"+other, "embedded:"+dir)
	if _, found, err := objstore.ReadMarker(context.Background(), openFileStore(t, other)); found || err != nil {
		t.Fatalf("a refused start wrote a marker (found %v, %v)", found, err)
	}
}

// A second cluster's (fresh) metadata store with the first's objects:
// refused by the marker; and, were the marker gone (objects of a Sluice
// from before markers), by the objects its vacuum would delete.
func TestMarkerRefusesAnotherClustersMetadata(t *testing.T) {
	dir := t.TempDir()
	produced, _ := firstCluster(t, dir, 50)
	objDir := filepath.Join(dir, "objects")
	second := t.TempDir()
	b, err := tryStartBroker(t, func(c *broker.Config) { c.DataDir, c.Objects = second, "file://"+objDir })
	wantRefused(t, b, err, "file://"+objDir, "embedded:"+second, "names cluster")

	objs := openFileStore(t, objDir)
	if err := objs.Delete(context.Background(), objstore.MarkerKey); err != nil {
		t.Fatal(err)
	}
	b, err = tryStartBroker(t, func(c *broker.Config) { c.DataDir, c.Objects = second, "file://"+objDir })
	wantRefused(t, b, err, "file://"+objDir, "embedded:"+second, "intake/")
	if _, found, _ := objstore.ReadMarker(context.Background(), objs); found {
		t.Fatal("a refused start wrote a marker")
	}

	// The first cluster's own metadata still takes its store back (the
	// upgrade path: its objects are there, so the marker is rewritten).
	b = startBroker(t, func(c *broker.Config) { c.DataDir = dir })
	checkConsumed(t, b.Addr(), "marked", produced, 50)
	if m := readMarker(t, objs); m.ClusterID == "" {
		t.Fatal("no marker after the upgrade start")
	}
}

// Data from before markers: the metadata refers to objects, the store
// holds them and no marker. The first start writes the marker and serves
// the data; a store without those objects is still refused.
func TestMarkerUpgradeWritesMarkerWhenObjectsPresent(t *testing.T) {
	dir := t.TempDir()
	produced, id := firstCluster(t, dir, 100)
	objs := openFileStore(t, filepath.Join(dir, "objects"))
	if err := objs.Delete(context.Background(), objstore.MarkerKey); err != nil {
		t.Fatal(err)
	}
	b := startBroker(t, func(c *broker.Config) { c.DataDir = dir })
	if m := readMarker(t, objs); m.ClusterID != id {
		t.Fatalf("upgrade marker names cluster %s, want %s", m.ClusterID, id)
	}
	checkConsumed(t, b.Addr(), "marked", produced, 100)
}

// Brokers starting at the same moment on fresh shared stores agree: all
// start, and the store ends with one marker naming the metadata store's
// cluster. The store's latency widens the window in which every broker
// has found no marker and is about to write one.
func TestMarkerConcurrentFirstStart(t *testing.T) {
	for round := range 3 {
		ms := memmeta.New()
		t.Cleanup(func() { ms.Close() })
		mem, err := objstore.Open(context.Background(), "mem://")
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { mem.Close() })
		objs := faulty.New(mem, faulty.Config{Latency: 20 * time.Millisecond, Jitter: 20 * time.Millisecond})
		const brokers = 3
		var wg sync.WaitGroup
		errs := make([]error, brokers)
		for i := range brokers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = tryStartBroker(t, func(c *broker.Config) { c.MetaStore, c.ObjectStore = ms, objs })
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("round %d: broker %d: %v", round, i, err)
			}
		}
		keys := listKeys(t, mem, "")
		if len(keys) != 1 || keys[0] != objstore.MarkerKey {
			t.Fatalf("round %d: object store holds %q, want one marker", round, keys)
		}
		id, err := ms.ClusterID(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if m := readMarker(t, mem); m.ClusterID != id {
			t.Fatalf("round %d: marker names %s, metadata store %s", round, m.ClusterID, id)
		}
	}
}

// The vacuum deletes every object nothing refers to, but never the
// marker: after a deleted topic's objects are swept, the marker is there
// and the broker restarts on the stores. And it deletes nothing while the
// marker names another cluster (two clusters that first started at once
// on one store: the later marker won).
func TestMarkerSurvivesVacuum(t *testing.T) {
	dir := t.TempDir()
	b := startBroker(t, func(c *broker.Config) { lifecycleConfig(c); c.DataDir = dir })
	createTopic(t, b.Addr(), "doomed", 1, nil)
	cl := newClient(t, b.Addr())
	produceAll(t, cl, "doomed", 100)
	cl.Close()
	if len(listKeys(t, b.Objects(), "intake/")) == 0 {
		t.Fatal("no intake objects written")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(newClient(t, b.Addr())).DeleteTopics(ctx, "doomed"); err != nil {
		t.Fatal(err)
	}

	own := readMarker(t, b.Objects())
	other := own
	other.ClusterID = "another-cluster"
	if err := objstore.WriteMarker(ctx, b.Objects(), other); err != nil {
		t.Fatal(err)
	}
	time.Sleep(lifecycleGrace + 500*time.Millisecond)
	if err := b.RunLifecycle(ctx); err == nil || !strings.Contains(err.Error(), "another-cluster") {
		t.Fatalf("lifecycle pass on another cluster's store: %v, want the vacuum to refuse", err)
	}
	if len(listKeys(t, b.Objects(), "intake/")) == 0 {
		t.Fatal("the vacuum deleted objects of a store whose marker names another cluster")
	}
	if err := objstore.WriteMarker(ctx, b.Objects(), own); err != nil {
		t.Fatal(err)
	}
	runPass(t, b)
	if keys := listKeys(t, b.Objects(), ""); len(keys) != 1 || keys[0] != objstore.MarkerKey {
		t.Fatalf("after the vacuum the store holds %q, want only the marker", keys)
	}
	b.Close()
	startBroker(t, func(c *broker.Config) { lifecycleConfig(c); c.DataDir = dir })
}

// /readyz is 200 while both stores answer, 503 naming the object store
// while it fails, 200 again once it recovers; /healthz stays 200
// throughout. Probes within a second share one check.
func TestReadyzChecksObjectStore(t *testing.T) {
	mem, err := objstore.Open(context.Background(), "mem://")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mem.Close() })
	objs := faulty.New(mem, faulty.Config{})
	b := startBroker(t, func(c *broker.Config) { c.ObjectStore, c.AdminAddr = objs, "127.0.0.1:0" })
	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + b.AdminAddr() + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if code, body := get("/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz on healthy stores: %d %s", code, body)
	}

	// A probe storm: within the cache's second, one object store call.
	before, start := objs.Stats().Gets, time.Now()
	for range 50 {
		get("/readyz")
	}
	// One check a second at most, and the one before the storm may have
	// been cached just under a second ago.
	allowed := int64(time.Since(start)/time.Second) + 2
	if n := objs.Stats().Gets - before; n > allowed {
		t.Fatalf("50 probes in %v made %d object store reads, want at most %d (cached for a second)", time.Since(start), n, allowed)
	}

	objs.Set(faulty.Config{Get: faulty.Rule{Prob: 1, Err: objstore.Permanent(faulty.ErrInjected)}})
	var body string
	waitFor(t, "/readyz 503", 10*time.Second, func() bool {
		var code int
		code, body = get("/readyz")
		return code == http.StatusServiceUnavailable
	})
	if !strings.Contains(body, "object store") || !strings.Contains(body, "injected") {
		t.Fatalf("/readyz body does not say the object store failed: %q", body)
	}
	if code, _ := get("/healthz"); code != http.StatusOK {
		t.Fatalf("/healthz %d while the object store fails: liveness must not depend on it", code)
	}

	objs.Set(faulty.Config{})
	waitFor(t, "/readyz 200 again", 10*time.Second, func() bool {
		code, _ := get("/readyz")
		return code == http.StatusOK
	})

	// A store that lost its marker is not ready either.
	if err := mem.Delete(context.Background(), objstore.MarkerKey); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "/readyz 503 without the marker", 10*time.Second, func() bool {
		code, body := get("/readyz")
		return code == http.StatusServiceUnavailable && strings.Contains(body, "marker")
	})
}

// The same on Cloud Spanner (the emulator) and one object directory,
// each broker opening its own clients as separate processes would: the
// cluster id comes from Spanner's transaction, and both brokers write the
// same marker.
func TestMarkerConcurrentFirstStartSpanner(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the Spanner emulator")
	}
	url := spanneremu.NewDatabase(t)
	ms, err := meta.Open(context.Background(), url+"?auto_migrate=true", "")
	if err != nil {
		t.Fatal(err)
	}
	ms.Close() // schema applied; no cluster id yet
	objDir := t.TempDir()
	const brokers = 2
	var wg sync.WaitGroup
	bs, errs := make([]*broker.Broker, brokers), make([]error, brokers)
	for i := range brokers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bs[i], errs[i] = tryStartBroker(t, func(c *broker.Config) { c.Metadata, c.Objects = url, "file://"+objDir })
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("broker %d: %v", i, err)
		}
	}
	objs := openFileStore(t, objDir)
	if keys := listKeys(t, objs, ""); len(keys) != 1 || keys[0] != objstore.MarkerKey {
		t.Fatalf("object store holds %q, want one marker", keys)
	}
	id, err := bs[0].Meta().ClusterID(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if m := readMarker(t, objs); m.ClusterID != id || !strings.Contains(m.Metadata, url) {
		t.Fatalf("marker %+v, want cluster %s and metadata store %s", m, id, url)
	}
}
