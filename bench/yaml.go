package bench

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// WorkloadSpec is one workload as a YAML file spells it. Keys are the
// command line flag names; durations are Go durations ("20s", "500ms") and
// sizes take an optional KiB, MiB or GiB suffix ("1KiB", "1GiB").
//
//	workloads:
//	  - name: produce-1k
//	    partitions: 8
//	    producers: 1
//	    record-bytes: 1KiB
//	    payload: json
//	    compression: zstd
//	    acks: all
//	    linger: 5ms
//	    warmup: 3s
//	    duration: 20s
//	  - name: latency-5k
//	    rate: 5000
//	    consumers: 1
//
// A file may also hold a single workload at the top level (without the
// "workloads" list). A key left out keeps the value of the base workload
// passed to ParseWorkloads (the flags' defaults, for the command); unknown
// keys are an error.
type WorkloadSpec struct {
	Name             *string  `yaml:"name"`
	Topic            *string  `yaml:"topic"`
	Topics           *int     `yaml:"topics"`
	Partitions       *int32   `yaml:"partitions"`
	Producers        *int     `yaml:"producers"`
	Consumers        *int     `yaml:"consumers"`
	RecordBytes      *size    `yaml:"record-bytes"`
	Payload          *string  `yaml:"payload"`
	Compression      *string  `yaml:"compression"`
	Acks             *string  `yaml:"acks"`
	Idempotent       *bool    `yaml:"idempotent"`
	Linger           *dur     `yaml:"linger"`
	BatchBytes       *size    `yaml:"batch-bytes"`
	MaxBufferedBytes *size    `yaml:"max-buffered-bytes"`
	Partitioner      *string  `yaml:"partitioner"`
	Rate             *float64 `yaml:"rate"`
	Warmup           *dur     `yaml:"warmup"`
	Duration         *dur     `yaml:"duration"`
	CatchUpBytes     *size    `yaml:"catch-up-bytes"`
	DrainTimeout     *dur     `yaml:"drain-timeout"`
	Seed             *uint64  `yaml:"seed"`
}

type workloadFile struct {
	Workloads []WorkloadSpec `yaml:"workloads"`
}

// LoadWorkloads reads workloads from a YAML file (see WorkloadSpec).
func LoadWorkloads(path string, base Workload) ([]Workload, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	ws, err := ParseWorkloads(b, base)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ws, nil
}

// ParseWorkloads parses YAML workloads (see WorkloadSpec) over base and
// validates each.
func ParseWorkloads(data []byte, base Workload) ([]Workload, error) {
	var top map[string]any
	if err := yaml.Unmarshal(data, &top); err != nil {
		return nil, err
	}
	if len(top) == 0 {
		return nil, errors.New("no workloads")
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var specs []WorkloadSpec
	if _, ok := top["workloads"]; ok {
		var list workloadFile
		if err := dec.Decode(&list); err != nil {
			return nil, err
		}
		specs = list.Workloads
	} else {
		var one WorkloadSpec
		if err := dec.Decode(&one); err != nil {
			return nil, err
		}
		specs = []WorkloadSpec{one}
	}
	if len(specs) == 0 {
		return nil, errors.New("no workloads")
	}
	out := make([]Workload, 0, len(specs))
	for i, s := range specs {
		w := s.apply(base)
		if _, err := w.normalized(); err != nil {
			return nil, fmt.Errorf("workload %d (%s): %w", i+1, w.Name, err)
		}
		out = append(out, w)
	}
	return out, nil
}

func (s WorkloadSpec) apply(w Workload) Workload {
	set := func(dst *string, v *string) {
		if v != nil {
			*dst = *v
		}
	}
	set(&w.Name, s.Name)
	set(&w.Topic, s.Topic)
	set(&w.PayloadKind, s.Payload)
	set(&w.Compression, s.Compression)
	set(&w.Acks, s.Acks)
	set(&w.Partitioner, s.Partitioner)
	if s.Topics != nil {
		w.Topics = *s.Topics
	}
	if s.Partitions != nil {
		w.Partitions = *s.Partitions
	}
	if s.Producers != nil {
		w.Producers = *s.Producers
	}
	if s.Consumers != nil {
		w.Consumers = *s.Consumers
	}
	if s.RecordBytes != nil {
		w.RecordBytes = int(*s.RecordBytes)
	}
	if s.Idempotent != nil {
		w.Idempotent = *s.Idempotent
	}
	if s.Linger != nil {
		w.Linger = time.Duration(*s.Linger)
	}
	if s.BatchBytes != nil {
		w.BatchBytes = int32(*s.BatchBytes)
	}
	if s.MaxBufferedBytes != nil {
		w.MaxBufferedBytes = int(*s.MaxBufferedBytes)
	}
	if s.Rate != nil {
		w.Rate = *s.Rate
	}
	if s.Warmup != nil {
		w.Warmup = time.Duration(*s.Warmup)
	}
	if s.Duration != nil {
		w.Duration = time.Duration(*s.Duration)
	}
	if s.CatchUpBytes != nil {
		w.CatchUpBytes = int64(*s.CatchUpBytes)
	}
	if s.DrainTimeout != nil {
		w.DrainTimeout = time.Duration(*s.DrainTimeout)
	}
	if s.Seed != nil {
		w.Seed = *s.Seed
	}
	return w
}

// dur is a time.Duration spelled as a Go duration string in YAML.
type dur time.Duration

func (d *dur) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q: want a duration such as 500ms or 20s", n.Line, n.Value)
	}
	*d = dur(v)
	return nil
}

// size is a byte count: a plain number or one with a B, KiB, MiB or GiB
// (also KB, MB, GB in decimal) suffix.
type size int64

func (s *size) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*s = size(v)
	return nil
}

// ParseSize parses a byte count such as 1024, 1KiB, 64MiB, 1GiB or 10MB.
func ParseSize(s string) (int64, error) {
	t := strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}} {
		if strings.HasSuffix(t, u.suffix) {
			t, mult = strings.TrimSpace(strings.TrimSuffix(t, u.suffix)), u.mult
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 {
		return 0, fmt.Errorf("size %q: want a number of bytes, optionally with KiB, MiB or GiB", s)
	}
	return int64(f * float64(mult)), nil
}
