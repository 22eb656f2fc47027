package filestore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sluicedata/sluice/sinks/objstore"
	"github.com/sluicedata/sluice/sinks/objstore/objstoretest"
)

func TestConformance(t *testing.T) {
	objstoretest.Run(t, func(t *testing.T) objstore.Store {
		s, err := New(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		return s
	}, objstoretest.Prefixes(func(t *testing.T) objstoretest.PrefixOpener {
		// A directory's prefix is a subdirectory: file:///dir/prefix.
		dir := t.TempDir()
		return func(t *testing.T, prefix string) objstore.Store {
			s, err := New(filepath.Join(dir, prefix))
			if err != nil {
				t.Fatal(err)
			}
			return s
		}
	}))
}

// tempFiles returns every leftover temporary file under root.
func tempFiles(t *testing.T, root string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.HasPrefix(d.Name(), tmpPrefix) {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestPutDurableLayout checks what can be checked of durability without
// pulling the plug: once Put returns, the final file holds the bytes and
// no temporary file is left behind.
func TestPutDurableLayout(t *testing.T) {
	root := t.TempDir()
	s, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	d := bytes.Repeat([]byte("sluice"), 10000)
	if err := s.Put(context.Background(), "x/y/z.obj", d); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(root, "x", "y", "z.obj"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, d) {
		t.Fatalf("file holds %d bytes, want %d", len(got), len(d))
	}
	if tf := tempFiles(t, root); len(tf) != 0 {
		t.Fatalf("temp files left: %v", tf)
	}
}

// TestPutNeverVisiblyPartial overwrites one key again and again with
// objects of different sizes and contents while readers read it: every
// read must be one whole object, never a mix or a prefix (the bytes reach
// the key by rename, after the write).
func TestPutNeverVisiblyPartial(t *testing.T) {
	s, _ := New(t.TempDir())
	ctx := context.Background()
	objects := [][]byte{bytes.Repeat([]byte("a"), 1<<20), bytes.Repeat([]byte("b"), 3<<20), bytes.Repeat([]byte("c"), 256<<10)}
	if err := s.Put(ctx, "k", objects[0]); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	var reads atomic.Int64
	for range 3 {
		wg.Go(func() {
			for !stop.Load() {
				got, err := s.GetRange(ctx, "k", 0, -1)
				if err != nil {
					errs <- err
					return
				}
				reads.Add(1)
				whole := false
				for _, o := range objects {
					whole = whole || bytes.Equal(got, o)
				}
				if !whole {
					errs <- fmt.Errorf("read %d bytes starting %q: not one whole object", len(got), got[:min(len(got), 1)])
					return
				}
			}
		})
	}
	for i := range 60 {
		if err := s.Put(ctx, "k", objects[i%len(objects)]); err != nil {
			t.Fatal(err)
		}
	}
	stop.Store(true)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if reads.Load() == 0 {
		t.Fatal("no read happened during the puts")
	}
}

// BenchmarkPut is one durable Put of a flush-sized object (the produce
// path waits for it before committing).
func BenchmarkPut(b *testing.B) {
	for _, size := range []int{64 << 10, 1 << 20} {
		b.Run(fmt.Sprintf("bytes=%d", size), func(b *testing.B) {
			s, _ := New(b.TempDir())
			data := bytes.Repeat([]byte("x"), size)
			ctx := context.Background()
			b.SetBytes(int64(size))
			for i := 0; b.Loop(); i++ {
				if err := s.Put(ctx, fmt.Sprintf("intake/2025-01-01/%016x", i), data); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestPutFailsMidway makes the final rename fail (the key names an
// existing directory) after the temp file was written: no object may
// appear and the temp file must be gone.
func TestPutFailsMidway(t *testing.T) {
	root := t.TempDir()
	s, _ := New(root)
	ctx := context.Background()
	if err := s.Put(ctx, "a/b", []byte("child")); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "a", []byte("would shadow a directory")); err == nil {
		t.Fatal("Put over a directory succeeded")
	}
	if _, err := s.GetRange(ctx, "a", 0, -1); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("GetRange(a) err = %v, want ErrNotFound", err)
	}
	var keys []string
	s.List(ctx, "", func(k string, _ int64) bool { keys = append(keys, k); return true })
	if len(keys) != 1 || keys[0] != "a/b" {
		t.Fatalf("List = %v", keys)
	}
	if tf := tempFiles(t, root); len(tf) != 0 {
		t.Fatalf("temp files left: %v", tf)
	}
}

// TestPutReadOnlyDir: a Put into a directory we may not write fails
// cleanly. Root ignores permissions, so the test cannot run as root.
func TestPutReadOnlyDir(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("permissions are not enforced for root")
	}
	root := t.TempDir()
	s, _ := New(root)
	ctx := context.Background()
	if err := s.Put(ctx, "ro/first", []byte("1")); err != nil {
		t.Fatal(err)
	}
	ro := filepath.Join(root, "ro")
	if err := os.Chmod(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	defer os.Chmod(ro, 0o755)
	if err := s.Put(ctx, "ro/second", []byte("2")); err == nil {
		t.Fatal("Put into read-only dir succeeded")
	}
	if _, err := s.GetRange(ctx, "ro/second", 0, -1); !errors.Is(err, objstore.ErrNotFound) {
		t.Fatalf("err = %v, want ErrNotFound", err)
	}
	if tf := tempFiles(t, root); len(tf) != 0 {
		t.Fatalf("temp files left: %v", tf)
	}
}

// TestListSkipsTempFiles: a crash between create and rename leaves a temp
// file; it must never be listed or readable as an object.
func TestListSkipsTempFiles(t *testing.T) {
	root := t.TempDir()
	s, _ := New(root)
	ctx := context.Background()
	s.Put(ctx, "d/real", []byte("r"))
	if err := os.WriteFile(filepath.Join(root, "d", tmpPrefix+"123"), []byte("partial"), 0o644); err != nil {
		t.Fatal(err)
	}
	var keys []string
	s.List(ctx, "", func(k string, _ int64) bool { keys = append(keys, k); return true })
	if len(keys) != 1 || keys[0] != "d/real" {
		t.Fatalf("List = %v", keys)
	}
	if _, err := s.GetRange(ctx, "d/"+tmpPrefix+"123", 0, -1); err == nil {
		t.Fatal("temp file readable as an object")
	}
}

func TestBadKeys(t *testing.T) {
	s, _ := New(t.TempDir())
	ctx := context.Background()
	for _, k := range []string{"", "/abs", "a/../b", "..", "a//b", "a/", "./a", "a/.", `a\b`, "a\x00b", tmpPrefix + "x", "d/" + tmpPrefix} {
		if err := s.Put(ctx, k, []byte("x")); err == nil {
			t.Errorf("Put(%q) accepted", k)
		}
		if _, err := s.GetRange(ctx, k, 0, -1); err == nil || errors.Is(err, objstore.ErrNotFound) {
			t.Errorf("GetRange(%q) err = %v, want a key error", k, err)
		}
		if err := s.Delete(ctx, k); err == nil {
			t.Errorf("Delete(%q) accepted", k)
		}
	}
}

func TestOpenURL(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, u := range []string{"file://" + dir, "file://localhost" + dir, dir, filepath.Join(dir, "sub")} {
		s, err := objstore.Open(ctx, u)
		if err != nil {
			t.Fatalf("Open(%q): %v", u, err)
		}
		if _, ok := s.(*Store); !ok {
			t.Fatalf("Open(%q) = %T", u, s)
		}
		s.Close()
	}
	for _, u := range []string{"file://rel/dir", "file://host/abs", "file:rel", "ftp://x/y", ""} {
		if _, err := objstore.Open(ctx, u); err == nil {
			t.Errorf("Open(%q) succeeded", u)
		} else if u != "" && !strings.Contains(err.Error(), u) {
			t.Errorf("Open(%q) error does not name the URL: %v", u, err)
		}
	}
}
