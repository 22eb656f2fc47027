package layering

import (
	"fmt"
	"sort"
	"strings"
)

// Module is Sluice's module path; "./x" in a Rule means Module + "/x".
const Module = "github.com/sluicedata/sluice"

// Graph is an import graph: for each package its direct imports (of its
// non-test files), and, for the packages whose files are known, each
// file's imports.
type Graph struct {
	Imports map[string][]string
	Files   map[string]map[string][]string // package -> file name -> imports
}

// Reach says how far a Rule looks from a package it constrains.
type Reach int

const (
	// Direct: what each file of the package imports.
	Direct Reach = iota
	// Transitive: everything the package depends on.
	Transitive
)

// Rule forbids the packages under a directory to import some packages.
type Rule struct {
	Name string
	// Under is the module-relative directory whose packages (it and the
	// ones below it) the rule constrains: "pipeline", "sinks".
	Under string
	Reach Reach
	// Forbid lists import paths; each forbids itself and the paths below
	// it ("net" forbids net and net/http). "./x" is the module's x.
	Forbid []string
	Why    string
}

// Violation is one forbidden import.
type Violation struct {
	Rule    string
	Package string
	File    string   // for a Direct rule, the importing file
	Import  string   // the forbidden package
	Chain   []string // for a Transitive rule: Package, ..., Import
	Why     string
}

func (v Violation) String() string {
	where := v.Package
	if v.File != "" {
		where += " (" + v.File + ")"
	}
	how := "imports " + v.Import
	if len(v.Chain) > 2 {
		how = "depends on " + v.Import + " via " + strings.Join(v.Chain[1:len(v.Chain)-1], " -> ")
	}
	return fmt.Sprintf("%s: %s %s: %s", v.Rule, where, how, v.Why)
}

// Rules is Sluice's layering.
var Rules = []Rule{
	{
		Name: "pipeline-is-generic", Under: "pipeline", Reach: Transitive,
		Forbid: []string{
			"github.com/twmb/franz-go",
			"cloud.google.com", "github.com/aws", "github.com/Azure", "gocloud.dev",
			"google.golang.org/api", "google.golang.org/grpc",
			"github.com/apache/arrow", "github.com/klauspost/compress", "github.com/pierrec/lz4",
			"google.golang.org/protobuf", "github.com/golang/protobuf",
			"./codec", "./sinks", "./stages", "./cmd", "./bench",
		},
		Why: "the stage engine knows nothing of Kafka, clouds or formats (README, Layout)",
	},
	{
		Name: "codec-does-no-io", Under: "codec", Reach: Direct,
		Forbid: []string{"os", "net", "syscall", "io/ioutil", "./sinks", "./stages"},
		Why:    "codec turns bytes into values and back; I/O belongs to the sinks and the Kafka front end (io is allowed: ReadFrame reads from an io.Reader)",
	},
	{
		Name: "sinks-below-stages", Under: "sinks", Reach: Transitive,
		Forbid: []string{"./stages"},
		Why:    "the stores sit below the stages, which use them",
	},
}

// forbidden reports whether path is entry or below it.
func forbidden(entry, path string) bool {
	if rest, ok := strings.CutPrefix(entry, "./"); ok {
		entry = Module + "/" + rest
	}
	return path == entry || strings.HasPrefix(path, entry+"/")
}

func (r Rule) constrains(pkg string) bool {
	return forbidden("./"+r.Under, pkg)
}

func (r Rule) forbids(path string) bool {
	for _, f := range r.Forbid {
		if forbidden(f, path) {
			return true
		}
	}
	return false
}

// Check returns every violation of rules in g, sorted.
func Check(g Graph, rules []Rule) []Violation {
	var out []Violation
	for _, pkg := range sortedKeys(g.Imports) {
		for _, r := range rules {
			if !r.constrains(pkg) {
				continue
			}
			switch r.Reach {
			case Direct:
				out = append(out, r.direct(g, pkg)...)
			case Transitive:
				out = append(out, r.transitive(g, pkg)...)
			}
		}
	}
	return out
}

func (r Rule) direct(g Graph, pkg string) []Violation {
	var out []Violation
	files := g.Files[pkg]
	if files == nil {
		files = map[string][]string{"": g.Imports[pkg]}
	}
	for _, f := range sortedKeys(files) {
		for _, imp := range files[f] {
			if r.forbids(imp) {
				out = append(out, Violation{Rule: r.Name, Package: pkg, File: f, Import: imp, Why: r.Why})
			}
		}
	}
	return out
}

// transitive walks pkg's dependencies breadth first and reports each
// forbidden package reached, with the shortest import chain to it; it
// does not look past a forbidden package.
func (r Rule) transitive(g Graph, pkg string) []Violation {
	var out []Violation
	from := map[string]string{pkg: ""}
	queue := []string{pkg}
	for len(queue) > 0 {
		p := queue[0]
		queue = queue[1:]
		imps := append([]string(nil), g.Imports[p]...)
		sort.Strings(imps)
		for _, imp := range imps {
			if _, seen := from[imp]; seen {
				continue
			}
			from[imp] = p
			if r.forbids(imp) {
				chain := []string{imp}
				for q := p; q != ""; q = from[q] {
					chain = append([]string{q}, chain...)
				}
				out = append(out, Violation{Rule: r.Name, Package: pkg, Import: imp, Chain: chain, Why: r.Why})
				continue
			}
			queue = append(queue, imp)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
