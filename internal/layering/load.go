package layering

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// Load builds the import graph of the module's packages matching
// patterns and of everything they depend on, with `go list -deps -json`
// run in dir (the module's root) and the imports of each of the module's
// files read with go/parser.
func Load(dir string, patterns ...string) (Graph, error) {
	args := append([]string{"list", "-deps", "-e", "-json=ImportPath,Dir,GoFiles,Imports,Error"}, patterns...)
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return Graph{}, fmt.Errorf("go list: %v: %s", err, stderr.String())
	}
	g := Graph{Imports: map[string][]string{}, Files: map[string]map[string][]string{}}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath string
			Dir        string
			GoFiles    []string
			Imports    []string
			Error      *struct{ Err string }
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return Graph{}, fmt.Errorf("go list output: %w", err)
		}
		if p.Error != nil {
			return Graph{}, fmt.Errorf("go list: %s: %s", p.ImportPath, p.Error.Err)
		}
		g.Imports[p.ImportPath] = p.Imports
		if p.ImportPath != Module && !strings.HasPrefix(p.ImportPath, Module+"/") {
			continue
		}
		files := map[string][]string{}
		for _, name := range p.GoFiles {
			imps, err := fileImports(filepath.Join(p.Dir, name))
			if err != nil {
				return Graph{}, err
			}
			files[name] = imps
		}
		g.Files[p.ImportPath] = files
	}
	return g, nil
}

func fileImports(path string) ([]string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
	if err != nil {
		return nil, err
	}
	var imps []string
	for _, spec := range f.Imports {
		p, err := strconv.Unquote(spec.Path.Value)
		if err != nil {
			return nil, fmt.Errorf("%s: import %s: %v", path, spec.Path.Value, err)
		}
		imps = append(imps, p)
	}
	return imps, nil
}
