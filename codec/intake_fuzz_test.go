package codec

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// fuzzSeedIndexes returns a few real encoded indexes.
func fuzzSeedIndexes(t testing.TB) [][]byte {
	seeds := [][]byte{
		testIndex(t, 11, 1),
		testIndex(t, 12, 3),
		testIndex(t, 13, 8),
	}
	empty, err := EncodeIntakeIndex(nil)
	if err != nil {
		t.Fatal(err)
	}
	return append(seeds, slices.Clone(empty))
}

// FuzzDecodeIntakeIndex feeds arbitrary bytes, with a matching CRC so they
// reach the Arrow decoder, to DecodeIntakeIndex: it must not panic, must
// fail with ErrBadIntake, or must return rows that satisfy the layout
// invariants and survive a re-encoding round trip.
func FuzzDecodeIntakeIndex(f *testing.F) {
	for _, s := range fuzzSeedIndexes(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		crc := IntakeIndexCRC(b)
		if _, err := DecodeIntakeIndex(b, crc+1); !errors.Is(err, ErrBadIntake) {
			t.Fatalf("wrong CRC accepted: %v", err)
		}
		x, err := DecodeIntakeIndex(b, crc)
		if err != nil {
			if !errors.Is(err, ErrBadIntake) {
				t.Fatalf("error %v does not wrap ErrBadIntake", err)
			}
			return
		}
		if err := checkIndexRows(x.Rows); err != nil {
			t.Fatalf("decoded index violates invariants: %v", err)
		}
		for i := 0; i < len(x.Rows); {
			r := x.Rows[i]
			p := x.Partition(r.TopicID, r.Partition)
			if len(p) == 0 || p[0] != r {
				t.Fatalf("Partition(%x, %d) does not start at row %d", r.TopicID, r.Partition, i)
			}
			i += len(p)
		}
		enc, err := EncodeIntakeIndex(x.Rows)
		if err != nil {
			t.Fatal(err)
		}
		y, err := DecodeIntakeIndex(enc, IntakeIndexCRC(enc))
		if err != nil || !slices.Equal(x.Rows, y.Rows) {
			t.Fatalf("re-encoded index does not round trip: %v", err)
		}
	})
}

// TestWriteIntakeFuzzSeeds regenerates the seed corpus in
// testdata/fuzz/FuzzDecodeIntakeIndex when SLUICE_WRITE_FUZZ_SEEDS=1 (run
// it after changing the index format).
func TestWriteIntakeFuzzSeeds(t *testing.T) {
	if os.Getenv("SLUICE_WRITE_FUZZ_SEEDS") != "1" {
		t.Skip("set SLUICE_WRITE_FUZZ_SEEDS=1 to regenerate the seed corpus")
	}
	dir := filepath.Join("testdata", "fuzz", "FuzzDecodeIntakeIndex")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, s := range fuzzSeedIndexes(t) {
		body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", s)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed-index-%d", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
