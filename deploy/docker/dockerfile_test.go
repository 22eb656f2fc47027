// Package docker checks deploy/docker/Dockerfile without a Docker engine:
// the properties the image promises (static build, version stamped,
// non-root, the binary as entrypoint, ports documented).
package docker

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// stages splits the Dockerfile into build stages of logical lines
// (continuations joined, comments dropped).
func stages(t *testing.T) [][]string {
	t.Helper()
	b, err := os.ReadFile("Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	var cur []string // nil before the first FROM (global ARGs)
	var line string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		if s, ok := strings.CutSuffix(strings.TrimRight(l, " \t"), "\\"); ok {
			line += s + " "
			continue
		}
		line += l
		if f := strings.Fields(line); len(f) > 0 {
			if strings.EqualFold(f[0], "FROM") {
				if cur != nil {
					out = append(out, cur)
				}
				cur = []string{}
			}
			if cur != nil {
				cur = append(cur, strings.Join(f, " "))
			}
		}
		line = ""
	}
	return append(out, cur)
}

func find(lines []string, instr string) []string {
	var out []string
	for _, l := range lines {
		if strings.HasPrefix(strings.ToUpper(l), instr+" ") {
			out = append(out, l[len(instr)+1:])
		}
	}
	return out
}

func TestDockerfile(t *testing.T) {
	st := stages(t)
	if len(st) != 2 {
		t.Fatalf("%d stages, want build and runtime", len(st))
	}
	build, final := st[0], st[1]

	var built bool
	for _, run := range find(build, "RUN") {
		if strings.Contains(run, "go build") {
			built = true
			for _, want := range []string{"CGO_ENABLED=0", "-X main.version=${VERSION}", "./cmd/sluice"} {
				if !strings.Contains(run, want) {
					t.Errorf("go build lacks %q: %s", want, run)
				}
			}
		}
	}
	if !built {
		t.Errorf("no go build in the build stage")
	}

	from := final[0]
	if !strings.Contains(from, "distroless/static") && !strings.Contains(from, "scratch") {
		t.Errorf("runtime stage %q is not a static base", from)
	}
	users := find(final, "USER")
	if len(users) != 1 {
		t.Fatalf("runtime USER %q, want one", users)
	}
	if u := strings.Split(users[0], ":")[0]; u == "0" || u == "root" {
		t.Errorf("runs as root: USER %s", users[0])
	}
	ep := find(final, "ENTRYPOINT")
	if len(ep) != 1 || !regexp.MustCompile(`^\["[^"]*/sluice"\]$`).MatchString(ep[0]) {
		t.Errorf("ENTRYPOINT %q, want the binary in exec form", ep)
	}
	if cmd := find(final, "CMD"); len(cmd) != 1 || cmd[0] != `["serve"]` {
		t.Errorf("CMD %q, want [\"serve\"]", cmd)
	}
	ports := strings.Join(find(final, "EXPOSE"), " ")
	for _, p := range []string{"9092", "9089"} {
		if !strings.Contains(ports, p) {
			t.Errorf("port %s not exposed (EXPOSE %s)", p, ports)
		}
	}
	env := strings.Join(find(final, "ENV"), " ")
	for _, want := range []string{"SLUICE_KAFKA_ADDR=0.0.0.0:9092", "SLUICE_ADMIN_ADDR=0.0.0.0:9089"} {
		if !strings.Contains(env, want) {
			t.Errorf("ENV lacks %s: %s", want, env)
		}
	}
}
