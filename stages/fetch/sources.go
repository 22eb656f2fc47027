package fetch

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/sluicedata/sluice/sinks/meta"
)

// source is where the batch bytes of a read came from.
type source int

const (
	// srcMemory: the data cache (objects this broker wrote, runs and
	// segment chunks read before, read-ahead included).
	srcMemory source = iota
	// srcIntake: an intake object in object storage.
	srcIntake
	// srcArchive: an archive segment in object storage.
	srcArchive
	numSources
)

// sourceStages name the sources for the Observer.
var sourceStages = [numSources]string{
	srcMemory:  "fetch.source.memory",
	srcIntake:  "fetch.source.intake",
	srcArchive: "fetch.source.archive",
}

type sourceCounters struct {
	bytes atomic.Int64 // batch bytes served
	gets  atomic.Int64 // object store GETs
}

// kindSource is the storage source of an entry's objects.
func kindSource(k meta.EntryKind) source {
	if k == meta.EntryArchive {
		return srcArchive
	}
	return srcIntake
}

// served counts n batch bytes served from src and, when measuring, reports
// them to the Observer as stage fetch.source.<src>, with the time since
// start (the storage read for intake and archive). Reads under a context
// from Internal are not counted.
func (f *Fetcher) served(ctx context.Context, src source, n int64, start time.Time) {
	if n <= 0 || isInternal(ctx) {
		return
	}
	f.sources[src].bytes.Add(n)
	if f.measuring {
		f.cfg.Observer.Processed(sourceStages[src], 0, time.Since(start), 1, n)
	}
}

// got counts one GET of a src object, unless ctx is Internal.
func (f *Fetcher) got(ctx context.Context, src source) {
	if !isInternal(ctx) {
		f.sources[src].gets.Add(1)
	}
}

// internalKey marks a context whose reads are the broker's own.
type internalKey struct{}

// Internal returns a context whose reads are left out of the source
// counters (SourceBytes, SourceGets, fetch.source.*): the lifecycle reads
// what it archives through the Fetcher, and those reads would otherwise
// count as consumers' reads of intake objects. Read-ahead they start is
// still counted: it serves consumers.
func Internal(ctx context.Context) context.Context {
	return context.WithValue(ctx, internalKey{}, true)
}

func isInternal(ctx context.Context) bool { return ctx.Value(internalKey{}) != nil }

// SourceBytes reports the batch bytes reads were served from, by source:
// memory (the data cache: objects this broker wrote, runs and chunks read
// before or read ahead), intake objects and archive segments in object
// storage.
func (f *Fetcher) SourceBytes() (memory, intake, archive int64) {
	return f.sources[srcMemory].bytes.Load(), f.sources[srcIntake].bytes.Load(), f.sources[srcArchive].bytes.Load()
}

// SourceGets reports the object store GETs reads made: of intake objects
// (indexes and runs), and of archive objects (catalogs, segment indexes and
// chunks, read-ahead included).
func (f *Fetcher) SourceGets() (intake, archive int64) {
	return f.sources[srcIntake].gets.Load(), f.sources[srcArchive].gets.Load()
}
