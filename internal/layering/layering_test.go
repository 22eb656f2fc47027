package layering

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const (
	pipe = Module + "/pipeline"
	cdc  = Module + "/codec"
)

// clean is a made-up graph that keeps every rule.
func clean() Graph {
	return Graph{
		Imports: map[string][]string{
			pipe:                                 {"context", "sync/atomic"},
			cdc:                                  {"io", "hash/crc32", "github.com/klauspost/compress/zstd"},
			Module + "/sinks/meta":               {"context", Module + "/codec"},
			Module + "/stages/fetch":             {Module + "/sinks/meta", Module + "/pipeline"},
			Module + "/stagesx":                  nil,
			"context":                            nil,
			"github.com/klauspost/compress/zstd": {"io"},
		},
		Files: map[string]map[string][]string{
			cdc: {"frame.go": {"io", "encoding/binary"}, "batch.go": {"hash/crc32"}},
		},
	}
}

// TestRulesFire proves each rule fails on the import it forbids, and
// only on it.
func TestRulesFire(t *testing.T) {
	for _, c := range []struct {
		name   string
		mutate func(g *Graph)
		want   []string // violation strings' prefixes, in order
	}{
		{"clean", func(*Graph) {}, nil},
		{"pipeline imports franz-go", func(g *Graph) {
			g.Imports[pipe] = append(g.Imports[pipe], "github.com/twmb/franz-go/pkg/kgo")
		}, []string{"pipeline-is-generic: " + pipe + " imports github.com/twmb/franz-go/pkg/kgo"}},
		{"pipeline imports a cloud SDK", func(g *Graph) {
			g.Imports[pipe] = append(g.Imports[pipe], "gocloud.dev/blob")
		}, []string{"pipeline-is-generic: " + pipe + " imports gocloud.dev/blob"}},
		{"pipeline imports codec", func(g *Graph) {
			g.Imports[pipe] = append(g.Imports[pipe], cdc)
		}, []string{"pipeline-is-generic: " + pipe + " imports " + cdc}},
		{"pipeline reaches arrow through a helper", func(g *Graph) {
			helper := pipe + "/internal/util"
			g.Imports[pipe] = append(g.Imports[pipe], helper)
			g.Imports[helper] = []string{"fmt", "github.com/apache/arrow/go/v17/arrow/ipc"}
		}, []string{
			"pipeline-is-generic: " + pipe + " depends on github.com/apache/arrow/go/v17/arrow/ipc via " + pipe + "/internal/util",
			"pipeline-is-generic: " + pipe + "/internal/util imports github.com/apache/arrow/go/v17/arrow/ipc",
		}},
		{"a codec file imports os", func(g *Graph) {
			g.Files[cdc]["intake.go"] = []string{"os"}
		}, []string{"codec-does-no-io: " + cdc + " (intake.go) imports os"}},
		{"a codec file imports net/http", func(g *Graph) {
			g.Files[cdc]["batch.go"] = append(g.Files[cdc]["batch.go"], "net/http")
		}, []string{"codec-does-no-io: " + cdc + " (batch.go) imports net/http"}},
		{"codec imports a store (no file list)", func(g *Graph) {
			delete(g.Files, cdc)
			g.Imports[cdc] = append(g.Imports[cdc], Module+"/sinks/objstore")
		}, []string{"codec-does-no-io: " + cdc + " imports " + Module + "/sinks/objstore"}},
		{"sinks import a stage", func(g *Graph) {
			g.Imports[Module+"/sinks/meta"] = append(g.Imports[Module+"/sinks/meta"], Module+"/stages/telemetry")
		}, []string{"sinks-below-stages: " + Module + "/sinks/meta imports " + Module + "/stages/telemetry"}},
		{"sinks reach a stage through codec", func(g *Graph) {
			g.Imports[cdc] = append(g.Imports[cdc], Module+"/stages/fetch")
		}, []string{"sinks-below-stages: " + Module + "/sinks/meta depends on " + Module + "/stages/fetch via " + cdc}},
		{"a name that only starts like a layer", func(g *Graph) {
			g.Imports[Module+"/sinks/meta"] = append(g.Imports[Module+"/sinks/meta"], Module+"/stagesx")
		}, nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			g := clean()
			c.mutate(&g)
			got := Check(g, Rules)
			if len(got) != len(c.want) {
				t.Fatalf("got %d violations %v, want %d %v", len(got), got, len(c.want), c.want)
			}
			for i, v := range got {
				if !strings.HasPrefix(v.String(), c.want[i]) {
					t.Fatalf("violation %d: %q, want %q…", i, v, c.want[i])
				}
			}
		})
	}
}

// TestTransitiveChain: a store depending on a stage through another
// package is caught, and the chain names the way.
func TestTransitiveChain(t *testing.T) {
	g := clean()
	meta := Module + "/sinks/meta"
	g.Imports[meta] = append(g.Imports[meta], Module+"/sinks/helper")
	g.Imports[Module+"/sinks/helper"] = []string{Module + "/internal/x"}
	g.Imports[Module+"/internal/x"] = []string{Module + "/stages/fetch"}
	var chains []string
	for _, v := range Check(g, Rules) {
		if v.Package == meta {
			chains = append(chains, strings.Join(v.Chain, " -> "))
		}
	}
	want := meta + " -> " + Module + "/sinks/helper -> " + Module + "/internal/x -> " + Module + "/stages/fetch"
	if len(chains) != 1 || chains[0] != want {
		t.Fatalf("chains %q, want [%s]", chains, want)
	}
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" {
		t.Fatalf("go env GOMOD: %v %q", err, out)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

// TestRepositoryLayering checks the real repository. It also makes sure
// the graph it checks is the real one: the rules' packages are in it with
// their files, and a rule forbidding what codec does import fires.
func TestRepositoryLayering(t *testing.T) {
	g, err := Load(moduleRoot(t), "./pipeline/...", "./codec/...", "./sinks/...")
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range Check(g, Rules) {
		t.Error(v)
	}
	if len(g.Files[pipe]) < 3 || len(g.Files[cdc]) < 5 || len(g.Files[Module+"/sinks/meta"]) < 2 {
		t.Fatalf("graph lacks the rules' packages or their files: pipeline %d, codec %d files", len(g.Files[pipe]), len(g.Files[cdc]))
	}
	live := []Rule{{Name: "live", Under: "codec", Reach: Direct, Forbid: []string{"io"}},
		{Name: "live-deps", Under: "sinks", Reach: Transitive, Forbid: []string{"cloud.google.com/go/spanner"}}}
	var files, deps int
	for _, v := range Check(g, live) {
		if v.Rule == "live" && v.File == "frame.go" {
			files++
		}
		if v.Rule == "live-deps" {
			deps++
		}
	}
	if files != 1 || deps == 0 {
		t.Fatalf("rules do not see the real imports: codec/frame.go io %d, sinks -> spanner %d", files, deps)
	}
}
