package lifecycle

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/sluicedata/sluice/sinks/meta"
	"github.com/sluicedata/sluice/sinks/objstore"
)

// Object keys. Every key Sluice writes ends in a path element that starts
// with its creation time as 16 hex digits of Unix nanoseconds, so the
// vacuum knows an object's age from its key alone:
//
//	intake/<yyyy-mm-dd>/<nanos>-<random>             intake objects (stages/produce)
//	archive/<topic id>/<partition>/<nanos>-<random>.seg   segments
//	archive/<topic id>/<partition>/<nanos>-<random>.cat   segment catalogs
//
// One key is Sluice's but not the vacuum's: the cluster marker
// (objstore.MarkerKey, at the root), which ties the object store to the
// metadata store and must outlive every pass. It lies outside both
// prefixes and carries no time; sluiceKey refuses it by name as well, so
// that moving either can never make it garbage.
const (
	intakePrefix  = "intake/"
	archivePrefix = "archive/"
)

// partitionPrefix is where tp's segments and catalogs live.
func partitionPrefix(tp meta.TP) string {
	return fmt.Sprintf("%s%s/%d/", archivePrefix, hex.EncodeToString(tp.Topic[:]), tp.Partition)
}

func newArchiveKey(tp meta.TP, now time.Time, ext string) string {
	var r [8]byte
	_, _ = rand.Read(r[:])
	return fmt.Sprintf("%s%016x-%s.%s", partitionPrefix(tp), now.UnixNano(), hex.EncodeToString(r[:]), ext)
}

// objectTime reads a key's creation time; ok is false for a key Sluice
// did not name (the vacuum leaves those alone).
func objectTime(key string) (time.Time, bool) {
	base := path.Base(key)
	if len(base) < 17 || base[16] != '-' {
		return time.Time{}, false
	}
	n, err := strconv.ParseUint(base[:16], 16, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(0, int64(n)), true
}

// sluiceKey reports whether key is one of the kinds above.
func sluiceKey(key string) bool {
	if key == objstore.MarkerKey {
		return false
	}
	return strings.HasPrefix(key, intakePrefix) || strings.HasPrefix(key, archivePrefix)
}

func metaTP(id meta.TopicID, p int32) meta.TP { return meta.TP{Topic: id, Partition: p} }
