package codec

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// benchRecords returns records of roughly valueSize bytes of semi-realistic
// (JSON-ish, moderately compressible) data.
func benchRecords(n, valueSize int) []Record {
	rng := rand.New(rand.NewPCG(7, 8))
	recs := make([]Record, n)
	for i := range recs {
		var v bytes.Buffer
		for v.Len() < valueSize {
			fmt.Fprintf(&v, `{"user":%d,"action":"%s","amount":%d.%02d},`, rng.IntN(100000),
				[]string{"view", "click", "buy", "share"}[rng.IntN(4)], rng.IntN(1000), rng.IntN(100))
		}
		recs[i] = Record{
			TimestampDelta: int64(i),
			OffsetDelta:    int32(i),
			Key:            []byte(fmt.Sprintf("user-%d", rng.IntN(1000))),
			Value:          v.Bytes()[:valueSize],
			Headers:        []Header{{Key: "source", Value: []byte("bench")}},
		}
	}
	return recs
}

func benchBatch(b *testing.B, c Codec, n, valueSize int) ([]byte, BatchHeader) {
	recs := benchRecords(n, valueSize)
	out, err := AppendBatch(nil, BatchHeader{LastOffsetDelta: int32(n - 1)}, recs, c)
	if err != nil {
		b.Fatal(err)
	}
	h, err := ParseBatch(out)
	if err != nil {
		b.Fatal(err)
	}
	return out, h
}

// BenchmarkParseBatch: the produce hot path, a 16 KiB batch of 1 KiB
// records (CRC-32C dominates).
func BenchmarkParseBatch(b *testing.B) {
	batch, _ := benchBatch(b, CodecNone, 16, 1000)
	b.SetBytes(int64(len(batch)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParseBatch(batch); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSplitBatches(b *testing.B) {
	one, _ := benchBatch(b, CodecNone, 16, 1000)
	all := bytes.Repeat(one, 8)
	b.SetBytes(int64(len(all)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := SplitBatches(all); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeRecords reports throughput in uncompressed bytes.
func BenchmarkDecodeRecords(b *testing.B) {
	for _, c := range allCodecs {
		b.Run(c.String(), func(b *testing.B) {
			batch, h := benchBatch(b, c, 64, 1000)
			raw, _ := batchPayload(h, batch, MaxDecompressedBatch)
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := DecodeRecords(h, batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkValidateRecords(b *testing.B) {
	for _, c := range []Codec{CodecNone, CodecZstd} {
		b.Run(c.String(), func(b *testing.B) {
			batch, h := benchBatch(b, c, 64, 1000)
			raw, _ := batchPayload(h, batch, MaxDecompressedBatch)
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if err := ValidateRecords(h, batch); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCompress compresses a 64 KiB records payload.
func BenchmarkCompress(b *testing.B) {
	raw, err := appendRecords(nil, benchRecords(64, 1000))
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range allCodecs {
		b.Run(c.String(), func(b *testing.B) {
			dst := make([]byte, 0, 2*len(raw))
			out, _ := Compress(c, nil, raw)
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Compress(c, dst[:0], raw); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(len(out))/float64(len(raw)), "ratio")
		})
	}
}

func BenchmarkAppendBatch(b *testing.B) {
	recs := benchRecords(64, 1000)
	raw, _ := appendRecords(nil, recs)
	for _, c := range []Codec{CodecNone, CodecLZ4, CodecZstd} {
		b.Run(c.String(), func(b *testing.B) {
			dst := make([]byte, 0, 2*len(raw))
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := AppendBatch(dst[:0], BatchHeader{}, recs, c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCheckRecords validates a 1 MiB (uncompressed) produce batch of
// small records, as the produce decode stage does, for each codec. The
// baselines in the same run are "crc" (ParseBatch over the same batch:
// all decode did before records were checked) and, per codec,
// "decompress" (Decompress into a fresh slice, no record walk): check/X
// over decompress/X is the cost of walking the records plus what the
// pooled buffer saves.
func BenchmarkCheckRecords(b *testing.B) {
	const n, valueSize = 8192, 100 // ~1 MiB with keys and headers
	for _, c := range []Codec{CodecNone, CodecLZ4, CodecZstd, CodecGzip, CodecSnappy} {
		batch, h := benchBatch(b, c, n, valueSize)
		raw, _ := batchPayload(h, batch, MaxDecompressedBatch)
		if c == CodecNone {
			b.Run("crc", func(b *testing.B) {
				b.SetBytes(int64(len(raw)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := ParseBatch(batch); err != nil {
						b.Fatal(err)
					}
				}
			})
		} else {
			b.Run("decompress/"+c.String(), func(b *testing.B) {
				b.SetBytes(int64(len(raw)))
				b.ReportAllocs()
				for b.Loop() {
					if _, err := Decompress(c, batch[BatchHeaderSize:], MaxDecompressedBatch); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
		b.Run("check/"+c.String(), func(b *testing.B) {
			var last int64
			b.SetBytes(int64(len(raw)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := CheckRecords(h, batch, MaxDecompressedBatch, func(_ int32, ts int64) { last = ts }); err != nil {
					b.Fatal(err)
				}
			}
			if last != int64(n-1) {
				b.Fatalf("last timestamp %d", last)
			}
		})
	}
}
