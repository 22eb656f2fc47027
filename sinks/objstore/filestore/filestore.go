package filestore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"

	"github.com/sluicedata/sluice/sinks/objstore"
)

// tmpPrefix starts the name of every temporary file Put creates. List
// skips such names and keys may not use them, so a half-written object
// is never visible.
const tmpPrefix = ".sluice-tmp-"

func init() {
	objstore.Register("file", func(_ context.Context, u string) (objstore.Store, error) {
		dir, err := dirFromURL(u)
		if err != nil {
			return nil, err
		}
		return New(dir)
	})
}

// dirFromURL turns "file:///abs/dir" or a bare path into a directory.
func dirFromURL(u string) (string, error) {
	if !strings.Contains(u, "://") {
		return filepath.Abs(u)
	}
	p, err := url.Parse(u)
	if err != nil {
		return "", fmt.Errorf("filestore: bad store URL %q: %w", u, err)
	}
	if p.Scheme != "file" {
		return "", fmt.Errorf("filestore: store URL %q is not a file:// URL", u)
	}
	// Only local files: a host would mean a remote share we cannot fsync
	// reliably, and "file://rel/dir" is a common typo for "file:///rel/dir".
	if p.Host != "" && p.Host != "localhost" {
		return "", fmt.Errorf("filestore: store URL %q: host %q not supported (want file:///abs/dir)", u, p.Host)
	}
	if p.Path == "" || !filepath.IsAbs(p.Path) {
		return "", fmt.Errorf("filestore: store URL %q: want an absolute path (file:///abs/dir)", u)
	}
	return filepath.Clean(p.Path), nil
}

// Store is a local-directory object store. Safe for concurrent use.
type Store struct {
	root string
	// dirs caches directories known to exist durably, so that a Put into
	// an existing directory costs no extra stat or fsync.
	dirs sync.Map // string -> struct{}
}

var _ objstore.Store = (*Store)(nil)

// New opens (creating it if needed) the store rooted at dir.
func New(dir string) (*Store, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("filestore: %w", err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("filestore: create root: %w", err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("filestore: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("filestore: %s is not a directory", abs)
	}
	s := &Store{root: abs}
	s.dirs.Store(abs, struct{}{})
	return s, nil
}

// Root returns the store's directory.
func (s *Store) Root() string { return s.root }

// ValidateKey reports whether key is acceptable to this store.
func ValidateKey(key string) error {
	if key == "" {
		return fmt.Errorf("filestore: empty key")
	}
	if strings.HasPrefix(key, "/") {
		return fmt.Errorf("filestore: absolute key %q", key)
	}
	if strings.ContainsAny(key, "\\\x00") {
		return fmt.Errorf("filestore: key %q contains a backslash or NUL", key)
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch {
		case seg == "":
			return fmt.Errorf("filestore: key %q has an empty segment", key)
		case seg == "." || seg == "..":
			return fmt.Errorf("filestore: key %q has a %q segment", key, seg)
		case strings.HasPrefix(seg, tmpPrefix):
			return fmt.Errorf("filestore: key %q uses the reserved prefix %q", key, tmpPrefix)
		}
	}
	return nil
}

func (s *Store) path(key string) (string, error) {
	if err := ValidateKey(key); err != nil {
		return "", err
	}
	return filepath.Join(s.root, filepath.FromSlash(key)), nil
}

// Put writes data under key durably: it writes a temporary file, renames
// it into place, then fsyncs the file and its directory concurrently, and
// returns once both are done. Readers see the old object or the whole new
// one, never part of it (the rename comes after the write). Until Put
// returns, a crash may leave the object torn or missing under its key: it
// was never acknowledged, so nothing refers to it (Sluice commits an
// object only after its Put returned, and the lifecycle's vacuum deletes
// uncommitted objects). Once Put returns nil, the bytes and the directory
// entry are durable.
//
// On an error before the rename the temp file is removed and no object
// becomes visible (an existing object under key is left as it was).
func (s *Store) Put(ctx context.Context, key string, data []byte) (err error) {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := s.path(key)
	if err != nil {
		return err
	}
	dir := filepath.Dir(p)
	if err := s.mkdirs(dir); err != nil {
		return fmt.Errorf("filestore: put %q: %w", key, err)
	}
	f, err := os.CreateTemp(dir, tmpPrefix+"*")
	if err != nil {
		return fmt.Errorf("filestore: put %q: %w", key, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			err = fmt.Errorf("filestore: put %q: %w", key, err)
		}
	}()
	if _, err = f.Write(data); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	if err = os.Rename(tmp, p); err != nil {
		f.Close()
		os.Remove(tmp)
		return err
	}
	// The object's bytes (through the still open file) and its directory
	// entry must both reach the disk before we return; the two fsyncs do
	// not depend on each other, so they run at the same time and Put
	// waits for the slower one instead of their sum.
	dirErr := make(chan error, 1)
	go func() { dirErr <- syncDir(dir) }()
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if derr := <-dirErr; err == nil {
		err = derr
	}
	// On an fsync error the object is visible but maybe not durable. Say
	// so rather than remove it: a retry overwrites it with the same bytes.
	return err
}

// mkdirs creates dir and any missing parents below the root, fsyncing
// each parent after creating a child in it so the new directory entries
// survive a crash.
func (s *Store) mkdirs(dir string) error {
	if _, ok := s.dirs.Load(dir); ok {
		return nil
	}
	parent := filepath.Dir(dir)
	if dir != s.root && parent != dir {
		if err := s.mkdirs(parent); err != nil {
			return err
		}
	}
	err := os.Mkdir(dir, 0o755)
	switch {
	case err == nil:
		if err := syncDir(parent); err != nil {
			return err
		}
	case errors.Is(err, fs.ErrExist):
		fi, serr := os.Stat(dir)
		if serr != nil {
			return serr
		}
		if !fi.IsDir() {
			return fmt.Errorf("%s exists and is not a directory", dir)
		}
		// It may have been created by a concurrent Put that has not
		// fsynced the parent yet; fsync it ourselves rather than trust it.
		if err := syncDir(parent); err != nil {
			return err
		}
	default:
		return err
	}
	s.dirs.Store(dir, struct{}{})
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// GetRange reads length bytes at off (length < 0: to the end). Reading
// past the end returns what exists, possibly nothing.
func (s *Store) GetRange(ctx context.Context, key string, off, length int64) ([]byte, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if off < 0 {
		return nil, fmt.Errorf("filestore: get %q: negative offset %d", key, off)
	}
	p, err := s.path(key)
	if err != nil {
		return nil, err
	}
	// Opening per call keeps the store stateless; the page cache makes
	// repeated opens cheap next to the object-sized reads Sluice does.
	f, err := os.Open(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil, objstore.ErrNotFound
		}
		return nil, fmt.Errorf("filestore: get %q: %w", key, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("filestore: get %q: %w", key, err)
	}
	if fi.IsDir() {
		return nil, objstore.ErrNotFound
	}
	size := fi.Size()
	if off >= size || length == 0 {
		return []byte{}, nil
	}
	n := size - off
	if length >= 0 && length < n {
		n = length
	}
	buf := make([]byte, n)
	m, err := f.ReadAt(buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("filestore: get %q: %w", key, err)
	}
	// The file cannot shrink (objects are replaced by rename, not
	// truncated), but be exact about what was read anyway.
	return buf[:m], nil
}

// Delete removes key; a missing key is not an error. The directory is not
// fsynced: an object that reappears after a crash is just garbage that
// the next cleanup deletes again, and not syncing keeps bulk deletes cheap.
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	p, err := s.path(key)
	if err != nil {
		return err
	}
	fi, err := os.Lstat(p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
			return nil
		}
		return fmt.Errorf("filestore: delete %q: %w", key, err)
	}
	if fi.IsDir() {
		return nil // a "directory" key is not an object
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("filestore: delete %q: %w", key, err)
	}
	return nil
}

// List calls fn for each key with prefix, in lexical (byte) order, until fn
// returns false.
//
// A plain directory walk is not lexical over whole keys ("a/b" would come
// before "a-c" although '-' < '/'), so each directory's entries are sorted
// with directories compared as "name/". Subtrees that cannot hold a key
// with the prefix are not read.
func (s *Store) List(ctx context.Context, prefix string, fn func(key string, size int64) bool) error {
	_, err := s.walk(ctx, s.root, "", prefix, fn)
	return err
}

// walk lists dir, whose keys start with rel ("" or "a/b/"). It returns
// false once fn asked to stop.
func (s *Store) walk(ctx context.Context, dir, rel, prefix string, fn func(string, int64) bool) (bool, error) {
	if err := ctx.Err(); err != nil {
		return false, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && dir != s.root {
			return true, nil // removed concurrently
		}
		return false, fmt.Errorf("filestore: list: %w", err)
	}
	type item struct {
		name string // key (files) or key prefix ending in '/' (dirs)
		dir  bool
	}
	items := make([]item, 0, len(ents))
	for _, e := range ents {
		name := e.Name()
		if strings.HasPrefix(name, tmpPrefix) {
			continue
		}
		if e.IsDir() {
			items = append(items, item{rel + name + "/", true})
		} else if e.Type().IsRegular() {
			items = append(items, item{rel + name, false})
		}
	}
	slices.SortFunc(items, func(a, b item) int { return strings.Compare(a.name, b.name) })
	for _, it := range items {
		// Descend only where keys with the prefix can be: the subtree's
		// prefix and ours must be prefixes of one another.
		if !strings.HasPrefix(it.name, prefix) && !strings.HasPrefix(prefix, it.name) {
			if it.name > prefix {
				break // sorted: nothing later can match either
			}
			continue
		}
		if it.dir {
			more, err := s.walk(ctx, filepath.Join(dir, filepath.Base(it.name[:len(it.name)-1])), it.name, prefix, fn)
			if err != nil || !more {
				return more, err
			}
			continue
		}
		if !strings.HasPrefix(it.name, prefix) {
			continue
		}
		fi, err := os.Stat(filepath.Join(s.root, filepath.FromSlash(it.name)))
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted since ReadDir
			}
			return false, fmt.Errorf("filestore: list: %w", err)
		}
		if !fn(it.name, fi.Size()) {
			return false, nil
		}
	}
	return true, nil
}

// Close releases nothing: the store holds no open files between calls.
func (s *Store) Close() error { return nil }
