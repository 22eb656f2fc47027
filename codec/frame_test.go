package codec

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"testing/iotest"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func sizePrefixed(body []byte) []byte {
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(body))), body...)
}

func TestReadFrame(t *testing.T) {
	body := []byte("hello kafka")
	stream := append(sizePrefixed(body), sizePrefixed(nil)...)
	r := bytes.NewReader(stream)
	got, err := ReadFrame(r, 100)
	if err != nil || !bytes.Equal(got, body) || cap(got) != len(body) {
		t.Fatalf("%q %v", got, err)
	}
	got, err = ReadFrame(r, 100)
	if err != nil || got == nil || len(got) != 0 {
		t.Fatalf("empty frame: %q %v", got, err)
	}
	if _, err := ReadFrame(r, 100); err != io.EOF {
		t.Fatalf("clean end: %v", err)
	}
	if _, err := ReadFrame(bytes.NewReader([]byte{0, 0}), 100); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("partial size: %v", err)
	}
	if _, err := ReadFrame(bytes.NewReader(sizePrefixed(body)[:8]), 100); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("partial body: %v", err)
	}
	if _, err := ReadFrame(bytes.NewReader([]byte{0, 0, 0, 5}), 100); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("missing body: %v", err)
	}
	if _, err := ReadFrame(iotest.ErrReader(io.ErrClosedPipe), 100); !errors.Is(err, io.ErrClosedPipe) {
		t.Fatalf("reader error: %v", err)
	}
}

func TestReadFrameTooLargeDoesNotReadBody(t *testing.T) {
	for _, size := range []uint32{101, 0xffffffff, 0x80000000} {
		stream := binary.BigEndian.AppendUint32(nil, size)
		stream = append(stream, make([]byte, 200)...)
		r := bytes.NewReader(stream)
		if _, err := ReadFrame(r, 100); !errors.Is(err, ErrFrameTooLarge) {
			t.Fatalf("size %d: %v", size, err)
		}
		if r.Len() != 200 {
			t.Fatalf("size %d: body was read (%d left)", size, r.Len())
		}
	}
}

func TestReadFrameLarge(t *testing.T) {
	// Above frameEagerAlloc, through a reader that returns short reads,
	// so the incremental growth path is exercised.
	body := make([]byte, 3*frameEagerAlloc+12345)
	for i := range body {
		body[i] = byte(i * 7)
	}
	got, err := ReadFrame(iotest.HalfReader(bytes.NewReader(sizePrefixed(body))), DefaultMaxRequestBytes)
	if err != nil || !bytes.Equal(got, body) || cap(got) != len(body) {
		t.Fatalf("len %d cap %d err %v", len(got), cap(got), err)
	}
	_, err = ReadFrame(bytes.NewReader(sizePrefixed(body)[:2*frameEagerAlloc]), DefaultMaxRequestBytes)
	if !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("truncated large: %v", err)
	}
}

// TestParseRequestHeaderFranz parses requests framed by franz-go's own
// RequestFormatter, flexible and not.
func TestParseRequestHeaderFranz(t *testing.T) {
	produce := func(v int16) kmsg.Request {
		r := kmsg.NewPtrProduceRequest()
		r.Version = v
		r.Acks = -1
		r.TimeoutMillis = 1234
		return r
	}
	apiVersions := func(v int16) kmsg.Request {
		r := kmsg.NewPtrApiVersionsRequest()
		r.Version = v
		r.ClientSoftwareName = "sluice-test"
		r.ClientSoftwareVersion = "1"
		return r
	}
	metadata := func(v int16) kmsg.Request {
		r := kmsg.NewPtrMetadataRequest()
		r.Version = v
		return r
	}
	cases := []struct {
		req      kmsg.Request
		flexible bool
	}{
		{produce(3), false},
		{produce(8), false},
		{produce(9), true},
		{apiVersions(0), false},
		{apiVersions(2), false},
		{apiVersions(3), true},
		{metadata(1), false},
		{metadata(9), true},
	}
	for _, withID := range []bool{true, false} {
		var opts []kmsg.RequestFormatterOpt
		if withID {
			opts = append(opts, kmsg.FormatterClientID("my-client"))
		}
		f := kmsg.NewRequestFormatter(opts...)
		for _, tc := range cases {
			frame := f.AppendRequest(nil, tc.req, 0x01020304)
			body, err := ReadFrame(bytes.NewReader(frame), DefaultMaxRequestBytes)
			if err != nil {
				t.Fatal(err)
			}
			h, rest, err := ParseRequestHeader(body)
			if err != nil {
				t.Fatalf("key %d v%d: %v", tc.req.Key(), tc.req.GetVersion(), err)
			}
			if h.APIKey != tc.req.Key() || h.APIVersion != tc.req.GetVersion() || h.CorrelationID != 0x01020304 || h.Flexible != tc.flexible {
				t.Fatalf("key %d v%d: %+v", tc.req.Key(), tc.req.GetVersion(), h)
			}
			if withID != (h.ClientID != nil) || (withID && *h.ClientID != "my-client") {
				t.Fatalf("client id %v", h.ClientID)
			}
			// The rest must be exactly the request body franz-go wrote.
			if want := tc.req.AppendTo(nil); !bytes.Equal(rest, want) {
				t.Fatalf("key %d v%d: body\n got %x\nwant %x", tc.req.Key(), tc.req.GetVersion(), rest, want)
			}
			// And decode with kmsg.
			dec := kmsg.RequestForKey(h.APIKey)
			dec.SetVersion(h.APIVersion)
			if err := dec.ReadFrom(rest); err != nil {
				t.Fatalf("kmsg cannot read body: %v", err)
			}
		}
	}
}

func header(key, version int16, corr int32, clientID *string) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(key))
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	if clientID == nil {
		return binary.BigEndian.AppendUint16(b, 0xffff)
	}
	b = binary.BigEndian.AppendUint16(b, uint16(len(*clientID)))
	return append(b, *clientID...)
}

func TestParseRequestHeaderEdges(t *testing.T) {
	id := "c"
	// Unknown key: non-flexible, nil error, correlation id available.
	h, rest, err := ParseRequestHeader(append(header(9999, 0, 77, &id), 0xAA))
	if err != nil || h.Flexible || h.CorrelationID != 77 || !bytes.Equal(rest, []byte{0xAA}) {
		t.Fatalf("unknown key: %+v %x %v", h, rest, err)
	}
	// Produce beyond kmsg's range: non-flexible.
	h, rest, err = ParseRequestHeader(append(header(0, 999, 5, nil), 0x00, 0x01))
	if err != nil || h.Flexible || len(rest) != 2 {
		t.Fatalf("produce v999: %+v %x %v", h, rest, err)
	}
	// Negative version: non-flexible.
	if h, _, err = ParseRequestHeader(header(0, -1, 5, nil)); err != nil || h.Flexible {
		t.Fatalf("negative version: %+v %v", h, err)
	}
	// ApiVersions beyond kmsg's range stays flexible (Kafka/KIP-511).
	h, rest, err = ParseRequestHeader(append(header(18, 999, 5, &id), 0x00, 0xBB))
	if err != nil || !h.Flexible || !bytes.Equal(rest, []byte{0xBB}) {
		t.Fatalf("ApiVersions v999: %+v %x %v", h, rest, err)
	}
	// Flexible header with two tagged fields is skipped correctly.
	b := header(0, 9, 1, &id)
	b = append(b, 2)                // two tags
	b = append(b, 0, 3, 1, 2, 3)    // tag 0, size 3
	b = append(b, 0x81, 0x01, 1, 9) // tag 129 (two-byte uvarint), size 1
	b = append(b, 0xCC)             // body
	h, rest, err = ParseRequestHeader(b)
	if err != nil || !h.Flexible || !bytes.Equal(rest, []byte{0xCC}) {
		t.Fatalf("tagged: %+v %x %v", h, rest, err)
	}
	// Every truncation of that header fails with ErrMalformed, except the
	// full frame minus its body.
	full := b[:len(b)-1]
	for n := 0; n < len(full); n++ {
		if _, _, err := ParseRequestHeader(full[:n]); !errors.Is(err, ErrMalformed) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	// Truncation after the correlation id still reports it.
	h, _, err = ParseRequestHeader(full[:9])
	if !errors.Is(err, ErrMalformed) || h.CorrelationID != 1 {
		t.Fatalf("partial: %+v %v", h, err)
	}
	// Bad client id length.
	bad := header(0, 3, 1, nil)
	binary.BigEndian.PutUint16(bad[8:], 0xfffe) // -2
	if _, _, err := ParseRequestHeader(bad); !errors.Is(err, ErrMalformed) {
		t.Fatalf("client id -2: %v", err)
	}
	// Oversized tagged-field count / size and overflowing uvarints.
	for _, tail := range [][]byte{
		{5},
		{1, 0, 100},
		{0xff, 0xff, 0xff, 0xff, 0xff, 0x01},
		{0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80},
	} {
		if _, _, err := ParseRequestHeader(append(header(0, 9, 1, nil), tail...)); !errors.Is(err, ErrMalformed) {
			t.Fatalf("tail %x: %v", tail, err)
		}
	}
}

func TestFlexTableMatchesKmsg(t *testing.T) {
	for k := int16(0); k < int16(len(flexTable)); k++ {
		req := kmsg.RequestForKey(k)
		if req == nil {
			continue
		}
		for v := int16(0); v <= req.MaxVersion(); v++ {
			req.SetVersion(v)
			if got := isFlexible(k, v); got != req.IsFlexible() {
				t.Fatalf("key %d v%d: flexible %v, kmsg says %v", k, v, got, req.IsFlexible())
			}
		}
	}
}

func TestParseRequestHeaderNoAllocWithoutClientID(t *testing.T) {
	b := append(header(0, 9, 1, nil), 0, 1, 2, 3)
	if n := testing.AllocsPerRun(100, func() { _, _, _ = ParseRequestHeader(b) }); n != 0 {
		t.Fatalf("%v allocs", n)
	}
}

func TestAppendResponse(t *testing.T) {
	resp := kmsg.NewPtrApiVersionsResponse()
	resp.Version = 3
	resp.ApiKeys = []kmsg.ApiVersionsResponseApiKey{{ApiKey: 0, MinVersion: 3, MaxVersion: 11}}
	body := resp.AppendTo(nil)
	for _, flex := range []bool{false, true} {
		out := AppendResponse([]byte("xx"), -5, flex, body)
		if string(out[:2]) != "xx" {
			t.Fatal("prefix lost")
		}
		frame, err := ReadFrame(bytes.NewReader(out[2:]), DefaultMaxRequestBytes)
		if err != nil {
			t.Fatal(err)
		}
		if int32(binary.BigEndian.Uint32(frame)) != -5 {
			t.Fatal("correlation id")
		}
		rest := frame[4:]
		if flex {
			if rest[0] != 0 {
				t.Fatal("missing empty tag section")
			}
			rest = rest[1:]
		}
		if !bytes.Equal(rest, body) {
			t.Fatal("body")
		}
		back := kmsg.NewPtrApiVersionsResponse()
		back.Version = 3
		if err := back.ReadFrom(rest); err != nil || len(back.ApiKeys) != 1 || back.ApiKeys[0].MaxVersion != 11 {
			t.Fatalf("kmsg: %v %+v", err, back)
		}
	}
}
