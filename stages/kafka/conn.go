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
	// opposed to the client going away; stop is closed then too, ending
	// a wait for request budget.
	closing atomic.Bool
	stop    chan struct{}
	// inflight counts the requests read and not yet answered (or, for
	// acks=0, done); lastActive is when a request was last read or an
	// answer written (unix nanos). Together they tell an idle connection.
	inflight   atomic.Int64
	lastActive atomic.Int64

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
	// frameBytes is the request's frame, charged to the request budget
	// until refs, the holders of the frame's bytes, drops to zero: the
	// read loop until the handler returns, plus whoever keeps slices of
	// it (the batches of a produce, until they complete).
	frameBytes int64
	refs       atomic.Int32
}

// retainFrame keeps the request's frame charged to the budget until a
// matching releaseFrame: for work that holds slices of the request (its
// kmsg fields alias the frame) after the handler returned.
func (r *Request) retainFrame() { r.refs.Add(1) }

// releaseFrame drops one hold on the frame; the last returns its bytes to
// the request budget.
func (r *Request) releaseFrame() {
	if r.refs.Add(-1) == 0 && r.conn != nil {
		r.conn.s.budget.Release(r.frameBytes)
	}
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
	c := &conn{s: s, nc: nc, slots: make(chan *slot, s.cfg.MaxInFlightPerConn), ctx: ctx, cancel: cancel, stop: make(chan struct{})}
	c.touch()
	return c
}

// touch marks the connection active now.
func (c *conn) touch() { c.lastActive.Store(time.Now().UnixNano()) }

// shutdown closes the connection's read side; the writer finishes the
// answers already owed and then closes the socket.
func (c *conn) shutdown() {
	c.once.Do(func() {
		c.closing.Store(true)
		close(c.stop)
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
	switch {
	case err == nil || errors.Is(err, io.EOF) || errors.Is(err, net.ErrClosed):
	case errors.Is(err, errIdle):
		c.s.log.Info("closing idle client connection", "remote", c.nc.RemoteAddr().String(), "err", err)
	default:
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

// errIdle ends a connection that was idle for connections.max.idle.ms.
var errIdle = errors.New("idle connection")

func (c *conn) readLoop() error {
	br := bufio.NewReaderSize(c.nc, 64<<10)
	fr := codec.FrameReader{R: br, Max: c.s.cfg.MaxRequestBytes, Budget: c.s.budget, Stop: c.stop}
	timeout := c.s.cfg.RequestReadTimeout
	for {
		if err := c.awaitRequest(br); err != nil {
			return err
		}
		// The request has begun: from here to its last byte (waits for
		// budget included) it has timeout.
		if timeout > 0 {
			fr.Deadline = time.Now().Add(timeout)
			_ = c.nc.SetReadDeadline(fr.Deadline)
		} else if c.s.cfg.ConnectionsMaxIdle > 0 {
			_ = c.nc.SetReadDeadline(time.Time{}) // the idle wait's
		}
		frame, err := fr.Read()
		if err != nil {
			var ne net.Error
			switch {
			case c.closing.Load():
				return io.EOF
			case errors.Is(err, codec.ErrBudgetWait), errors.As(err, &ne) && ne.Timeout():
				c.s.closes.readTimeout.Add(1)
				return fmt.Errorf("request not received within %v (request bytes in use %d of %d): %w",
					timeout, c.s.budget.InUse(), c.s.budget.Limit(), err)
			}
			return err
		}
		c.touch()
		if err := c.serveFrame(frame); err != nil {
			return err
		}
	}
}

// awaitRequest waits for the first byte of the next request. A connection
// with nothing read, nothing owed and nothing written for
// connections.max.idle.ms is closed; an outstanding answer (a long poll, a
// produce waiting for its commit) keeps it open.
func (c *conn) awaitRequest(br *bufio.Reader) error {
	if br.Buffered() > 0 {
		return nil
	}
	idle := c.s.cfg.ConnectionsMaxIdle
	if idle < 0 {
		_ = c.nc.SetReadDeadline(time.Time{})
		_, err := br.Peek(1)
		return err
	}
	for {
		_ = c.nc.SetReadDeadline(time.Unix(0, c.lastActive.Load()).Add(idle))
		_, err := br.Peek(1)
		var ne net.Error
		if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
			return err
		}
		if c.inflight.Load() > 0 {
			c.touch()
			continue
		}
		if time.Since(time.Unix(0, c.lastActive.Load())) < idle {
			continue // an answer was written meanwhile
		}
		c.s.closes.idle.Add(1)
		return fmt.Errorf("%w: nothing read, owed or written for %v", errIdle, idle)
	}
}

// serveFrame decodes one request and hands it to its handler. The frame
// stays charged to the request budget until the handler has returned and
// whatever it retained is done.
func (c *conn) serveFrame(frame []byte) error {
	req := &Request{Ctx: c.ctx, conn: c, frameBytes: int64(len(frame))}
	req.refs.Store(1)
	defer req.releaseFrame()
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
	req.Header, req.copts, req.slot = hdr, c.opts, sl
	if hdr.APIVersion < h.minVersion || hdr.APIVersion > h.maxVersion {
		if hdr.APIKey != kmsg.ApiVersions.Int16() {
			return fmt.Errorf("unsupported %s version %d (serving %d-%d)", kmsg.NameForKey(hdr.APIKey), hdr.APIVersion, h.minVersion, h.maxVersion)
		}
		// KIP-511: answer an ApiVersions of a version we do not know
		// with UNSUPPORTED_VERSION at v0, listing what we support.
		c.inflight.Add(1)
		c.slots <- sl
		resp := apiVersionsResponse()
		resp.ErrorCode = kerr.UnsupportedVersion.Code
		req.Header.APIVersion = 0
		req.Respond(resp)
		return nil
	}
	msg := kmsg.RequestForKey(hdr.APIKey)
	msg.SetVersion(hdr.APIVersion)
	if err := msg.ReadFrom(body); err != nil {
		return fmt.Errorf("malformed %s v%d request: %w", kmsg.NameForKey(hdr.APIKey), hdr.APIVersion, err)
	}
	req.Msg = msg
	c.inflight.Add(1)
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
	return nil
}

// closeAfterAnswers closes the connection once the answers owed before
// now are written, with a log line: how Kafka tells an acks=0 producer
// that a produce failed, the only signal such a producer gets.
func (c *conn) closeAfterAnswers(msg string, args ...any) {
	c.s.log.Warn(msg, append([]any{"remote", c.nc.RemoteAddr().String()}, args...)...)
	c.shutdown()
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
		c.inflight.Add(-1)
		c.touch()
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
