package kafka

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
	"go.opentelemetry.io/otel/trace"

	"github.com/sluicedata/sluice/codec"
)

// conn is one client connection.
type conn struct {
	s      *Server
	nc     net.Conn
	slots  chan *slot
	ctx    context.Context
	cancel context.CancelFunc
	once   sync.Once
	// closing is set when the broker shuts the connection down, as
	// opposed to the client going away.
	closing atomic.Bool

	// clientID and opts are the last client.id seen and its options
	// (read loop only); zc counts the traffic, by the client's zone.
	clientID *string
	opts     clientOpts
	zc       atomic.Pointer[zoneCounters]
}

// slot is the place of one response in the connection's answer order.
type slot struct {
	ready chan struct{}
	frame []byte // nil: no response (acks=0)
}

// Request is one decoded request, with the slot its response goes in.
type Request struct {
	Header codec.RequestHeader
	Msg    kmsg.Request
	// Ctx ends when the connection closes.
	Ctx context.Context
	// Span is the request's span when the request is traced and sampled,
	// else nil; Ctx then carries it, so work done for the request is
	// traced as its children.
	Span  trace.Span
	conn  *conn
	copts clientOpts
	slot  *slot
	done  bool
	// tel, when telemetry is on, finishes the request's span and metrics
	// in Respond.
	tel   *telemetry
	start time.Time
}

// ClientID is the request's client.id ("" if null).
func (r *Request) ClientID() string {
	if r.Header.ClientID == nil {
		return ""
	}
	return *r.Header.ClientID
}

// Respond sends resp in the request's turn; nil sends nothing (a produce
// with acks=0). Only the first call counts.
func (r *Request) Respond(resp kmsg.Response) {
	if r.done {
		return
	}
	r.done = true
	if r.tel != nil {
		r.tel.end(r, resp, nil)
	}
	if resp != nil {
		resp.SetVersion(r.Header.APIVersion)
		// ApiVersions answers always use header v0 so that a client that
		// sent a version we do not know can still read the answer.
		flexible := resp.IsFlexible() && r.Header.APIKey != kmsg.ApiVersions.Int16()
		r.slot.frame = encodeResponse(r.Header.CorrelationID, flexible, resp)
	}
	close(r.slot.ready)
}

// encodeResponse frames resp. The body is encoded straight into the frame,
// sized up front for fetch answers: grown by appends, a large answer
// would be copied (and its new space zeroed) once per doubling.
func encodeResponse(correlationID int32, flexible bool, resp kmsg.Response) []byte {
	size := 256
	if f, ok := resp.(*kmsg.FetchResponse); ok {
		for i := range f.Topics {
			size += 64 + len(f.Topics[i].Topic)
			for j := range f.Topics[i].Partitions {
				p := &f.Topics[i].Partitions[j]
				size += 128 + len(p.RecordBatches) + 32*len(p.AbortedTransactions)
			}
		}
	}
	frame := codec.AppendResponse(make([]byte, 0, size), correlationID, flexible, nil)
	frame = resp.AppendTo(frame)
	binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
	return frame
}

func newConn(s *Server, nc net.Conn) *conn {
	ctx, cancel := context.WithCancel(context.Background())
	return &conn{s: s, nc: nc, slots: make(chan *slot, s.cfg.MaxInFlightPerConn), ctx: ctx, cancel: cancel}
}

// shutdown closes the connection's read side; the writer finishes the
// answers already owed and then closes the socket.
func (c *conn) shutdown() {
	c.once.Do(func() {
		c.closing.Store(true)
		if tc, ok := c.nc.(*net.TCPConn); ok {
			_ = tc.CloseRead()
		} else {
			c.nc.Close()
		}
	})
}

func (c *conn) serve() {
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		c.writeLoop()
	}()
	err := c.readLoop()
	if !c.closing.Load() {
		// The client is gone (or broke the protocol): nobody will read the
		// answers still owed, so stop the handlers that wait, such as long
		// polls. On a broker shutdown they are let finish instead.
		c.cancel()
	}
	close(c.slots)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		c.s.log.Warn("closing client connection", "remote", c.nc.RemoteAddr().String(), "err", err)
	}
	// Give in-flight handlers a bounded time to answer, then give up on
	// them so a stuck handler cannot hold the connection forever.
	select {
	case <-writerDone:
	case <-time.After(2 * time.Minute):
	}
	c.cancel()
	c.nc.Close()
	<-writerDone
}

func (c *conn) readLoop() error {
	br := bufio.NewReaderSize(c.nc, 64<<10)
	for {
		frame, err := codec.ReadFrame(br, c.s.cfg.MaxRequestBytes)
		if err != nil {
			return err
		}
		hdr, body, err := codec.ParseRequestHeader(frame)
		if err != nil {
			return err
		}
		h, ok := handlers[hdr.APIKey]
		if !ok {
			return fmt.Errorf("unsupported API key %d (version %d)", hdr.APIKey, hdr.APIVersion)
		}
		c.noteClient(hdr.ClientID, len(frame))
		sl := &slot{ready: make(chan struct{})}
		req := &Request{Header: hdr, Ctx: c.ctx, conn: c, copts: c.opts, slot: sl}
		if hdr.APIVersion < h.minVersion || hdr.APIVersion > h.maxVersion {
			if hdr.APIKey != kmsg.ApiVersions.Int16() {
				return fmt.Errorf("unsupported %s version %d (serving %d-%d)", kmsg.NameForKey(hdr.APIKey), hdr.APIVersion, h.minVersion, h.maxVersion)
			}
			// KIP-511: answer an ApiVersions of a version we do not know
			// with UNSUPPORTED_VERSION at v0, listing what we support.
			c.slots <- sl
			resp := apiVersionsResponse()
			resp.ErrorCode = kerr.UnsupportedVersion.Code
			req.Header.APIVersion = 0
			req.Respond(resp)
			continue
		}
		msg := kmsg.RequestForKey(hdr.APIKey)
		msg.SetVersion(hdr.APIVersion)
		if err := msg.ReadFrom(body); err != nil {
			return fmt.Errorf("malformed %s v%d request: %w", kmsg.NameForKey(hdr.APIKey), hdr.APIVersion, err)
		}
		req.Msg = msg
		select {
		case c.slots <- sl:
		case <-c.ctx.Done():
			return c.ctx.Err()
		}
		if c.s.tel != nil {
			c.s.tel.begin(req)
		}
		if err := callHandler(h.fn, c.s, req); err != nil {
			if req.tel != nil {
				req.tel.end(req, nil, err)
			}
			return fmt.Errorf("%s: %w", kmsg.NameForKey(hdr.APIKey), err)
		}
	}
}

func (c *conn) writeLoop() {
	bw := bufio.NewWriterSize(c.nc, 64<<10)
	failed := false
	for sl := range c.slots {
		select {
		case <-sl.ready:
		default:
			// The next answer is not ready: send what is buffered first.
			if !failed && bw.Buffered() > 0 && bw.Flush() != nil {
				failed = true
				c.nc.Close()
			}
			select {
			case <-sl.ready:
			case <-c.ctx.Done():
				return
			}
		}
		if failed || sl.frame == nil {
			continue
		}
		if _, err := bw.Write(sl.frame); err != nil {
			failed = true
			c.nc.Close()
			continue
		}
		if zc := c.zc.Load(); zc != nil {
			zc.out.Add(int64(len(sl.frame)))
		}
		if len(c.slots) == 0 && bw.Flush() != nil {
			failed = true
			c.nc.Close()
		}
	}
	if !failed {
		_ = bw.Flush()
	}
}

// noteClient parses the client.id when it changes and counts a request
// of n bytes (plus its size prefix) in.
func (c *conn) noteClient(id *string, n int) {
	if c.zc.Load() == nil || (id == nil) != (c.clientID == nil) || (id != nil && *id != *c.clientID) {
		c.clientID = id
		if id != nil {
			c.opts = c.s.parseClientOpts(*id)
		} else {
			c.opts = clientOpts{}
		}
		c.setZone(c.opts.zone)
	}
	c.zc.Load().in.Add(int64(n) + 4)
}

// setZone moves the connection's traffic accounting to zone.
func (c *conn) setZone(zone string) {
	zc := c.s.traffic.zone(zone)
	if old := c.zc.Swap(zc); old != zc {
		zc.conns.Add(1)
	}
}

// callHandler runs a handler and turns a panic into an error, so that a bug
// reached by one request closes that connection (with a log line) instead
// of the broker.
func callHandler(fn HandlerFunc, s *Server, r *Request) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("handler panic: %v\n%s", p, debug.Stack())
		}
	}()
	return fn(s, r)
}
