package boltmeta

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/sinks/meta/kvmeta"
)

// FileName is the database file's name inside the store's directory.
const FileName = "meta.db"

// bucket holds every key: kvmeta has its own key prefixes, and one bucket
// keeps cursors simple.
var bucket = []byte("sluice")

// lockTimeout bounds the wait for the file lock held by another opener
// (a var so tests need not wait that long).
var lockTimeout = 2 * time.Second

func init() {
	opener := func(_ context.Context, u, dataDir string) (meta.Store, error) {
		dir, err := dirFromURL(u, dataDir)
		if err != nil {
			return nil, err
		}
		return Open(dir)
	}
	meta.Register("bolt", opener)
	meta.Register("file", opener)
}

// dirFromURL resolves "" (dataDir), "bolt:///dir" and "file:///dir".
func dirFromURL(u, dataDir string) (string, error) {
	if u == "" {
		if dataDir == "" {
			return "", errors.New("boltmeta: no metadata store URL and no data directory")
		}
		return dataDir, nil
	}
	p, err := url.Parse(u)
	if err != nil {
		return "", fmt.Errorf("boltmeta: bad metadata store URL %q: %w", u, err)
	}
	if p.Host != "" && p.Host != "localhost" {
		return "", fmt.Errorf("boltmeta: metadata store URL %q: host %q not supported (want %s:///abs/dir)", u, p.Host, p.Scheme)
	}
	if !filepath.IsAbs(p.Path) || p.RawQuery != "" {
		return "", fmt.Errorf("boltmeta: metadata store URL %q: want %s:///abs/dir", u, p.Scheme)
	}
	return filepath.Clean(p.Path), nil
}

// Open opens (creating if needed) the store in dir, file dir/meta.db.
func Open(dir string) (meta.Store, error) {
	kv, err := OpenKV(dir)
	if err != nil {
		return nil, err
	}
	return kvmeta.NewLimited(kv, CommitLimits), nil
}

// CommitLimits bound one Commit by the rows it writes (index entries,
// partition and producer-state rows, one unit each). bbolt has no hard
// limit, but a transaction keeps every page it dirties in memory until it
// commits, and spills and fsyncs them all at once while no other write
// runs: 256 Ki rows are some 30 MB of keys and values, over twice what a
// full commit group writes (8 flushes of 4096 batches, each batch to its
// own idempotent partition: 3 rows a batch).
var CommitLimits = meta.CommitLimits{Max: 256 << 10, Entry: 1, Partition: 1, Producer: 1}

// KV is a kvmeta.KV over a bbolt database.
type KV struct {
	db *bolt.DB
}

var _ kvmeta.KV = (*KV)(nil)

// OpenKV opens the bbolt key-value store in dir (dir/meta.db).
func OpenKV(dir string) (*KV, error) {
	return openKV(dir, options())
}

// options are the bbolt settings. None of them touches durability: every
// commit still writes its pages, fdatasyncs, writes the meta page and
// fdatasyncs again before it returns.
func options() *bolt.Options {
	return &bolt.Options{
		Timeout: lockTimeout,
		// Commits do not write the freelist (fewer pages written and
		// synced per commit); Open rebuilds it by scanning the file, as
		// etcd does.
		NoFreelistSync: true,
		FreelistType:   bolt.FreelistMapType,
		// Reserve address space (not memory) up front: growing the file
		// within the mapping needs no remap, and a remap makes the writer
		// wait for every open read transaction.
		InitialMmapSize: initialMmapSize,
	}
}

// initialMmapSize is the address space mapped at open (1 GiB): only the
// pages touched count towards the resident set.
const initialMmapSize = 1 << 30

func openKV(dir string, opts *bolt.Options) (*KV, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("boltmeta: %w", err)
	}
	path := filepath.Join(dir, FileName)
	db, err := bolt.Open(path, 0o600, opts)
	if err != nil {
		return nil, fmt.Errorf("boltmeta: open %s: %w", path, err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucket)
		return err
	})
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("boltmeta: init %s: %w", path, err)
	}
	return &KV{db: db}, nil
}

// View runs fn in a bbolt read transaction.
func (k *KV) View(fn func(kvmeta.Tx) error) error {
	return k.wrap(k.db.View(func(tx *bolt.Tx) error { return fn(boltTx{tx.Bucket(bucket)}) }))
}

// Update runs fn in a bbolt read-write transaction, fsynced on commit.
func (k *KV) Update(fn func(kvmeta.Tx) error) error {
	return k.wrap(k.db.Update(func(tx *bolt.Tx) error { return fn(boltTx{tx.Bucket(bucket)}) }))
}

// wrap maps bbolt's closed-database error to meta.ErrClosed.
func (k *KV) wrap(err error) error {
	if errors.Is(err, bolt.ErrDatabaseNotOpen) {
		return meta.ErrClosed
	}
	return err
}

// Close closes the database.
func (k *KV) Close() error { return k.db.Close() }

type boltTx struct{ b *bolt.Bucket }

func (t boltTx) Get(key []byte) []byte { return t.b.Get(key) }

func (t boltTx) Put(key, val []byte) error { return t.b.Put(key, val) }

func (t boltTx) Delete(key []byte) error { return t.b.Delete(key) }

func (t boltTx) Seek(prefix, from []byte, fn func(k, v []byte) bool) error {
	start := prefix
	if bytes.Compare(from, prefix) > 0 {
		start = from
	}
	c := t.b.Cursor()
	for k, v := c.Seek(start); k != nil && bytes.HasPrefix(k, prefix); k, v = c.Next() {
		if !fn(k, v) {
			break
		}
	}
	return nil
}
