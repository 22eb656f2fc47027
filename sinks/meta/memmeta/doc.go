// Package memmeta is the in-memory metadata store (mem://), for tests and
// development: kvmeta over a sorted in-memory key-value map.
//
// Transactions are serialized by a read-write mutex: View holds the read
// lock (so it sees a consistent state), Update the write lock. Update
// writes in place and keeps an undo log of the first old value of every
// key it touches; if the function fails (or panics) the log is replayed,
// so a failed Update leaves no trace and, since readers are locked out
// meanwhile, none ever sees a partial one.
//
// Keys are kept in a sorted slice beside the map: inserts are O(n)
// memmoves, plenty for the sizes tests and development reach.
//
// Importing the package registers the "mem" scheme with meta.Open.
package memmeta
