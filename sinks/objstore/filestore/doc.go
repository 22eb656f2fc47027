// Package filestore is the local-directory object store, Sluice's default
// ("file:///abs/dir" or a bare path).
//
// Sluice acknowledges a produce only once its bytes are durable, and
// gocloud's fileblob does not fsync, hence this package. Put writes the
// object to a temporary file next to its final name, renames it into
// place, and fsyncs the file and the directory concurrently, returning
// once both are durable: readers never see part of an object, and an
// object whose Put returned survives a crash whole. A crash during a Put
// may leave that object torn under its key; it was never acknowledged, so
// nothing refers to it (Sluice commits an object only after its Put
// returned; the lifecycle's vacuum deletes uncommitted objects).
// Directories created on the way are fsynced into their parents too.
//
// Keys map to relative paths ('/' separates directories). Keys that could
// escape the root or alias another key are rejected: empty keys, absolute
// keys, empty, "." or ".." segments, backslashes and NUL bytes. Segments
// starting with the temporary-file prefix (".sluice-tmp-") are reserved.
//
// Importing the package registers the "file" scheme with objstore.Open.
package filestore
