package broker_test

import (
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// connCutter is a TCP proxy on 127.0.0.1 in front of one broker that,
// while on, cuts each client connection after a random lifetime of up to
// maxLife: requests in flight, produces the broker may already have
// committed among them, lose their replies and the clients send them
// again, the case idempotent producers exist for. The broker advertises
// the cutter's address (--public-addr), so clients reach it only through
// the cutter; the cutter outlives the broker's restarts.
type connCutter struct {
	ln      net.Listener
	target  string
	maxLife time.Duration
	on      atomic.Bool
	cuts    atomic.Int64

	mu  sync.Mutex
	rng *rand.Rand
}

func startConnCutter(t *testing.T, target string, maxLife time.Duration, seed uint64) *connCutter {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c := &connCutter{ln: ln, target: target, maxLife: maxLife, rng: rand.New(rand.NewPCG(seed, 11))}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return // closed at the end of the test
			}
			go c.serve(conn)
		}
	}()
	return c
}

func (c *connCutter) Addr() string { return c.ln.Addr().String() }

func (c *connCutter) lifetime() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.maxLife/10 + time.Duration(c.rng.Int64N(int64(c.maxLife)))
}

func (c *connCutter) serve(conn net.Conn) {
	defer conn.Close()
	up, err := net.DialTimeout("tcp", c.target, 2*time.Second)
	if err != nil {
		// The broker is down. Reset the connection rather than close
		// it: to a client an accepted connection closed before the
		// first reply looks like a missing SASL handshake (kgo fails
		// the records), a reset like the broker going away (it retries).
		if tc, ok := conn.(*net.TCPConn); ok {
			_ = tc.SetLinger(0)
		}
		return
	}
	defer up.Close()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, conn); done <- struct{}{} }()
	go func() { _, _ = io.Copy(conn, up); done <- struct{}{} }()
	for {
		select {
		case <-done:
			return
		case <-time.After(c.lifetime()):
			if c.on.Load() {
				c.cuts.Add(1)
				return
			}
		}
	}
}
