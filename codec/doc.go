// Package codec holds Sluice's wire-level encoding and decoding of the Kafka
// protocol: request/response framing, request headers, RecordBatch v2
// parsing, validation and construction, record (de)serialisation and the
// four Kafka compression codecs.
//
// Everything here is a pure function over byte slices (ReadFrame's
// io.Reader is the only exception) so it can be fuzzed and benchmarked in
// isolation; the broker decides what to do with the results. Errors wrap a
// small set of sentinels (ErrMalformed, ErrFrameTooLarge, ErrCorrupt,
// ErrInvalidRecord, ErrUnsupportedMagic, ErrDecompressLimit) that map
// one-to-one onto Kafka error codes, so callers use errors.Is.
package codec
