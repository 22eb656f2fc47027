// Package layering makes Sluice's intended layering executable: its test
// fails when a package imports what its layer must not know (as Pebble
// keeps its lint rules as tests).
//
// The rules (Rules) are checked over an import graph, a plain map from a
// package to its imports, so that each rule is proven to fire by a table
// test on a made-up graph; the same test then loads the repository's real
// graph with `go list -deps -json` (non-test files, the default build tags)
// and the import lines of each file with go/parser, and expects no
// violation:
//
//   - pipeline/ is the generic engine: nothing it depends on, directly or
//     not, is Kafka (franz-go), a cloud SDK (Google Cloud, AWS, Azure, Go
//     CDK, gRPC), a data format (Arrow, compression codecs, protobuf,
//     Sluice's codec), nor any other Sluice layer.
//   - codec/ does no I/O: no file of it imports os, net, syscall or
//     io/ioutil, nor the stores or the stages. io is allowed: ReadFrame
//     reads a frame from an io.Reader, and the compression codecs stream
//     over memory.
//   - sinks/ (the stores) never depend on stages/.
package layering
