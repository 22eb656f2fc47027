package metatest

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sluicedata/sluice/sinks/meta"
)

// Environment of a MultiProcess child.
const (
	envChild = "SLUICE_METATEST_CHILD" // the child's number
	envURL   = "SLUICE_METATEST_URL"   // the store URL to open
	envOut   = "SLUICE_METATEST_OUT"   // where to write the child's report
)

// MultiProcessOptions sizes MultiProcess; zero fields take the defaults.
type MultiProcessOptions struct {
	Procs      int // child processes (default 3, like three brokers)
	Goroutines int // committers per child (default 2)
	Rounds     int // commits per committer (default 10)
	Partitions int // partitions of the shared topic (default 2)
}

// InChild reports whether this process is a MultiProcess child. A test
// binary's TestMain can use it to skip setup only the parent needs (such
// as starting a database server: the child is given the parent's URL and
// inherits its environment).
func InChild() bool { return os.Getenv(envChild) != "" }

// childReport is what a child writes for the parent to check.
type childReport struct {
	ProducerIDs []int64 `json:"producer_ids"`
	// Spans are [partition, base offset, records] of every committed batch.
	Spans [][3]int64 `json:"spans"`
	// LastSeq is, per producer id and partition ("pid/part"), the last
	// sequence number the child had accepted.
	LastSeq map[string]int32 `json:"last_seq"`
	// TxnEpochs are the epochs this child's bumps of the shared
	// transactional id committed.
	TxnEpochs []int16 `json:"txn_epochs"`
}

// multiTxnID is the transactional id every committer of every child
// fences once per round, as InitProducerId through several brokers.
const multiTxnID = "multi-txn"

// bumpTxn fences the transactional id once and returns the epoch it
// committed.
func bumpTxn(ctx context.Context, s meta.Store, id string) (int16, error) {
	var wrote int16
	err := s.Transactions().UpdateTxn(ctx, id, func(tx meta.TxnTx) error {
		x, err := tx.Txn()
		if err != nil {
			return err
		}
		if x == nil {
			x = &meta.Txn{TransactionalID: id, ProducerID: 1, LastProducerID: -1, LastProducerEpoch: -1}
		} else {
			x.LastProducerID, x.LastProducerEpoch = x.ProducerID, x.ProducerEpoch
		}
		x.ProducerEpoch++
		wrote = x.ProducerEpoch
		return tx.PutTxn(x)
	})
	return wrote, err
}

// MultiProcess checks that committers in several processes sharing one
// store get disjoint, gap-free offsets, consistent index entries, unique
// producer ids and intact idempotent-producer state, and that their
// concurrent bumps of one transactional id lose none. It is opt-in: only a
// backend that several processes can open at once (a database server;
// not bbolt, which locks its file, nor the in-memory store) calls it.
//
// The test binary re-executes itself: the parent calls newURL for a
// fresh, empty store, creates a topic, and starts Procs copies of the
// binary running only the calling test, with the URL in the environment.
// In those children MultiProcess opens the store with open, commits, and
// writes a report; newURL is not called there. So call MultiProcess at
// the top of a test function and keep any setup the parent alone needs
// inside newURL (or behind InChild in TestMain).
func MultiProcess(t *testing.T, o MultiProcessOptions, newURL func(t *testing.T) string, open func(ctx context.Context, url string) (meta.Store, error)) {
	o.Procs = cmpOr(o.Procs, 3)
	o.Goroutines = cmpOr(o.Goroutines, 2)
	o.Rounds = cmpOr(o.Rounds, 10)
	o.Partitions = cmpOr(o.Partitions, 2)
	if InChild() {
		multiChild(t, o, open)
		return
	}
	url := newURL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s, err := open(ctx, url)
	if err != nil {
		t.Fatalf("open %s: %v", url, err)
	}
	defer s.Close()
	top, err := s.CreateTopic(ctx, "multi", int32(o.Partitions), nil)
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	var (
		wg   sync.WaitGroup
		errs = make([]error, o.Procs)
		outs = make([][]byte, o.Procs)
	)
	for i := range o.Procs {
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run="+runPattern(t.Name()), "-test.count=1", "-test.v")
		cmd.Env = append(os.Environ(),
			envChild+"="+strconv.Itoa(i),
			envURL+"="+url,
			envOut+"="+filepath.Join(dir, fmt.Sprintf("child%d.json", i)),
		)
		wg.Go(func() { outs[i], errs[i] = cmd.CombinedOutput() })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("child %d: %v\n%s", i, err, outs[i])
		}
	}

	spans := map[int32][][2]int64{}
	pids := map[int64]bool{}
	lastSeq := map[string]int32{}
	var txnEpochs []int16
	for i := range o.Procs {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("child%d.json", i)))
		if err != nil {
			t.Fatalf("child %d wrote no report (did it run MultiProcess?): %v\n%s", i, err, outs[i])
		}
		var r childReport
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("child %d report: %v", i, err)
		}
		for _, pid := range r.ProducerIDs {
			if pids[pid] {
				t.Fatalf("producer id %d handed out to two committers", pid)
			}
			pids[pid] = true
		}
		for _, sp := range r.Spans {
			spans[int32(sp[0])] = append(spans[int32(sp[0])], [2]int64{sp[1], sp[2]})
		}
		for k, v := range r.LastSeq {
			lastSeq[k] = v
		}
		txnEpochs = append(txnEpochs, r.TxnEpochs...)
	}
	bumps := o.Procs * o.Goroutines * o.Rounds
	slices.Sort(txnEpochs)
	for i, e := range txnEpochs {
		if len(txnEpochs) != bumps || e != int16(i+1) {
			t.Fatalf("transactional id bumps committed epochs %v, want 1..%d each once", txnEpochs, bumps)
		}
	}
	var final *meta.Txn
	err = s.Transactions().ViewTxn(ctx, multiTxnID, func(tx meta.TxnTx) error {
		final, err = tx.Txn()
		return err
	})
	if err != nil || final == nil || int(final.ProducerEpoch) != bumps || final.Version != uint64(bumps) {
		t.Fatalf("transactional id after %d bumps: %+v (%v)", bumps, final, err)
	}
	if want := o.Procs * o.Goroutines; len(pids) != want {
		t.Fatalf("%d producer ids, want %d", len(pids), want)
	}
	for p := range int32(o.Partitions) {
		tp := tpOf(top, p)
		sp := spans[p]
		slices.SortFunc(sp, func(a, b [2]int64) int { return int(a[0] - b[0]) })
		var next int64
		for _, x := range sp {
			if x[0] != next {
				t.Fatalf("partition %d: batch at %d, expected %d (gap or offsets given twice across processes)", p, x[0], next)
			}
			next += x[1]
		}
		if want := int64(o.Procs * o.Goroutines * o.Rounds * 3); next != want {
			t.Fatalf("partition %d: %d records committed, want %d", p, next, want)
		}
		if got := hwm(t, s, tp); got != next {
			t.Fatalf("partition %d: HWM %d, records %d", p, got, next)
		}
		var end int64
		for _, e := range entries(t, s, tp, 0, 0) {
			if e.BaseOffset != end || e.LastOffset < e.BaseOffset {
				t.Fatalf("partition %d: entry [%d,%d], expected base %d", p, e.BaseOffset, e.LastOffset, end)
			}
			end = e.LastOffset + 1
		}
		if end != next {
			t.Fatalf("partition %d: entries end at %d, HWM %d", p, end, next)
		}
	}
	for k, want := range lastSeq {
		pidS, partS, _ := strings.Cut(k, "/")
		pid, _ := strconv.ParseInt(pidS, 10, 64)
		part, _ := strconv.Atoi(partS)
		st, ok, err := s.ProducerState(ctx, pid, tpOf(top, int32(part)))
		if err != nil || !ok || len(st.Recent) == 0 || st.Recent[len(st.Recent)-1].LastSeq != want {
			t.Fatalf("producer %d partition %d: state %+v ok %v err %v, want last sequence %d", pid, part, st, ok, err, want)
		}
	}
}

// multiChild is one child: Goroutines committers, each an idempotent
// producer of its own (from NextProducerID) that also sends plain
// batches, racing the other children on every partition.
func multiChild(t *testing.T, o MultiProcessOptions, open func(ctx context.Context, url string) (meta.Store, error)) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	s, err := open(ctx, os.Getenv(envURL))
	if err != nil {
		t.Fatalf("child open: %v", err)
	}
	defer s.Close()
	top, err := s.Topic(ctx, "multi")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu  sync.Mutex
		rep = childReport{LastSeq: map[string]int32{}}
		wg  sync.WaitGroup
	)
	for range o.Goroutines {
		wg.Go(func() {
			pid, err := s.NextProducerID(ctx)
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			rep.ProducerIDs = append(rep.ProducerIDs, pid)
			mu.Unlock()
			seq := map[int32]int32{}
			for r := range o.Rounds {
				var bs []meta.BatchCommit
				for p := range int32(o.Partitions) {
					bs = append(bs, idem(tpOf(top, p), 2, pid, 0, seq[p]), plain(tpOf(top, p), 1, int64(r)))
					seq[p] += 2
				}
				obj := object(fmt.Sprintf("child%s-%d-%d", os.Getenv(envChild), pid, r), bs...)
				res, err := s.Commit(ctx, []meta.ObjectCommit{obj})
				if err != nil {
					t.Error(err)
					return
				}
				epoch, err := bumpTxn(ctx, s, multiTxnID)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				rep.TxnEpochs = append(rep.TxnEpochs, epoch)
				for j, b := range obj.Batches {
					br := res[0][j]
					if br.Err != nil || br.Duplicate {
						t.Errorf("producer %d round %d batch %d: %+v", pid, r, j, br)
						continue
					}
					rep.Spans = append(rep.Spans, [3]int64{int64(b.TP.Partition), br.BaseOffset, int64(b.Records)})
				}
				mu.Unlock()
			}
			mu.Lock()
			for p, next := range seq {
				rep.LastSeq[fmt.Sprintf("%d/%d", pid, p)] = next - 1
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(os.Getenv(envOut), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// runPattern is a -test.run pattern matching exactly the test name (with
// its subtest path).
func runPattern(name string) string {
	parts := strings.Split(name, "/")
	for i, p := range parts {
		parts[i] = "^" + regexp.QuoteMeta(p) + "$"
	}
	return strings.Join(parts, "/")
}

func cmpOr(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}
