// Package fetch is Sluice's fetch path, the produce pipeline in reverse:
//
//	plan ─► index ─► read ─► assemble ─► respond
//
// plan asks the metadata store which index entries (object byte runs) hold
// offsets at or after the fetch offset, below the high watermark; index
// reads each object's Arrow batch index (cached); read fetches the byte
// ranges of the batches wanted, through a bounded cache that also holds the
// objects this broker wrote recently, so tailing consumers never touch the
// object store; assemble copies the batches into the response, stamping
// each with its assigned base offset (outside the batch CRC), and honours
// the request's and each partition's max bytes (the first batch always goes
// out whole, as Kafka requires for progress).
//
// A partition's oldest entry may be an archive entry, standing for the
// segment objects its catalog lists (archive.go): read segment by segment,
// in aligned chunks with background read-ahead, so that a consumer
// catching up reads large sequential ranges. Every read is counted by
// source (memory, intake, archive; SourceBytes, SourceGets) and reported
// to the Observer as the steps fetch.source.<source>, except the broker's
// own reads under a context from Internal (what the lifecycle archives).
//
// Every batch read from an object store is checked (check.go) before it
// is served or handed to the lifecycle: once per range the data cache
// holds, when it arrives. A corrupt batch is refused with ErrCorrupt (a
// retriable storage error for the client), counted and logged once per
// object range; the batches before it are still served.
//
// The steps run one after another for each partition of a request: a fetch
// is latency-bound and the broker already runs one fetch per connection
// in parallel, so channels between the steps would only add hops. Each step
// is measured through the Observer like a pipeline stage.
//
// Long polling waits on a Waker that the produce pipeline's commit stage
// signals, never by polling the store.
package fetch
