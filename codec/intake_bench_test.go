package codec

import (
	"testing"
)

// benchBatches returns n batches of size bytes over topics×parts
// partitions, added round-robin (interleaved, so Finish has to group them).
func benchBatches(n, size, topics, parts int) []addedBatch {
	out := make([]addedBatch, n)
	for i := range out {
		h, b := testBatch(int64(i), size, BatchHeader{
			Attributes:      int16(CodecZstd),
			LastOffsetDelta: 99,
			FirstTimestamp:  1_700_000_000_000 + int64(i),
			MaxTimestamp:    1_700_000_000_100 + int64(i),
			ProducerID:      int64(i % 7),
			BaseSequence:    int32(i * 100),
			NumRecords:      100,
		})
		out[i] = addedBatch{testTopic(i % topics), int32(i / topics % parts), h, b}
	}
	return out
}

// BenchmarkIntakeFinish lays out a produce flush of 256 batches of 16 KiB
// over 8 partitions (2 topics × 4), with a reused builder.
func BenchmarkIntakeFinish(b *testing.B) {
	bs := benchBatches(256, 16<<10, 2, 4)
	ib := NewIntakeBuilder()
	b.SetBytes(int64(len(bs)) * 16 << 10)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ib.Reset()
		for _, x := range bs {
			ib.Add(x.topic, x.part, x.h, x.b)
		}
		if _, err := ib.Finish(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDecodeIntakeIndex decodes the index of the object above (one
// fetch-path cache miss). Bytes are index bytes.
func BenchmarkDecodeIntakeIndex(b *testing.B) {
	for _, n := range []int{16, 256, 4096} {
		b.Run(itoa(n)+"rows", func(b *testing.B) {
			in := buildIntake(b, benchBatches(n, 200, 2, 4))
			index := in.Data[in.IndexPos : in.IndexPos+in.IndexLen]
			crc := IntakeIndexCRC(index)
			b.SetBytes(int64(len(index)))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := DecodeIntakeIndex(index, crc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkIntakePartition looks up one partition in a decoded index.
func BenchmarkIntakePartition(b *testing.B) {
	in := buildIntake(b, benchBatches(256, 200, 2, 4))
	x, err := DecodeIntakeIndex(in.Data[in.IndexPos:in.IndexPos+in.IndexLen], in.IndexCRC())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if len(x.Partition(testTopic(i%2), int32(i%4))) != 32 {
			b.Fatal("wrong partition size")
		}
	}
}

func itoa(n int) string {
	var buf [20]byte
	i := len(buf)
	for {
		i--
		buf[i] = byte('0' + n%10)
		if n /= 10; n == 0 {
			return string(buf[i:])
		}
	}
}
