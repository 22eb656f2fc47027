package broker_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// faultCounts are the counts of the fault suite's final read.
type faultCounts struct {
	read           int64 // records below the end offsets
	unackedPresent int64 // records whose produce failed or got no answer, yet are in the log (allowed)
	lost           int64 // acknowledged records not in the log
	gaps           int64 // offsets missing between records of a partition
}

// verify checks the final read logRecs (each partition's records, in the
// order the consumer got them, read up to endOf) against everything the
// ledger noted during the run, adding a violation for each broken
// invariant: an acknowledged record missing, or not at the offset its
// producer was told; a record twice; offsets not 0, 1, 2, ... up to the
// end offset (Sluice has no transaction markers, so there are no holes);
// a producer's sequences not increasing within a partition; a record
// that was never produced or whose bytes differ; an offset the group read
// that holds another record, or lies past the end; a committed offset
// past the end. The caller holds l.mu.
func (l *faultLedger) verify(endOf map[faultTP]int64, logRecs map[faultTP][]*kgo.Record) faultCounts {
	var c faultCounts
	producers := len(l.produced)
	where := make([]map[int]faultAck, producers) // producer -> seq -> where the log holds it
	for p := range where {
		where[p] = map[int]faultAck{}
	}
	tps := make([]faultTP, 0, len(endOf))
	for tp := range endOf {
		tps = append(tps, tp)
	}
	sort.Slice(tps, func(i, j int) bool { return tps[i].String() < tps[j].String() })
	for _, tp := range tps {
		lastOff := int64(-1)
		lastSeq := make([]int, producers)
		for p := range lastSeq {
			lastSeq[p] = -1
		}
		for _, r := range logRecs[tp] {
			if r.Offset >= endOf[tp] {
				l.violate("%s: record at offset %d, past the end offset %d listed after the producers stopped", tp, r.Offset, endOf[tp])
				continue
			}
			c.read++
			if r.Offset <= lastOff {
				l.violate("%s: offset %d after %d", tp, r.Offset, lastOff)
			} else if r.Offset != lastOff+1 {
				c.gaps += r.Offset - lastOff - 1
				l.violate("%s: offsets %d to %d missing", tp, lastOff+1, r.Offset-1)
			}
			lastOff = max(lastOff, r.Offset)
			p, seq, ok := l.checkValue("fresh consumer", r)
			if !ok {
				continue
			}
			if prev, dup := where[p][seq]; dup {
				l.violate("record f%d-%d twice: at %s/%d and %s/%d", p, seq, prev.tp, prev.off, tp, r.Offset)
				continue
			}
			where[p][seq] = faultAck{tp: tp, off: r.Offset, state: ackOK}
			if seq <= lastSeq[p] {
				l.violate("%s: producer %d's record %d at offset %d after its record %d", tp, p, seq, r.Offset, lastSeq[p])
			}
			lastSeq[p] = max(lastSeq[p], seq)
			if g, ok := l.groupSeen[tp][r.Offset]; ok && g != [2]int{p, seq} {
				l.violate("%s/%d holds f%d-%d, the group read f%d-%d there", tp, r.Offset, p, seq, g[0], g[1])
			}
			switch a := l.produced[p][seq]; a.state {
			case ackOK:
				if a.tp != tp || a.off != r.Offset {
					l.violate("f%d-%d acknowledged at %s/%d, read at %s/%d", p, seq, a.tp, a.off, tp, r.Offset)
				}
			default:
				c.unackedPresent++
			}
		}
		if lastOff != endOf[tp]-1 {
			l.violate("%s: read up to offset %d, end offset %d", tp, lastOff, endOf[tp])
		}
	}
	for p, recs := range l.produced {
		for seq, a := range recs {
			if a.state != ackOK {
				continue
			}
			if _, ok := where[p][seq]; !ok {
				c.lost++
				l.violate("acknowledged record f%d-%d (%s/%d) lost", p, seq, a.tp, a.off)
			}
		}
	}
	for tp, m := range l.groupSeen {
		for off, g := range m {
			if off >= endOf[tp] {
				l.violate("the group read f%d-%d at %s/%d, past the end offset %d", g[0], g[1], tp, off, endOf[tp])
			}
		}
	}
	for tp, off := range l.committed {
		if off > endOf[tp] {
			l.violate("group committed %s/%d, past the end offset %d", tp, off, endOf[tp])
		}
	}
	return c
}

func newFaultLedger(producers int) *faultLedger {
	return &faultLedger{began: time.Now(), produced: make([][]faultAck, producers), prodErrs: map[string]int64{},
		groupSeen: map[faultTP]map[int64][2]int{}, committed: map[faultTP]int64{}}
}

// TestFaultLedgerFindsViolations feeds the fault suite's checker (no
// brokers: the ledger and a log made up here) a clean run and runs with
// one broken invariant each, so that the suite is known to fail when a
// broker loses, duplicates, reorders or alters records.
func TestFaultLedgerFindsViolations(t *testing.T) {
	a0, a1 := faultTP{"fault-a", 0}, faultTP{"fault-a", 1}
	rec := func(tp faultTP, off int64, p, seq int) *kgo.Record {
		return &kgo.Record{Topic: tp.topic, Partition: tp.part, Offset: off, Key: faultKey(p, seq), Value: faultValue(p, seq)}
	}
	// A clean run: producer 0 wrote seqs 0-2 to a0, producer 1 seq 0 to
	// a0 and seq 1 to a1; producer 1's seq 2 failed and is absent.
	setup := func() (*faultLedger, map[faultTP]int64, map[faultTP][]*kgo.Record) {
		l := newFaultLedger(2)
		l.produced[0] = []faultAck{{a0, 0, ackOK}, {a0, 1, ackOK}, {a0, 3, ackOK}}
		l.produced[1] = []faultAck{{a0, 2, ackOK}, {a1, 0, ackOK}, {state: ackFailed}}
		logRecs := map[faultTP][]*kgo.Record{
			a0: {rec(a0, 0, 0, 0), rec(a0, 1, 0, 1), rec(a0, 2, 1, 0), rec(a0, 3, 0, 2)},
			a1: {rec(a1, 0, 1, 1)},
		}
		l.groupGot("m", []*kgo.Record{rec(a0, 0, 0, 0), rec(a0, 1, 0, 1), rec(a1, 0, 1, 1)})
		return l, map[faultTP]int64{a0: 4, a1: 1}, logRecs
	}
	commits := func(tp faultTP, at int64) kadm.OffsetResponses {
		return kadm.OffsetResponses{tp.topic: {tp.part: {Offset: kadm.Offset{Topic: tp.topic, Partition: tp.part, At: at}}}}
	}
	cases := []struct {
		name  string
		brk   func(l *faultLedger, end map[faultTP]int64, log map[faultTP][]*kgo.Record)
		want  string
		count func(c faultCounts) int64
	}{
		{"clean", func(*faultLedger, map[faultTP]int64, map[faultTP][]*kgo.Record) {}, "", nil},
		{"lost", func(_ *faultLedger, end map[faultTP]int64, log map[faultTP][]*kgo.Record) {
			log[a0] = log[a0][:3]
			end[a0] = 3
		}, "acknowledged record f0-2 (fault-a/0/3) lost", func(c faultCounts) int64 { return c.lost }},
		{"lost tail", func(_ *faultLedger, _ map[faultTP]int64, log map[faultTP][]*kgo.Record) {
			log[a0] = log[a0][:3]
		}, "read up to offset 2, end offset 4", nil},
		{"duplicate", func(_ *faultLedger, end map[faultTP]int64, log map[faultTP][]*kgo.Record) {
			log[a0] = append(log[a0], rec(a0, 4, 0, 1))
			end[a0] = 5
		}, "record f0-1 twice", nil},
		{"gap", func(_ *faultLedger, _ map[faultTP]int64, log map[faultTP][]*kgo.Record) {
			log[a0] = append(log[a0][:2:2], log[a0][3])
		}, "offsets 2 to 2 missing", func(c faultCounts) int64 { return c.gaps }},
		{"offset order", func(_ *faultLedger, _ map[faultTP]int64, log map[faultTP][]*kgo.Record) {
			log[a0][2], log[a0][3] = log[a0][3], log[a0][2]
		}, "offset 2 after 3", nil},
		{"producer order", func(l *faultLedger, _ map[faultTP]int64, log map[faultTP][]*kgo.Record) {
			log[a0][1], log[a0][3] = rec(a0, 1, 0, 2), rec(a0, 3, 0, 1)
			l.produced[0][1].off, l.produced[0][2].off = 3, 1
		}, "producer 0's record 1 at offset 3 after its record 2", nil},
		{"value differs", func(_ *faultLedger, _ map[faultTP]int64, log map[faultTP][]*kgo.Record) {
			log[a0][1].Value = append([]byte(nil), log[a0][1].Value...)
			log[a0][1].Value[7] ^= 1
		}, "differs from the one produced", nil},
		{"never produced", func(_ *faultLedger, _ map[faultTP]int64, log map[faultTP][]*kgo.Record) {
			log[a1][0] = rec(a1, 0, 5, 0)
		}, "never produced", nil},
		{"acknowledged elsewhere", func(l *faultLedger, _ map[faultTP]int64, _ map[faultTP][]*kgo.Record) {
			l.produced[1][1].off = 7
		}, "f1-1 acknowledged at fault-a/1/7, read at fault-a/1/0", nil},
		{"group read another record", func(l *faultLedger, _ map[faultTP]int64, _ map[faultTP][]*kgo.Record) {
			l.groupSeen[a0][1] = [2]int{1, 2}
		}, "fault-a/0/1 holds f0-1, the group read f1-2 there", nil},
		{"group read past the end", func(l *faultLedger, _ map[faultTP]int64, _ map[faultTP][]*kgo.Record) {
			l.groupGot("m", []*kgo.Record{rec(a1, 1, 1, 2)})
		}, "the group read f1-2 at fault-a/1/1, past the end offset 1", nil},
		{"group offset backwards", func(l *faultLedger, _ map[faultTP]int64, _ map[faultTP][]*kgo.Record) {
			l.sampleCommitted(commits(a0, 3))
			l.sampleCommitted(commits(a0, 2))
		}, "group offset of fault-a/0 went backwards: 2 after 3", nil},
		{"committed past the end", func(l *faultLedger, _ map[faultTP]int64, _ map[faultTP][]*kgo.Record) {
			l.sampleCommitted(commits(a1, 2))
		}, "group committed fault-a/1/2, past the end offset 1", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, end, log := setup()
			tc.brk(l, end, log)
			c := l.verify(end, log)
			got := strings.Join(l.violations, "\n")
			if tc.want == "" {
				if l.nviolation != 0 || c.read != 5 || c.unackedPresent != 0 {
					t.Fatalf("clean run: %d violations, counts %+v:\n%s", l.nviolation, c, got)
				}
				return
			}
			if !strings.Contains(got, tc.want) {
				t.Fatalf("violations do not say %q:\n%s", tc.want, got)
			}
			if tc.count != nil && tc.count(c) != 1 {
				t.Fatalf("counts %+v", c)
			}
		})
	}
}

// TestFaultKeyRoundTrip: every key the suite produces maps back to its
// producer and sequence; other keys do not.
func TestFaultKeyRoundTrip(t *testing.T) {
	for _, pn := range [][2]int{{0, 0}, {3, 12345}, {11, 7}} {
		p, seq, ok := parseFaultKey(faultKey(pn[0], pn[1]))
		if !ok || p != pn[0] || seq != pn[1] {
			t.Fatalf("%v: got %d %d %v", pn, p, seq, ok)
		}
	}
	for _, k := range []string{"", "f", "f1", "x1-2", "f-1-2", "f1-x", fmt.Sprint("f1-", -3)} {
		if _, _, ok := parseFaultKey([]byte(k)); ok {
			t.Fatalf("%q parsed", k)
		}
	}
}
