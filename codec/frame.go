package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// DefaultMaxRequestBytes mirrors Kafka's socket.request.max.bytes default.
const DefaultMaxRequestBytes = 100 << 20 // socket.request.max.bytes

var (
	// ErrFrameTooLarge reports a frame size prefix that is negative or above
	// the configured maximum. The body is never read, so the connection
	// must be closed: the stream can no longer be resynchronised.
	ErrFrameTooLarge = errors.New("codec: frame size out of range")
	// ErrMalformed reports a truncated or garbled request header.
	ErrMalformed = errors.New("codec: malformed request header")
)

// frameEagerAlloc is the largest body ReadFrame allocates before any of it
// has arrived. A larger body is read in pieces (framePiece) as its bytes
// arrive, so a client that announces a 100 MiB frame and then stalls
// cannot pin 100 MiB per connection with four bytes, nor with 2 MiB: it
// holds about what it sent.
const frameEagerAlloc = 1 << 20

// framePiece is the size of the pieces the first half of a large frame is
// read into. A piece is taken only once a byte for it has arrived (when the
// reader can Peek), so a stalled frame holds at most one piece more than
// what was sent.
const framePiece = 256 << 10

// framePieces recycles the pieces: a piece is only needed until the
// frame's own buffer is allocated.
var framePieces = sync.Pool{New: func() any { return new([framePiece]byte) }}

// peeker is implemented by readers (bufio.Reader) that can wait for bytes
// without consuming them.
type peeker interface{ Peek(n int) ([]byte, error) }

// ReadFrame reads one size-prefixed Kafka frame (int32 big-endian size, then
// size bytes) and returns the size bytes (freshly allocated, exactly size
// long). A size < 0 or > max returns an error wrapping ErrFrameTooLarge
// without reading the body. io.EOF is returned only if the stream ended
// cleanly before the size; a stream that ends mid-frame gives an error
// wrapping io.ErrUnexpectedEOF.
func ReadFrame(r io.Reader, max int32) ([]byte, error) {
	fr := FrameReader{R: r, Max: max}
	return fr.Read()
}

// FrameReader reads frames as ReadFrame does, charging each frame's bytes
// to Budget as they arrive: it waits (stops reading) while the budget is
// exhausted. On success the returned frame is charged len(frame) bytes,
// which the caller releases once nothing references the frame; on an
// error nothing stays charged.
type FrameReader struct {
	R   io.Reader
	Max int32
	// Budget is charged for the frames read; nil: unbounded.
	Budget *RequestBudget
	// Stop, when closed, ends a wait for budget (with ErrBudgetWait).
	Stop <-chan struct{}
	// Deadline, when set, also ends a wait for budget; the caller sets
	// the reader's own read deadline to match.
	Deadline time.Time
}

// Read reads the next frame.
func (fr *FrameReader) Read() ([]byte, error) {
	var sz [4]byte
	if _, err := io.ReadFull(fr.R, sz[:]); err != nil {
		if err == io.EOF {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("codec: reading frame size: %w", err)
	}
	size := int32(binary.BigEndian.Uint32(sz[:]))
	if size < 0 || size > fr.Max {
		return nil, fmt.Errorf("%w: %d (max %d)", ErrFrameTooLarge, size, fr.Max)
	}
	n := int(size)
	if n <= frameEagerAlloc {
		if err := fr.Budget.Acquire(int64(n), 0, fr.Stop, fr.Deadline); err != nil {
			return nil, err
		}
		buf := make([]byte, n)
		if _, err := io.ReadFull(fr.R, buf); err != nil {
			fr.Budget.Release(int64(n))
			return nil, frameBodyErr(err)
		}
		return buf, nil
	}
	return fr.readLarge(n)
}

// readLarge reads a body of n > frameEagerAlloc bytes. Until half of it
// has arrived it goes into pooled pieces, each charged to the budget
// before it is read into (once its first byte is there); then the frame's buffer is allocated (charged
// for the rest), the pieces are copied in and the rest is read straight
// into it. Memory held for a frame is thus at most twice what the client
// sent (plus a piece), at the cost of copying half of a large frame once.
// Growing one buffer by doubling instead cost a fifth of the broker's CPU
// under a produce load (every step zeroes and copies).
func (fr *FrameReader) readLarge(n int) ([]byte, error) {
	var pieces []*[framePiece]byte
	pk, _ := fr.R.(peeker)
	charged := int64(0)
	fail := func(err error) ([]byte, error) {
		for _, p := range pieces {
			framePieces.Put(p)
		}
		fr.Budget.Release(charged)
		return nil, err
	}
	got := 0
	for got < n/2 {
		if pk != nil {
			if _, err := pk.Peek(1); err != nil {
				return fail(frameBodyErr(err))
			}
		}
		k := min(framePiece, n-got)
		if err := fr.Budget.Acquire(int64(k), charged, fr.Stop, fr.Deadline); err != nil {
			return fail(err)
		}
		charged += int64(k)
		p := framePieces.Get().(*[framePiece]byte)
		pieces = append(pieces, p)
		if _, err := io.ReadFull(fr.R, p[:k]); err != nil {
			return fail(frameBodyErr(err))
		}
		got += k
	}
	if err := fr.Budget.Acquire(int64(n)-charged, charged, fr.Stop, fr.Deadline); err != nil {
		return fail(err)
	}
	charged = int64(n)
	buf := make([]byte, n)
	off := 0
	for _, p := range pieces {
		off += copy(buf[off:got], p[:])
		framePieces.Put(p)
	}
	pieces = nil
	if _, err := io.ReadFull(fr.R, buf[got:]); err != nil {
		return fail(frameBodyErr(err))
	}
	return buf, nil
}

func frameBodyErr(err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("codec: reading frame body: %w", err)
}

// RequestHeader is a Kafka request header (v1 or v2).
type RequestHeader struct {
	APIKey        int16
	APIVersion    int16
	CorrelationID int32
	ClientID      *string // nullable string
	Flexible      bool    // header v2 (tagged fields present)
}

// flexInfo caches, per API key, kmsg's maximum version and the first
// flexible version (-1 if none), so ParseRequestHeader does not allocate a
// kmsg request per call. It is derived from kmsg once, at init, so a kmsg
// upgrade automatically teaches the broker new keys and versions.
type flexInfo struct {
	known     bool
	maxVer    int16
	firstFlex int16
}

var flexTable = buildFlexTable()

func buildFlexTable() []flexInfo {
	var t []flexInfo
	// Kafka keys are small and dense; 1024 is far above any assigned key.
	for k := int16(0); k < 1024; k++ {
		req := kmsg.RequestForKey(k)
		if req == nil {
			continue
		}
		if int(k) >= len(t) {
			t = append(t, make([]flexInfo, int(k)+1-len(t))...)
		}
		fi := flexInfo{known: true, maxVer: req.MaxVersion(), firstFlex: -1}
		for v := int16(0); v <= fi.maxVer; v++ {
			req.SetVersion(v)
			if req.IsFlexible() {
				fi.firstFlex = v
				break
			}
		}
		t[k] = fi
	}
	return t
}

// apiVersionsKey is special-cased: see isFlexible.
const apiVersionsKey = 18

// isFlexible reports whether the request header for key/version is v2.
func isFlexible(key, version int16) bool {
	if key < 0 || int(key) >= len(flexTable) || version < 0 {
		return false
	}
	fi := flexTable[key]
	if !fi.known || fi.firstFlex < 0 || version < fi.firstFlex {
		return false
	}
	if version <= fi.maxVer {
		return true
	}
	// Beyond kmsg's range we normally cannot know the layout, but Kafka
	// derives ApiVersions' header version from its flexibleVersions ("3+")
	// and not from the supported range, and clients send ApiVersions at
	// their own newest version precisely to discover ours (KIP-511). The
	// caller then answers v0 + UNSUPPORTED_VERSION; parsing the tagged
	// fields correctly keeps the body offset right for that path.
	return key == apiVersionsKey
}

// ParseRequestHeader parses the request header at the start of frame and
// returns it and the body after it. An unknown key or a version outside
// kmsg's range parses as a non-flexible (v1) header with a nil error, so the
// caller can still answer using the correlation id (exception: ApiVersions
// at any version >= 3 is flexible, as in Kafka). Truncation gives an error
// wrapping ErrMalformed; the returned header then holds whatever fields
// were read, which lets the caller log or answer with the correlation id.
func ParseRequestHeader(frame []byte) (RequestHeader, []byte, error) {
	var h RequestHeader
	if len(frame) < 8 {
		return h, nil, fmt.Errorf("%w: %d bytes, need at least 8", ErrMalformed, len(frame))
	}
	h.APIKey = int16(binary.BigEndian.Uint16(frame[0:]))
	h.APIVersion = int16(binary.BigEndian.Uint16(frame[2:]))
	h.CorrelationID = int32(binary.BigEndian.Uint32(frame[4:]))
	h.Flexible = isFlexible(h.APIKey, h.APIVersion)
	b := frame[8:]

	// client_id is a classic (non-compact) nullable string even in the
	// flexible v2 header, for backwards compatibility.
	if len(b) < 2 {
		return h, nil, fmt.Errorf("%w: truncated client id length", ErrMalformed)
	}
	l := int16(binary.BigEndian.Uint16(b))
	b = b[2:]
	switch {
	case l == -1:
	case l < -1:
		return h, nil, fmt.Errorf("%w: client id length %d", ErrMalformed, l)
	case int(l) > len(b):
		return h, nil, fmt.Errorf("%w: client id length %d exceeds %d remaining bytes", ErrMalformed, l, len(b))
	default:
		s := string(b[:l])
		h.ClientID = &s
		b = b[l:]
	}

	if h.Flexible {
		rest, err := skipTaggedFields(b)
		if err != nil {
			return h, nil, err
		}
		b = rest
	}
	return h, b, nil
}

// skipTaggedFields skips a tagged-field section: uvarint count, then per
// field uvarint tag, uvarint size and size bytes. No header tags are
// defined that a broker must act on, so they are validated and dropped.
func skipTaggedFields(b []byte) ([]byte, error) {
	n, b, err := readUvarint32(b)
	if err != nil {
		return nil, err
	}
	for i := uint32(0); i < n; i++ {
		if _, b, err = readUvarint32(b); err != nil { // tag
			return nil, err
		}
		var size uint32
		if size, b, err = readUvarint32(b); err != nil {
			return nil, err
		}
		if uint64(size) > uint64(len(b)) {
			return nil, fmt.Errorf("%w: tagged field size %d exceeds %d remaining bytes", ErrMalformed, size, len(b))
		}
		b = b[size:]
	}
	return b, nil
}

// readUvarint32 reads an unsigned varint that must fit 32 bits, as Kafka's
// ByteUtils.readUnsignedVarint requires.
func readUvarint32(b []byte) (uint32, []byte, error) {
	v, n := binary.Uvarint(b)
	if n <= 0 || v > math.MaxUint32 {
		return 0, nil, fmt.Errorf("%w: bad unsigned varint", ErrMalformed)
	}
	return uint32(v), b[n:], nil
}

// AppendResponse appends a complete response frame: int32 size, int32
// correlation id, then (if flexibleHeader) one empty tagged-field byte 0x00,
// then body. The caller decides flexibleHeader: ApiVersions responses always
// use the non-flexible header even at v3+, a Kafka rule.
func AppendResponse(dst []byte, correlationID int32, flexibleHeader bool, body []byte) []byte {
	size := 4 + len(body)
	if flexibleHeader {
		size++
	}
	dst = slices.Grow(dst, 4+size)
	dst = binary.BigEndian.AppendUint32(dst, uint32(size))
	dst = binary.BigEndian.AppendUint32(dst, uint32(correlationID))
	if flexibleHeader {
		dst = append(dst, 0)
	}
	return append(dst, body...)
}
