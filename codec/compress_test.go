package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/klauspost/compress/s2"
	"github.com/twmb/franz-go/pkg/kgo"
)

// compressInputs covers empty, tiny, text, incompressible and
// multi-block (> 32 KiB xerial / > 64 KiB lz4) inputs.
func compressInputs() map[string][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	random := make([]byte, 100<<10)
	for i := range random {
		random[i] = byte(rng.Uint32())
	}
	var text []byte
	for i := 0; len(text) < 300<<10; i++ {
		text = append(text, `{"event":"click","user":12345,"page":"/home","ts":1700000000}`...)
		text = append(text, byte('0'+i%10))
	}
	return map[string][]byte{
		"empty":  {},
		"one":    {42},
		"text":   text,
		"random": random,
	}
}

func TestCompressRoundTrip(t *testing.T) {
	kdec := kgo.DefaultDecompressor()
	for name, in := range compressInputs() {
		for _, c := range allCodecs {
			out, err := Compress(c, []byte("pre"), in)
			if err != nil {
				t.Fatalf("%s/%s: %v", c, name, err)
			}
			if string(out[:3]) != "pre" {
				t.Fatalf("%s/%s: dst prefix lost", c, name)
			}
			comp := out[3:]
			back, err := Decompress(c, comp, len(in))
			if err != nil || !bytes.Equal(back, in) {
				t.Fatalf("%s/%s: round trip failed: %v", c, name, err)
			}
			// franz-go (what most Go consumers use) reads it too.
			kback, err := kdec.Decompress(comp, kgo.CompressionCodecType(c))
			if err != nil || !bytes.Equal(kback, in) {
				t.Fatalf("%s/%s: kgo cannot decompress: %v", c, name, err)
			}
			// One byte under the size is over the limit.
			if len(in) > 0 {
				if _, err := Decompress(c, comp, len(in)-1); !errors.Is(err, ErrDecompressLimit) {
					t.Fatalf("%s/%s: limit-1: %v", c, name, err)
				}
			}
		}
	}
}

// TestDecompressFranz decodes what franz-go's default compressor writes
// (notably raw, unframed snappy).
func TestDecompressFranz(t *testing.T) {
	for name, in := range compressInputs() {
		for _, c := range allCodecs[1:] {
			comp, err := kgo.DefaultCompressor(kgoCodec(c))
			if err != nil {
				t.Fatal(err)
			}
			out, used := comp.Compress(new(bytes.Buffer), in)
			if used != kgo.CompressionCodecType(c) {
				t.Fatalf("kgo used %v", used)
			}
			back, err := Decompress(c, out, MaxDecompressedBatch)
			if err != nil || !bytes.Equal(back, in) {
				t.Fatalf("%s/%s: %v", c, name, err)
			}
		}
	}
}

func TestXerialFormat(t *testing.T) {
	in := compressInputs()["text"]
	out, err := Compress(CodecSnappy, nil, in)
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0, 0, 0, 0, 1, 0, 0, 0, 1}
	if !bytes.Equal(out[:16], want) {
		t.Fatalf("header %x", out[:16])
	}
	var total, blocks int
	for rest := out[16:]; len(rest) > 0; blocks++ {
		n := int(binary.BigEndian.Uint32(rest))
		block := rest[4 : 4+n]
		dl, err := s2.DecodedLen(block)
		if err != nil || dl > 32<<10 {
			t.Fatalf("block %d decodes to %d: %v", blocks, dl, err)
		}
		total += dl
		rest = rest[4+n:]
	}
	if total != len(in) || blocks != (len(in)+32<<10-1)/(32<<10) {
		t.Fatalf("%d blocks, %d bytes", blocks, total)
	}
	// Malformed framing errors rather than panicking.
	for _, bad := range [][]byte{
		append(append([]byte(nil), out[:16]...), 0, 0),
		append(append([]byte(nil), out[:16]...), 0x7f, 0, 0, 0, 1),
		append(append([]byte(nil), out[:16]...), 0xff, 0xff, 0xff, 0xff, 1),
		out[:len(out)-1],
	} {
		if _, err := Decompress(CodecSnappy, bad, MaxDecompressedBatch); err == nil {
			t.Fatalf("malformed xerial %x accepted", bad[16:min(len(bad), 24)])
		}
	}
}

// heapGrowth runs f and returns how many bytes it allocated.
func heapGrowth(f func()) uint64 {
	var a, b runtime.MemStats
	runtime.ReadMemStats(&a)
	f()
	runtime.ReadMemStats(&b)
	return b.TotalAlloc - a.TotalAlloc
}

// TestDecompressionBombs compresses 64 MiB of zeros with every codec and
// checks that a 1 MiB limit stops each decoder after allocating a few MiB
// at most, rather than inflating the whole thing.
func TestDecompressionBombs(t *testing.T) {
	zeros := make([]byte, 64<<20)
	const limit = 1 << 20
	for _, c := range allCodecs[1:] {
		bomb, err := Compress(c, nil, zeros)
		if err != nil {
			t.Fatal(err)
		}
		var derr error
		grew := heapGrowth(func() { _, derr = Decompress(c, bomb, limit) })
		if !errors.Is(derr, ErrDecompressLimit) {
			t.Fatalf("%s bomb (%d bytes): %v", c, len(bomb), derr)
		}
		// zstd's decoder floor is 8 MiB (see zstdDecoder); others ~2*limit.
		if grew > 24<<20 {
			t.Fatalf("%s bomb allocated %d MiB before failing", c, grew>>20)
		}
		t.Logf("%s: %d byte bomb, %d KiB allocated", c, len(bomb), grew>>10)
	}
}

// TestBatchGzipBomb puts a gzip bomb in a batch: DecodeRecords must fail
// with ErrCorrupt (via ErrDecompressLimit) rather than inflate it.
func TestBatchGzipBomb(t *testing.T) {
	zeros := make([]byte, 16<<20)
	bomb, err := Compress(CodecGzip, nil, zeros)
	if err != nil {
		t.Fatal(err)
	}
	b := appendBatchHeader(nil, BatchHeader{NumRecords: 1}, CodecGzip)
	b = append(b, bomb...)
	b, _ = finishBatch(b, 0)
	h, err := ParseBatch(b)
	if err != nil {
		t.Fatal(err)
	}
	_, err = decodeRecordsLimit(h, b, 1<<20)
	if !errors.Is(err, ErrCorrupt) || !errors.Is(err, ErrDecompressLimit) {
		t.Fatalf("bomb: %v", err)
	}
	// Under the real limit it inflates, and then fails as records.
	if _, err := DecodeRecords(h, b); !errors.Is(err, ErrInvalidRecord) {
		t.Fatalf("zeros as records: %v", err)
	}
}

func TestDecompressGarbage(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 200; i++ {
		g := make([]byte, rng.IntN(200))
		for j := range g {
			g[j] = byte(rng.Uint32())
		}
		for _, c := range allCodecs[1:] {
			_, _ = Decompress(c, g, 1<<20) // must not panic
		}
	}
	if _, err := Decompress(CodecGzip, []byte("not gzip"), 100); err == nil {
		t.Fatal("garbage gzip accepted")
	}
	if _, err := Compress(9, nil, nil); !errors.Is(err, ErrInvalidRecord) {
		t.Fatal(err)
	}
	if _, err := Decompress(-1, nil, 1); !errors.Is(err, ErrInvalidRecord) {
		t.Fatal(err)
	}
	if _, err := Decompress(CodecNone, []byte("abc"), 2); !errors.Is(err, ErrDecompressLimit) {
		t.Fatal(err)
	}
}

func TestCompressConcurrent(t *testing.T) {
	in := compressInputs()["text"]
	done := make(chan error)
	for g := 0; g < 8; g++ {
		go func() {
			for i := 0; i < 10; i++ {
				for _, c := range allCodecs {
					out, err := Compress(c, nil, in)
					if err == nil {
						var back []byte
						back, err = Decompress(c, out, len(in))
						if err == nil && !bytes.Equal(back, in) {
							err = errors.New("mismatch")
						}
					}
					if err != nil {
						done <- err
						return
					}
				}
			}
			done <- nil
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
