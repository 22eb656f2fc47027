package produce

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sluicedata/sluice/codec"
	"github.com/sluicedata/sluice/pipeline"
	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/sinks/meta/memmeta"
)

// TestSequenceScripts runs the scripts in testdata/sequence. Each script is
// a list of commands, each followed by the lines it must print:
//
//	submit NAME pid=P epoch=E seq=S n=N   a batch enters the sequence stage
//	complete NAME offset=O | err=E        the pipeline completes a passed batch
//	store pid=P epoch=E first=F last=L offset=O   state committed before start
//	expire pid=P                          the store drops P's state (lifecycle expiry)
//	advance minutes=M                     the sequencer's clock moves on (its TTL: 60 minutes)
//	-> LINE                               an expected output line
//
// submit prints "pass" (the batch goes on), "wait" (a retry of a batch in
// flight) or "NAME: offset=O [dup]" / "NAME: err=E" when it is answered at
// once; complete prints one such line per batch it answers, in name order.
func TestSequenceScripts(t *testing.T) {
	files, _ := filepath.Glob("testdata/sequence/*.txt")
	if len(files) == 0 {
		t.Fatal("no scripts")
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) { runSequenceScript(t, f) })
	}
}

type scriptStore struct {
	meta.Store
	states map[int64]meta.ProducerState
}

func (s *scriptStore) ProducerState(_ context.Context, pid int64, _ meta.TP) (meta.ProducerState, bool, error) {
	st, ok := s.states[pid]
	return st, ok, nil
}

func runSequenceScript(t *testing.T, path string) {
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	store := &scriptStore{Store: memmeta.New(), states: map[int64]meta.ProducerState{}}
	seq := newSequencer(store, time.Hour)
	clock := time.Unix(1_700_000_000, 0)
	seq.now = func() time.Time { return clock }
	batches := map[string]*Batch{}
	var out []string
	answered := map[string]string{}
	mk := func(name string, kv map[string]int64) *Batch {
		b := &Batch{Target: Target{Partition: 0}}
		b.Header = codec.BatchHeader{ProducerID: kv["pid"], ProducerEpoch: int16(kv["epoch"]), BaseSequence: int32(kv["seq"]),
			NumRecords: int32(kv["n"]), LastOffsetDelta: int32(kv["n"] - 1)}
		b.Done = pipeline.NewCompletion(func(offset int64, err error) {
			if err != nil {
				answered[name] = fmt.Sprintf("%s: err=%s", name, errName(err))
			} else if b.Duplicate {
				answered[name] = fmt.Sprintf("%s: offset=%d dup", name, offset)
			} else {
				answered[name] = fmt.Sprintf("%s: offset=%d", name, offset)
			}
		})
		batches[name] = b
		return b
	}
	flush := func() {
		names := make([]string, 0, len(answered))
		for n := range answered {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			out = append(out, answered[n])
		}
		answered = map[string]string{}
	}
	var expected []string
	check := func(cmd string) {
		if strings.Join(out, "\n") != strings.Join(expected, "\n") {
			t.Fatalf("%s: after %q\ngot:\n%s\nwant:\n%s", path, cmd, strings.Join(out, "\n"), strings.Join(expected, "\n"))
		}
		out, expected = nil, nil
	}
	var last string
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "->") {
			expected = append(expected, strings.TrimSpace(strings.TrimPrefix(line, "->")))
			continue
		}
		if last != "" {
			check(last)
		}
		last = line
		fields := strings.Fields(line)
		kv := map[string]int64{}
		var errArg string
		for _, f := range fields[1:] {
			if k, v, ok := strings.Cut(f, "="); ok {
				if k == "err" {
					errArg = v
					continue
				}
				n, err := strconv.ParseInt(v, 10, 64)
				if err != nil {
					t.Fatalf("%s: bad %q", path, f)
				}
				kv[k] = n
			}
		}
		switch fields[0] {
		case "store":
			st := store.states[kv["pid"]]
			st.Epoch = int16(kv["epoch"])
			st.Recent = append(st.Recent, meta.ProducerBatch{FirstSeq: int32(kv["first"]), LastSeq: int32(kv["last"]), BaseOffset: kv["offset"]})
			store.states[kv["pid"]] = st
		case "expire":
			delete(store.states, kv["pid"])
		case "advance":
			clock = clock.Add(time.Duration(kv["minutes"]) * time.Minute)
		case "submit":
			b := mk(fields[1], kv)
			if _, pass := seq.sequence(context.Background(), b); pass {
				out = append(out, "pass")
			} else if len(answered) == 0 {
				out = append(out, "wait")
			}
			flush()
		case "complete":
			b := batches[fields[1]]
			var err error
			if errArg != "" {
				err = errors.New(errArg)
			}
			b.Done.Done(kv["offset"], err)
			flush()
		default:
			t.Fatalf("%s: unknown command %q", path, line)
		}
	}
	if last != "" {
		check(last)
	}
}

func errName(err error) string {
	switch {
	case errors.Is(err, meta.ErrInvalidProducerEpoch):
		return "INVALID_PRODUCER_EPOCH"
	case errors.Is(err, meta.ErrOutOfOrderSequence):
		return "OUT_OF_ORDER_SEQUENCE_NUMBER"
	}
	return err.Error()
}
