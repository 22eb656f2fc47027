package objstore

import (
	"testing"
	"time"
)

func TestRetryDelay(t *testing.T) {
	p := RetryPolicy{BaseDelay: 100 * time.Millisecond, MaxDelay: time.Second}
	for n, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 3: 400 * time.Millisecond,
		4: 800 * time.Millisecond, 5: time.Second, 30: time.Second} {
		for range 50 {
			if d := p.delay(n); d < want/2 || d > want {
				t.Fatalf("delay(%d) = %v, want in [%v, %v]", n, d, want/2, want)
			}
		}
	}
	if d := (RetryPolicy{}).delay(3); d != 0 {
		t.Fatalf("zero policy delay = %v", d)
	}
	def := DefaultRetryPolicy()
	if def.Attempts != 4 || def.Timeout != 30*time.Second {
		t.Fatalf("DefaultRetryPolicy = %+v", def)
	}
}
