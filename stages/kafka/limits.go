package kafka

// Connection and memory limits: max.connections(.per.ip) at accept, the
// closes for idle connections and requests not received in time, and the
// broker-wide budget of request bytes (see conn.go for where it is charged
// and released).

import (
	"context"
	"log/slog"
	"math"
	"net"
	"strconv"
	"sync/atomic"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
)

// Reasons a connection is closed by a limit, as counted and logged.
const (
	closeMaxConnections      = "max.connections"
	closeMaxConnectionsPerIP = "max.connections.per.ip"
	closeIdle                = "connections.max.idle.ms"
	closeReadTimeout         = "request-read-timeout"
)

// ConnCloses counts the connections closed by a limit since start.
type ConnCloses struct {
	// MaxConnections and MaxConnectionsPerIP: accepted and closed at once.
	MaxConnections, MaxConnectionsPerIP int64
	// Idle: closed after connections.max.idle.ms with nothing going on.
	Idle int64
	// ReadTimeout: a request not fully received within the read timeout.
	ReadTimeout int64
}

type connCloses struct {
	maxConns, maxPerIP, idle, readTimeout atomic.Int64
	// lastRefusedLog throttles the refusal log lines to one a second (a
	// connection flood must not become a log flood); refusedUnlogged is
	// what the next line reports.
	lastRefusedLog  atomic.Int64
	refusedUnlogged atomic.Int64
}

// refused counts and logs a connection closed at accept for limit.
func (c *connCloses) refused(log *slog.Logger, limit, remote string) {
	if limit == closeMaxConnections {
		c.maxConns.Add(1)
	} else {
		c.maxPerIP.Add(1)
	}
	n := c.refusedUnlogged.Add(1)
	now := time.Now().UnixNano()
	last := c.lastRefusedLog.Load()
	if now-last >= int64(time.Second) && c.lastRefusedLog.CompareAndSwap(last, now) {
		c.refusedUnlogged.Add(-n)
		log.Warn("refusing client connection: over "+limit, "remote", remote, "refused_since_last_line", n)
	}
}

// ConnCloses reports the connections closed by a limit since start.
func (s *Server) ConnCloses() ConnCloses {
	return ConnCloses{
		MaxConnections:      s.closes.maxConns.Load(),
		MaxConnectionsPerIP: s.closes.maxPerIP.Load(),
		Idle:                s.closes.idle.Load(),
		ReadTimeout:         s.closes.readTimeout.Load(),
	}
}

// RequestBytesInUse is the part of queued.max.request.bytes in use: request
// bytes read and not yet done with.
func (s *Server) RequestBytesInUse() int64 { return s.budget.InUse() }

// connLimitLocked names the limit a new connection from ip would exceed,
// or "". s.mu is held.
func (s *Server) connLimitLocked(ip string) string {
	if m := s.cfg.MaxConnections; m > 0 && len(s.conns) >= m {
		return closeMaxConnections
	}
	if m := s.cfg.MaxConnectionsPerIP; m > 0 && s.perIP[ip] >= m {
		return closeMaxConnectionsPerIP
	}
	return ""
}

// remoteIP is the connection's remote address without the port.
func remoteIP(nc net.Conn) string {
	addr := nc.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return host
	}
	return addr
}

// registerLimitMetrics adds sluice.kafka.connections.closed (by limit) and
// sluice.kafka.request_bytes.in_use, read at each collection.
func (s *Server) registerLimitMetrics(m metric.Meter) error {
	if m == nil {
		return nil
	}
	closed, err := m.Int64ObservableCounter("sluice.kafka.connections.closed",
		metric.WithDescription("Kafka client connections closed by a limit, by limit."))
	if err != nil {
		return err
	}
	inUse, err := m.Int64ObservableGauge("sluice.kafka.request_bytes.in_use", metric.WithUnit("By"),
		metric.WithDescription("Request bytes held in memory, of queued.max.request.bytes."))
	if err != nil {
		return err
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		c := s.ConnCloses()
		for _, v := range []struct {
			limit string
			n     int64
		}{
			{closeMaxConnections, c.MaxConnections},
			{closeMaxConnectionsPerIP, c.MaxConnectionsPerIP},
			{closeIdle, c.Idle},
			{closeReadTimeout, c.ReadTimeout},
		} {
			o.ObserveInt64(closed, v.n, metric.WithAttributes(attribute.String("limit", v.limit)))
		}
		o.ObserveInt64(inUse, s.RequestBytesInUse())
		return nil
	}, closed, inUse)
	return err
}

// connLimit reports a connection limit as Kafka does: unlimited is
// Integer.MAX_VALUE.
func connLimit(n int) *string {
	if n <= 0 {
		n = math.MaxInt32
	}
	v := strconv.Itoa(n)
	return &v
}
