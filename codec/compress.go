package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// ErrDecompressLimit reports output that would exceed the caller's limit:
// a decompression bomb, or simply a batch too large to accept.
var ErrDecompressLimit = errors.New("codec: decompressed size exceeds limit")

// errUnknownCodec wraps ErrInvalidRecord so that a batch with codec bits
// 5..7 maps onto INVALID_RECORD wherever it is detected.
func errUnknownCodec(c Codec) error {
	return fmt.Errorf("%w: unknown compression codec %d", ErrInvalidRecord, int8(c))
}

// Compress appends src compressed with c to dst.
//
//   - gzip: klauspost/compress/gzip at the default level.
//   - snappy: the xerial framing Java producers write (and older Java
//     consumers insist on): 8-byte magic, version 1, compatible 1, then
//     big-endian int32 length-prefixed raw snappy blocks of up to 32 KiB of
//     input each.
//   - lz4: the LZ4 frame format with 64 KiB blocks, Java's default.
//   - zstd: a single frame from a shared, concurrency-safe encoder.
//
// Encoders are pooled or shared so that a call allocates no codec state.
func Compress(c Codec, dst, src []byte) ([]byte, error) {
	switch c {
	case CodecNone:
		return append(dst, src...), nil
	case CodecGzip:
		return compressGzip(dst, src)
	case CodecSnappy:
		return appendXerial(dst, src), nil
	case CodecLZ4:
		return compressLZ4(dst, src)
	case CodecZstd:
		return zstdEncoder().EncodeAll(src, dst), nil
	default:
		return dst, errUnknownCodec(c)
	}
}

// Decompress decompresses src and returns a freshly allocated slice (for
// CodecNone, a copy). For snappy it accepts both xerial-framed and raw
// snappy blocks (franz-go and librdkafka produce raw blocks). Output larger
// than limit bytes is an error wrapping ErrDecompressLimit; decoders stop
// at the limit rather than allocating the claimed size.
func Decompress(c Codec, src []byte, limit int) ([]byte, error) {
	return decompressInto(c, nil, src, limit)
}

// decompressInto is Decompress writing into buf's storage when its
// capacity is enough (the result then aliases buf), so that a caller
// with a pooled buffer decompresses without allocating. A nil buf
// allocates, as Decompress does.
func decompressInto(c Codec, buf, src []byte, limit int) ([]byte, error) {
	if limit < 0 {
		limit = 0
	}
	buf = buf[:0]
	switch c {
	case CodecNone:
		if len(src) > limit {
			return nil, limitErr(limit)
		}
		return append(buf, src...), nil
	case CodecGzip:
		return decompressGzip(buf, src, limit)
	case CodecSnappy:
		return decompressSnappy(buf, src, limit)
	case CodecLZ4:
		return decompressLZ4(buf, src, limit)
	case CodecZstd:
		return decompressZstd(buf, src, limit)
	default:
		return nil, errUnknownCodec(c)
	}
}

// sizedBuffer returns buf[:n] if buf can hold n bytes, else a new slice.
func sizedBuffer(buf []byte, n int) []byte {
	if cap(buf) >= n {
		return buf[:n]
	}
	return make([]byte, n)
}

func limitErr(limit int) error {
	return fmt.Errorf("%w (%d bytes)", ErrDecompressLimit, limit)
}

// appendWriter is an io.Writer appending to a slice; it lets the streaming
// gzip and lz4 writers emit straight into the caller's dst.
type appendWriter struct{ b []byte }

func (w *appendWriter) Write(p []byte) (int, error) {
	w.b = append(w.b, p...)
	return len(p), nil
}

// ---- gzip ----

type gzipEnc struct {
	w   *gzip.Writer
	out appendWriter
}

var gzipEncPool = sync.Pool{New: func() any {
	e := new(gzipEnc)
	e.w = gzip.NewWriter(&e.out)
	return e
}}

func compressGzip(dst, src []byte) ([]byte, error) {
	e := gzipEncPool.Get().(*gzipEnc)
	defer gzipEncPool.Put(e)
	e.out.b = dst
	e.w.Reset(&e.out)
	_, err := e.w.Write(src)
	if cerr := e.w.Close(); err == nil {
		err = cerr
	}
	out := e.out.b
	e.out.b = nil // do not keep the caller's buffer alive in the pool
	if err != nil {
		return dst, fmt.Errorf("codec: gzip: %w", err)
	}
	return out, nil
}

// gzipDec bundles the reader with its source so a decompress allocates
// neither.
type gzipDec struct {
	r   gzip.Reader
	src bytes.Reader
}

var gzipDecPool = sync.Pool{New: func() any { return new(gzipDec) }}

func decompressGzip(buf, src []byte, limit int) ([]byte, error) {
	d := gzipDecPool.Get().(*gzipDec)
	defer gzipDecPool.Put(d)
	d.src.Reset(src)
	if err := d.r.Reset(&d.src); err != nil {
		return nil, fmt.Errorf("codec: gzip: %w", err)
	}
	out, err := readAllLimit(&d.r, buf, len(src), limit)
	d.src.Reset(nil)
	if err != nil {
		return nil, fmt.Errorf("codec: gzip: %w", err)
	}
	return out, nil
}

// readAllLimit reads r to EOF, failing with ErrDecompressLimit as soon as
// more than limit bytes come out. Growth is by doubling from a guess
// based on the compressed size, so a bomb allocates at most ~2*limit and
// only after actually producing that much output. It reads into buf if
// buf's capacity is at least the first guess.
func readAllLimit(r io.Reader, buf []byte, srcLen, limit int) ([]byte, error) {
	guess := min(max(4*srcLen, 512), limit+1)
	out := buf[:0]
	if cap(out) < guess {
		out = make([]byte, 0, guess)
	}
	for {
		if len(out) == cap(out) {
			if len(out) > limit {
				return nil, limitErr(limit)
			}
			// Grow by doubling but never past limit+1: reading one
			// byte more than allowed is how the overflow is detected.
			n := min(max(2*cap(out), 512), limit+1)
			grown := make([]byte, len(out), n)
			copy(grown, out)
			out = grown
		}
		n, err := r.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if len(out) > limit {
			return nil, limitErr(limit)
		}
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// ---- snappy (xerial framing) ----

// xerialMagic is the 8-byte prefix of snappy-java's stream format.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const (
	xerialHeaderLen = 16       // magic, version int32, compatible int32
	xerialBlockSize = 32 << 10 // snappy-java's default block size
)

func appendXerial(dst, src []byte) []byte {
	dst = append(dst, xerialMagic...)
	dst = binary.BigEndian.AppendUint32(dst, 1) // version
	dst = binary.BigEndian.AppendUint32(dst, 1) // minimum compatible version
	if len(src) == 0 {
		// One empty block (a raw snappy block of just its zero length)
		// rather than none: franz-go only recognises the framing when
		// something follows the 16-byte header.
		return append(dst, 0, 0, 0, 1, 0)
	}
	for len(src) > 0 {
		n := min(len(src), xerialBlockSize)
		need := 4 + s2.MaxEncodedLen(n)
		if cap(dst)-len(dst) < need {
			grown := make([]byte, len(dst), 2*cap(dst)+need)
			copy(grown, dst)
			dst = grown
		}
		at := len(dst)
		// EncodeSnappy writes in place when given enough room, so the
		// block lands directly after its (yet unwritten) length.
		block := s2.EncodeSnappy(dst[at+4:at+need], src[:n])
		binary.BigEndian.PutUint32(dst[at:at+4], uint32(len(block)))
		dst = dst[:at+4+len(block)]
		src = src[n:]
	}
	return dst
}

func decompressSnappy(buf, src []byte, limit int) ([]byte, error) {
	if len(src) >= xerialHeaderLen && bytes.Equal(src[:len(xerialMagic)], xerialMagic) {
		return decodeXerial(buf, src[xerialHeaderLen:], limit)
	}
	n, err := s2.DecodedLen(src)
	if err != nil {
		return nil, fmt.Errorf("codec: snappy: %w", err)
	}
	if n > limit {
		return nil, limitErr(limit)
	}
	out, err := s2.Decode(sizedBuffer(buf, n), src)
	if err != nil {
		return nil, fmt.Errorf("codec: snappy: %w", err)
	}
	return out, nil
}

var errXerial = errors.New("codec: snappy: malformed xerial framing")

func decodeXerial(buf, src []byte, limit int) ([]byte, error) {
	// Sum the declared block sizes first: it bounds the output against
	// limit before allocating and lets the output be allocated once.
	total := 0
	for rest := src; len(rest) > 0; {
		if len(rest) < 4 {
			return nil, errXerial
		}
		size := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(size) > uint64(len(rest)) {
			return nil, errXerial
		}
		n, err := s2.DecodedLen(rest[:size])
		if err != nil {
			return nil, fmt.Errorf("codec: snappy: %w", err)
		}
		if n > limit-total {
			return nil, limitErr(limit)
		}
		total += n
		rest = rest[size:]
	}
	out := sizedBuffer(buf, total)
	at := 0
	for len(src) > 0 {
		size := binary.BigEndian.Uint32(src)
		block := src[4 : 4+size]
		n, _ := s2.DecodedLen(block)
		if _, err := s2.Decode(out[at:at+n], block); err != nil {
			return nil, fmt.Errorf("codec: snappy: %w", err)
		}
		at += n
		src = src[4+size:]
	}
	return out, nil
}

// ---- lz4 ----

type lz4Enc struct {
	w   *lz4.Writer
	out appendWriter
}

var lz4EncPool = sync.Pool{New: func() any {
	e := new(lz4Enc)
	e.w = lz4.NewWriter(&e.out)
	// 64 KiB blocks: what Java's KafkaLZ4BlockOutputStream writes, and
	// lz4's match window is 64 KiB anyway, so larger blocks buy little
	// ratio while costing 4 MiB buffers per pooled writer and reader.
	_ = e.w.Apply(lz4.BlockSizeOption(lz4.Block64Kb))
	return e
}}

func compressLZ4(dst, src []byte) ([]byte, error) {
	e := lz4EncPool.Get().(*lz4Enc)
	defer lz4EncPool.Put(e)
	e.out.b = dst
	e.w.Reset(&e.out)
	_, err := e.w.Write(src)
	if cerr := e.w.Close(); err == nil {
		err = cerr
	}
	out := e.out.b
	e.out.b = nil
	if err != nil {
		return dst, fmt.Errorf("codec: lz4: %w", err)
	}
	return out, nil
}

type lz4Dec struct {
	r   *lz4.Reader
	src bytes.Reader
}

var lz4DecPool = sync.Pool{New: func() any { return &lz4Dec{r: lz4.NewReader(nil)} }}

func decompressLZ4(buf, src []byte, limit int) ([]byte, error) {
	d := lz4DecPool.Get().(*lz4Dec)
	defer lz4DecPool.Put(d)
	d.src.Reset(src)
	d.r.Reset(&d.src)
	out, err := readAllLimit(d.r, buf, len(src), limit)
	d.r.Reset(nil)
	d.src.Reset(nil)
	if err != nil {
		return nil, fmt.Errorf("codec: lz4: %w", err)
	}
	return out, nil
}

// ---- zstd ----

// zstdEncoder is shared: EncodeAll is safe for concurrent use and keeps its
// own pool of per-goroutine encoder states, so one instance serves all.
var zstdEncoder = sync.OnceValue(func() *zstd.Encoder {
	e, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(zstd.SpeedDefault),
		// A 1 MiB window keeps each pooled state small; produce
		// batches are rarely larger, so the ratio barely changes.
		zstd.WithWindowSize(1<<20),
		// An empty input must still produce a valid frame, or Java's
		// zstd-jni would fail to decode an empty compressed batch.
		zstd.WithZeroFrames(true),
	)
	if err != nil {
		panic("codec: zstd encoder: " + err.Error()) // options are constant
	}
	return e
})

// zstdDecoders holds one shared decoder per power-of-two output bound.
// DecodeAll is concurrency-safe but its size bound (WithDecoderMaxMemory)
// is fixed per decoder, so a decoder is created lazily for each bound that
// is actually used: at most 64, in practice one or two. The bound rounds
// limit up to a power of two, and is at least 8 MiB because the bound also
// caps the frame window a decoder accepts and ordinary encoders declare
// windows of a few MiB even for small inputs. The exact limit is checked
// against the declared content size before and the real size after
// decoding, so memory stays within max(2*limit, 8 MiB).
var zstdDecoders [64]atomic.Pointer[zstd.Decoder]

const zstdMinSlot = 23 // 8 MiB

func zstdDecoder(limit int) (*zstd.Decoder, error) {
	slot := max(bits.Len64(uint64(limit)), zstdMinSlot)
	if d := zstdDecoders[slot].Load(); d != nil {
		return d, nil
	}
	bound := uint64(1)<<slot - 1
	d, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(0), // GOMAXPROCS parallel DecodeAll calls
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxMemory(bound),
		zstd.WithDecoderMaxWindow(max(min(bound, 1<<27), zstd.MinWindowSize)),
	)
	if err != nil {
		return nil, fmt.Errorf("codec: zstd: %w", err)
	}
	if !zstdDecoders[slot].CompareAndSwap(nil, d) {
		d.Close()
		d = zstdDecoders[slot].Load()
	}
	return d, nil
}

func decompressZstd(buf, src []byte, limit int) ([]byte, error) {
	// Reject a first frame that declares more than limit up front: the
	// cheap, common case of an oversized or hostile batch.
	var fh zstd.Header
	if fh.Decode(src) == nil && fh.HasFCS && fh.FrameContentSize > uint64(limit) {
		return nil, limitErr(limit)
	}
	d, err := zstdDecoder(limit)
	if err != nil {
		return nil, err
	}
	out, err := d.DecodeAll(src, buf[:0])
	if err != nil {
		if errors.Is(err, zstd.ErrDecoderSizeExceeded) {
			return nil, limitErr(limit)
		}
		return nil, fmt.Errorf("codec: zstd: %w", err)
	}
	if len(out) > limit {
		return nil, limitErr(limit)
	}
	return out, nil
}
