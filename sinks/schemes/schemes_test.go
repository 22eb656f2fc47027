package schemes

import (
	"strings"
	"testing"
)

type opener func() string

func TestRegistry(t *testing.T) {
	r := New[opener]("test", "store URL", map[string]string{"x": "example.com/xstore"})
	r.Register("a", func() string { return "a" })
	if open, err := r.Lookup("a://b", "a"); err != nil || open() != "a" {
		t.Fatalf("a: %v", err)
	}
	if _, err := r.Lookup("x://b", "x"); err == nil || !strings.Contains(err.Error(), `import _ "example.com/xstore"`) || !strings.Contains(err.Error(), "x://b") {
		t.Fatalf("known but not linked: %v", err)
	}
	if _, err := r.Lookup("zz://b", "zz"); err == nil || !strings.Contains(err.Error(), "a://, x://") || !strings.Contains(err.Error(), "zz://b") {
		t.Fatalf("unknown: %v", err)
	}
	for name, f := range map[string]func(){
		"twice": func() { r.Register("a", func() string { return "again" }) },
		"nil":   func() { r.Register("n", nil) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			f()
		}()
	}
}
