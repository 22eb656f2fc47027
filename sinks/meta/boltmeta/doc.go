// Package boltmeta is the embedded metadata store, Sluice's default:
// kvmeta over a bbolt database in <dir>/meta.db.
//
// Every Update is a bbolt read-write transaction that fsyncs on commit
// (bbolt's default, which this package never turns off): offsets are
// acknowledged to producers only once their commit is durable. bbolt
// allows one writer at a time, so commits are serialized; the pipelines
// batch many objects into each Commit to amortize the fsync. Commits do
// not write bbolt's freelist (NoFreelistSync, as etcd does: Open rebuilds
// it), and the file is mapped with 1 GiB of address space up front so that
// growing it does not make the writer wait for readers to remap.
//
// bbolt locks the file, so a second process (or a second Open in this
// one) fails after a short timeout instead of hanging.
//
// Importing the package registers the "bolt" and "file" schemes with
// meta.Open, and the empty URL (bolt in the data directory).
package boltmeta
