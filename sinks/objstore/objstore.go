package objstore

import (
	"context"
	"errors"
)

// ErrNotFound is returned for an object that does not exist.
var ErrNotFound = errors.New("objstore: object not found")

// Store is an object store as Sluice uses it: whole-object writes that are
// durable when Put returns, ranged reads, deletes and listing. Every method
// is safe for concurrent use.
type Store interface {
	// Put writes data under key. When it returns nil the object is durable
	// (for the local directory: fsynced, with its directory entry).
	Put(ctx context.Context, key string, data []byte) error
	// GetRange reads length bytes at offset off of key; length < 0 reads to
	// the end. Reading past the end returns what exists (io.ErrUnexpectedEOF
	// is not an error here); a missing key is ErrNotFound.
	GetRange(ctx context.Context, key string, off, length int64) ([]byte, error)
	// Delete removes key; a missing key is not an error.
	Delete(ctx context.Context, key string) error
	// List calls fn for each key with the prefix, in lexical order, until
	// fn returns false.
	List(ctx context.Context, prefix string, fn func(key string, size int64) bool) error
	Close() error
}
