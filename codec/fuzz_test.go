package codec

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// fuzzLimit keeps decompression in the fuzzers small so that iterations
// stay fast; the limit logic itself is the same as production's.
const fuzzLimit = 1 << 20

func FuzzReadFrame(f *testing.F) {
	for _, s := range readFrameSeeds() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		r := bytes.NewReader(data)
		// Frames are read through a budget (larger than the input, as
		// nothing here releases), which must hold exactly the frames
		// returned, whatever the input.
		budget := NewRequestBudget(int64(len(data)) + 1)
		fr := FrameReader{R: r, Max: 1 << 16, Budget: budget}
		var held int64
		defer func() {
			if budget.InUse() != held {
				t.Fatalf("budget holds %d bytes, frames returned %d", budget.InUse(), held)
			}
		}()
		for {
			frame, err := fr.Read()
			if err != nil {
				return
			}
			held += int64(len(frame))
			if len(frame) > 1<<16 || cap(frame) != len(frame) {
				t.Fatalf("frame len %d cap %d", len(frame), cap(frame))
			}
			h, body, err := ParseRequestHeader(frame)
			if err != nil {
				continue
			}
			if len(body) > len(frame)-10 {
				t.Fatalf("body of %d bytes from a %d byte frame", len(body), len(frame))
			}
			// Re-encoding the header canonically and parsing again must
			// give the same header and body.
			re := binary.BigEndian.AppendUint16(nil, uint16(h.APIKey))
			re = binary.BigEndian.AppendUint16(re, uint16(h.APIVersion))
			re = binary.BigEndian.AppendUint32(re, uint32(h.CorrelationID))
			if h.ClientID == nil {
				re = binary.BigEndian.AppendUint16(re, 0xffff)
			} else {
				re = binary.BigEndian.AppendUint16(re, uint16(len(*h.ClientID)))
				re = append(re, *h.ClientID...)
			}
			if h.Flexible {
				re = append(re, 0)
			}
			re = append(re, body...)
			h2, body2, err := ParseRequestHeader(re)
			if err != nil || !bytes.Equal(body, body2) || h2.APIKey != h.APIKey || h2.APIVersion != h.APIVersion ||
				h2.CorrelationID != h.CorrelationID || h2.Flexible != h.Flexible ||
				(h.ClientID == nil) != (h2.ClientID == nil) || (h.ClientID != nil && *h.ClientID != *h2.ClientID) {
				t.Fatalf("re-parse: %+v %v vs %+v", h2, err, h)
			}
		}
	})
}

func FuzzParseBatch(f *testing.F) {
	for _, s := range parseBatchSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if batches, err := SplitBatches(data); err == nil {
			var joined []byte
			for _, b := range batches {
				joined = append(joined, b...)
				fuzzCheckBatch(t, b)
			}
			if !bytes.Equal(joined, data) {
				t.Fatal("SplitBatches lost bytes")
			}
		}
		fuzzCheckBatch(t, data)
		// Random bytes almost never carry a valid CRC; patch magic,
		// length and CRC so the fuzzer can explore record decoding.
		if len(data) >= BatchHeaderSize {
			b := append([]byte(nil), data...)
			b[offMagic] = 2
			binary.BigEndian.PutUint32(b[offLength:], uint32(len(b)-12))
			fixCRC(b)
			fuzzCheckBatch(t, b)
		}
	})
}

// FuzzCheckRecords patches magic, length and CRC like FuzzParseBatch so
// that every input reaches the record walk, then holds CheckRecords to
// ValidateRecords: it refuses whatever ValidateRecords refuses, and what
// it accepts decodes with offset deltas 0..n-1 and the timestamps it
// visited.
func FuzzCheckRecords(f *testing.F) {
	for _, s := range checkRecordsSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) < BatchHeaderSize {
			return
		}
		b := append([]byte(nil), data...)
		b[offMagic] = 2
		binary.BigEndian.PutUint32(b[offLength:], uint32(len(b)-12))
		fixCRC(b)
		h, err := ParseBatch(b)
		if err != nil {
			return
		}
		var stamps []int64
		maxTS, cerr := CheckRecords(h, b, fuzzLimit, func(i int32, ts int64) { stamps = append(stamps, ts) })
		verr := validateRecordsLimit(h, b, fuzzLimit)
		if verr != nil {
			if cerr == nil {
				t.Fatalf("CheckRecords accepted what ValidateRecords refused: %v", verr)
			}
			return
		}
		recs, err := decodeRecordsLimit(h, b, fuzzLimit)
		if err != nil {
			t.Fatal(err)
		}
		inOrder := true
		for i := range recs {
			inOrder = inOrder && recs[i].OffsetDelta == int32(i)
		}
		if (cerr == nil) != inOrder {
			t.Fatalf("CheckRecords %v with offset deltas in order %v", cerr, inOrder)
		}
		if cerr != nil {
			return
		}
		if len(stamps) != len(recs) {
			t.Fatalf("visited %d of %d records", len(stamps), len(recs))
		}
		wantMax := int64(-1)
		for i := range recs {
			if stamps[i] != h.FirstTimestamp+recs[i].TimestampDelta {
				t.Fatalf("record %d: visited timestamp %d", i, stamps[i])
			}
			wantMax = max(wantMax, stamps[i])
		}
		if maxTS != wantMax {
			t.Fatalf("max timestamp %d, want %d", maxTS, wantMax)
		}
	})
}

// checkRecordsSeeds are TestCheckRecords's hand-made batches.
func checkRecordsSeeds(tb testing.TB) map[string][]byte {
	seeds := map[string][]byte{}
	for _, c := range checkRecordsCases() {
		seeds[strings.ReplaceAll(c.name, " ", "-")] = c.batch(tb)
	}
	return seeds
}

func fuzzCheckBatch(t *testing.T, b []byte) {
	h, err := ParseBatch(b)
	if err != nil {
		return
	}
	if h.Size() != len(b) {
		t.Fatalf("size %d for %d bytes", h.Size(), len(b))
	}
	recs, err := decodeRecordsLimit(h, b, fuzzLimit)
	verr := validateRecordsLimit(h, b, fuzzLimit)
	if (err == nil) != (verr == nil) {
		t.Fatalf("DecodeRecords %v but ValidateRecords %v", err, verr)
	}
	if err != nil {
		return
	}
	if len(recs) != int(h.NumRecords) {
		t.Fatalf("%d records, header says %d", len(recs), h.NumRecords)
	}
	// What decodes must re-encode into a batch that decodes identically.
	out, err := AppendBatch(nil, h, recs, h.Codec())
	if err != nil {
		t.Fatal(err)
	}
	h2, err := ParseBatch(out)
	if err != nil {
		t.Fatal(err)
	}
	recs2, err := decodeRecordsLimit(h2, out, 2*fuzzLimit)
	if err != nil {
		t.Fatal(err)
	}
	requireRecordsEqual(t, recs2, recs)
	// Recompressing to none keeps header fields and records.
	rc, err := recompressLimit(b, CodecNone, fuzzLimit)
	if err != nil {
		t.Fatal(err)
	}
	h3, err := ParseBatch(rc)
	if err != nil {
		t.Fatal(err)
	}
	if h3.BaseOffset != h.BaseOffset || h3.ProducerID != h.ProducerID || h3.MaxTimestamp != h.MaxTimestamp ||
		h3.Attributes != h.Attributes&^7 || h3.NumRecords != h.NumRecords {
		t.Fatalf("recompress changed header: %+v vs %+v", h3, h)
	}
}

func readFrameSeeds() map[string][]byte {
	f := kmsg.NewRequestFormatter(kmsg.FormatterClientID("rdkafka"))
	produce := kmsg.NewPtrProduceRequest()
	produce.Version = 9
	produce.Acks = -1
	produce.TimeoutMillis = 30000
	topic := kmsg.NewProduceRequestTopic()
	topic.Topic = "events"
	part := kmsg.NewProduceRequestTopicPartition()
	part.Records, _ = AppendBatch(nil, testHeader(2), testRecords(2, 9), CodecNone)
	topic.Partitions = append(topic.Partitions, part)
	produce.Topics = append(produce.Topics, topic)
	av := kmsg.NewPtrApiVersionsRequest()
	av.Version = 3
	av.ClientSoftwareName = "franz-go"
	av.ClientSoftwareVersion = "1.22.3"
	av0 := kmsg.NewPtrApiVersionsRequest()
	meta := kmsg.NewPtrMetadataRequest()
	meta.Version = 4
	two := f.AppendRequest(nil, av, 1)
	two = kmsg.NewRequestFormatter().AppendRequest(two, meta, 2)
	return map[string][]byte{
		"produce-v9":      f.AppendRequest(nil, produce, 7),
		"apiversions-v3":  f.AppendRequest(nil, av, 0),
		"apiversions-v0":  f.AppendRequest(nil, av0, 0),
		"two-frames":      two,
		"too-large":       {0x7f, 0xff, 0xff, 0xff, 0, 0},
		"unknown-key":     sizePrefixed(append(header(777, 3, 9, nil), 1, 2, 3)),
		"tagged-header":   sizePrefixed(append(header(0, 9, 1, nil), 1, 5, 2, 0xAB, 0xCD)),
		"truncated-frame": f.AppendRequest(nil, produce, 7)[:40],
	}
}

func parseBatchSeeds(tb testing.TB) map[string][]byte {
	seeds := map[string][]byte{}
	var all []byte
	for _, c := range allCodecs {
		b, err := AppendBatch(nil, testHeader(3), testRecords(3, 5), c)
		if err != nil {
			tb.Fatal(err)
		}
		seeds["sluice-"+c.String()] = b
		all = append(all, b...)
	}
	seeds["franz-zstd"] = franzBatch(tb, testHeader(4), testRecords(4, 6), CodecZstd)
	seeds["franz-snappy-raw"] = franzBatch(tb, testHeader(4), testRecords(4, 6), CodecSnappy)
	seeds["three-batches"] = all[:len(seeds["sluice-none"])+len(seeds["sluice-gzip"])+len(seeds["sluice-snappy"])]
	seeds["truncated"] = seeds["sluice-none"][:70]
	return seeds
}

// TestWriteFuzzCorpus regenerates testdata/fuzz from the seeds above. It
// runs only when asked: SLUICE_WRITE_FUZZ_CORPUS=1 go test ./codec -run WriteFuzzCorpus
func TestWriteFuzzCorpus(t *testing.T) {
	if os.Getenv("SLUICE_WRITE_FUZZ_CORPUS") == "" {
		t.Skip("set SLUICE_WRITE_FUZZ_CORPUS=1 to regenerate the seed corpus")
	}
	write := func(target string, seeds map[string][]byte) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, data := range seeds {
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
			if err := os.WriteFile(filepath.Join(dir, "seed-"+name), []byte(body), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	write("FuzzReadFrame", readFrameSeeds())
	write("FuzzParseBatch", parseBatchSeeds(t))
	write("FuzzCheckRecords", checkRecordsSeeds(t))
}
