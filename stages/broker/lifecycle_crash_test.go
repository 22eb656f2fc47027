package broker_test

import (
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/sluicedata/sluice/codec"
	"github.com/sluicedata/sluice/sinks/objstore"
	"github.com/sluicedata/sluice/stages/lifecycle"
)

// TestKillDuringArchiveAndVacuum runs the broker binary with a failpoint
// that SIGKILLs it in the middle of its first archive (segments and
// catalog uploaded, metadata not swapped), restarts it with a failpoint
// that kills it in the middle of its first vacuum sweep (one object
// deleted), and restarts it again without one. An idempotent producer
// writes throughout. Then every acknowledged record reads back exactly
// once, the archive completed (no intake object left), and the objects
// the crashes orphaned are gone.
func TestKillDuringArchiveAndVacuum(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the broker binary")
	}
	bin, err := buildSluice()
	if err != nil {
		t.Fatal(err)
	}
	addr, dir := freePort(t), t.TempDir()
	flags := []string{"--lifecycle-interval", "300ms", "--archive-bytes", "32768", "--archive-age", "2s",
		"--segment-bytes", "65536", "--vacuum-grace", "4s"}
	start := func(failpoint string) *exec.Cmd {
		var env []string
		if failpoint != "" {
			env = []string{"SLUICE_TEST_FAILPOINT=" + failpoint}
		}
		return startProcess(t, bin, addr, dir, env, flags...)
	}
	// waitKilled waits for the failpoint to kill proc.
	waitKilled := func(proc *exec.Cmd, failpoint string) {
		exited := make(chan error, 1)
		go func() { exited <- proc.Wait() }()
		select {
		case err := <-exited:
			if err == nil || !strings.Contains(err.Error(), "killed") {
				t.Errorf("broker exited with %v, want killed at %s", err, failpoint)
			}
		case <-time.After(90 * time.Second):
			t.Fatalf("failpoint %s never reached", failpoint)
		}
	}

	proc := start(lifecycle.FailAfterSegments)
	cl := newClient(t, addr, kgo.DefaultProduceTopic("lc-crash"), kgo.AllowAutoTopicCreation(), kgo.ProducerLinger(5*time.Millisecond),
		kgo.RetryBackoffFn(func(int) time.Duration { return 100 * time.Millisecond }))
	ctx, cancel := context.WithTimeout(context.Background(), 180*time.Second)
	defer cancel()

	var (
		mu    sync.Mutex
		acked = map[int]bool{}
		wg    sync.WaitGroup
	)
	produceN := func(from, to int) {
		for i := from; i < to; i++ {
			wg.Add(1)
			v := fmt.Sprintf("v%d-%s", i, strings.Repeat("p", 300))
			cl.Produce(ctx, &kgo.Record{Key: []byte(strconv.Itoa(i)), Value: []byte(v)}, func(r *kgo.Record, err error) {
				defer wg.Done()
				if err != nil {
					t.Errorf("produce %s: %v", r.Key, err)
					return
				}
				i, _ := strconv.Atoi(string(r.Key))
				mu.Lock()
				acked[i] = true
				mu.Unlock()
			})
			if i%200 == 0 {
				time.Sleep(20 * time.Millisecond) // spread over several passes
			}
		}
	}
	// Enough for several archives per partition; the first archive pass
	// that finds 32 KiB kills the broker, the restart carries on.
	produceN(0, 1500)
	waitKilled(proc, lifecycle.FailAfterSegments)
	proc = start(lifecycle.FailMidVacuum)
	produceN(1500, 3000)
	waitKilled(proc, lifecycle.FailMidVacuum)
	start("")
	produceN(3000, 4000)
	wg.Wait()
	if t.Failed() {
		return
	}

	// Wait for the lifecycle to finish: every intake object archived and
	// vacuumed, the orphans of the first crash deleted.
	objs, err := objstore.Open(context.Background(), "file://"+dir+"/objects")
	if err != nil {
		t.Fatal(err)
	}
	defer objs.Close()
	var intake, cats, segs []string
	deadline := time.Now().Add(60 * time.Second)
	for {
		intake, cats, segs = nil, nil, nil
		_ = objs.List(ctx, "", func(k string, _ int64) bool {
			switch {
			case strings.HasPrefix(k, "intake/"):
				intake = append(intake, k)
			case strings.HasSuffix(k, ".cat"):
				cats = append(cats, k)
			case strings.HasSuffix(k, ".seg"):
				segs = append(segs, k)
			}
			return true
		})
		if len(intake) == 0 && len(cats) == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("lifecycle did not finish: %d intake objects, %d catalogs left", len(intake), len(cats))
		}
		time.Sleep(500 * time.Millisecond)
	}
	// Every segment left is listed by a catalog: the orphans are gone.
	listed := map[string]bool{}
	for _, k := range cats {
		data, err := objs.GetRange(ctx, k, 0, -1)
		if err != nil {
			t.Fatal(err)
		}
		cat, err := codec.DecodeCatalog(data)
		if err != nil {
			t.Fatalf("catalog %s: %v", k, err)
		}
		for _, s := range cat.Segments {
			listed[s.Key] = true
		}
	}
	for _, k := range segs {
		if !listed[k] {
			t.Errorf("segment %s is listed by no catalog: an orphan left behind", k)
		}
	}
	if len(listed) != len(segs) {
		t.Errorf("catalogs list %d segments, %d exist", len(listed), len(segs))
	}

	recs := consumeAll(t, addr, "lc-crash", len(acked))
	seen := map[int]bool{}
	for _, r := range recs {
		i, _ := strconv.Atoi(string(r.Key))
		if seen[i] {
			t.Fatalf("record %d read twice", i)
		}
		seen[i] = true
		if want := fmt.Sprintf("v%d-", i); !strings.HasPrefix(string(r.Value), want) {
			t.Fatalf("record %d: value %.20q", i, r.Value)
		}
	}
	for i := range acked {
		if !seen[i] {
			t.Fatalf("acknowledged record %d lost", i)
		}
	}
	t.Logf("%d records, %d segments in %d catalogs", len(recs), len(segs), len(cats))
}
