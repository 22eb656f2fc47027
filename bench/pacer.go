package bench

import (
	"context"
	"time"
)

// Pacer spaces events at a fixed rate. The n'th event is due at
// start + n/rate; Wait sleeps until the next one is due, so a late wake-up
// (timer slack, a stalled producer) is made up by the following events
// rather than lost, and the average rate holds. A backlog of more than
// maxLag is dropped instead of being sent as one burst: then the rate over
// that stretch falls short, which the results show.
type Pacer struct {
	rate   float64
	start  time.Time
	n      int64
	maxLag time.Duration
}

// NewPacer paces at rate events per second (rate > 0), starting now.
func NewPacer(rate float64) *Pacer {
	return &Pacer{rate: rate, start: time.Now(), maxLag: time.Second}
}

// Wait blocks until the next event is due or ctx is done (then it returns
// ctx's error).
func (p *Pacer) Wait(ctx context.Context) error {
	due := p.start.Add(time.Duration(float64(p.n) * 1e9 / p.rate))
	p.n++
	d := time.Until(due)
	if d <= 0 {
		if -d > p.maxLag {
			p.start, p.n = time.Now(), 1
		}
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
