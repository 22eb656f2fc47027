# Sluice. `make test` runs every test; it installs what the tests need
# (kcat) when it is missing and the machine allows it.

GO       ?= go
PKGS     ?= ./...
TESTFLAGS ?= -count=1 -timeout 20m
# TESTTAGS builds the tests with the engine's invariant checks (a second
# completion of an item panics instead of being counted; pipeline/).
TESTTAGS ?= invariants
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)

.PHONY: all build test test-race deps fuzz bench bench-smoke bench-tracing bench-deps vet fmt clean serve

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/sluice ./cmd/sluice

serve:
	$(GO) run ./cmd/sluice serve

# deps installs the external programs the tests use: kcat (Debian package).
deps: objstore-deps
	@command -v kcat >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing kcat"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat) >/dev/null; \
	  else \
	    echo "kcat is missing: install it (apt-get install kcat); the kcat test fails without it" >&2; \
	  fi; }

# objstore-deps installs Azurite (npm package azurite, pinned in
# sinks/objstore/testservers/testdata/azurite/package.json) for the Azure
# Blob tests of sinks/objstore, which fail without it.
AZURITE_DIR := sinks/objstore/testservers/testdata/azurite
.PHONY: objstore-deps
objstore-deps:
	@[ -x $(AZURITE_DIR)/node_modules/.bin/azurite-blob ] || { \
	  if command -v npm >/dev/null 2>&1; then \
	    echo "installing azurite"; \
	    npm install --prefix $(AZURITE_DIR) --no-audit --no-fund --no-package-lock --loglevel=error >/dev/null || \
	      echo "npm install of azurite failed; the Azure object store tests fail without it" >&2; \
	  else \
	    echo "npm is missing: install it (apt-get install npm); the Azure object store tests fail without Azurite" >&2; \
	  fi; }

# The benchmark smoke runs first so that the output ends with go test's
# summary (its goal lines mean nothing at smoke scale and are not judged).
test: deps bench-deps
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null)); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet -tags $(TESTTAGS) $(PKGS)
	$(MAKE) --no-print-directory bench-smoke
	$(MAKE) --no-print-directory fuzz-smoke
	$(GO) test -tags $(TESTTAGS) $(TESTFLAGS) $(PKGS)

test-race: deps
	$(GO) test -race -tags $(TESTTAGS) $(TESTFLAGS) $(PKGS)

# fuzz runs every fuzz target of the repo for FUZZTIME each; fuzz-smoke
# (part of make test) runs each for FUZZSMOKE, so that they keep working
# and what they find quickly fails the tests. The seed corpora also run in
# go test as ordinary tests. Targets are found by grepping the test files
# for "func Fuzz" (go test -list is much slower); go test -fuzz takes one
# target of one package per run.
FUZZTIME  ?= 30s
FUZZSMOKE ?= 5s
fuzz-each = for f in $$(git ls-files '*_test.go' | xargs grep -l '^func Fuzz'); do \
	  for t in $$(sed -n 's/^func \(Fuzz[A-Za-z0-9_]*\)(.*/\1/p' $$f); do \
	    echo "fuzz ./$$(dirname $$f) $$t for $(1)"; \
	    $(GO) test ./$$(dirname $$f) -run '^$$' -fuzz "^$$t\$$" -fuzztime $(1) || exit 1; \
	  done; \
	done
.PHONY: fuzz-smoke
fuzz:
	@$(call fuzz-each,$(FUZZTIME))
fuzz-smoke:
	@$(call fuzz-each,$(FUZZSMOKE))

# bench runs the sluice vs kfake suite (same franz-go load, one run each:
# unthrottled produce, zstd, 5k records/s latency, a catch-up read of
# CATCHUP, 1,000 partitions, 200 producers; then tracing off vs 1% in three
# alternating pairs), prints the tables, ratios and goals, and writes
# BENCHOUT.json and BENCHOUT.html; then the micro-benchmarks. kfake runs in
# the benchmark's process, sluice as a `sluice serve` child process (built
# once from ./cmd/sluice), so its CPU, RSS and counters are its own.
BENCHTIME ?= 20s
CATCHUP   ?= 1GiB
BENCHOUT  ?= bench-report
bench:
	$(GO) run ./bench/cmd/sluice-bench --suite compare --duration $(BENCHTIME) --catch-up-bytes $(CATCHUP) --out $(BENCHOUT)
	$(GO) test ./codec ./pipeline ./stages/... -run '^$$' -bench . -benchtime 200ms

# bench-tracing measures what tracing at 1% costs: workload (g) alone,
# tracing off then on, TRACEPAIRS times, judged on the median pair.
TRACEPAIRS ?= 5
bench-tracing:
	$(GO) run ./bench/cmd/sluice-bench --suite tracing --pairs $(TRACEPAIRS) --duration $(BENCHTIME) --out $(BENCHOUT)-tracing

# bench-smoke runs the same suite for about a second per workload, so the
# harness and its command never rot (part of make test).
bench-smoke:
	$(GO) run ./bench/cmd/sluice-bench --suite smoke --quiet --out $${TMPDIR:-/tmp}/sluice-bench-smoke

# bench-deps installs what the benchmark report test needs: Chromium
# (Debian's package), to check the HTML report renders.
bench-deps:
	@command -v chromium >/dev/null 2>&1 || command -v chromium-browser >/dev/null 2>&1 || { \
	  if { [ "$$(id -u)" = 0 ] || [ "$$CI" = true ]; } && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) >/dev/null; \
	  else \
	    echo "chromium is missing: install it (apt-get install chromium); the bench HTML report test fails without it" >&2; \
	  fi; }

# fault runs the fault suite (TestFaultSuite in stages/broker: three
# brokers on the Spanner emulator, S3 behind a fault-injecting proxy,
# kill -9 every few seconds) for FAULT_TIME; make test runs it for 1m.
# FAULT_SEED repeats a run's fault mix and kill order.
FAULT_TIME ?= 10m
FAULT_SEED ?=
.PHONY: fault
fault:
	SLUICE_FAULT_DURATION=$(FAULT_TIME) SLUICE_FAULT_SEED=$(FAULT_SEED) \
	  $(GO) test -count=1 -v -timeout 0 -run '^TestFaultSuite$$' ./stages/broker

# test-long runs the tests too slow for make test (SLUICE_LONG_TESTS=1):
# a Spanner (emulator) commit over 3,400 partitions at the default
# mutation limit.
.PHONY: test-long
test-long:
	SLUICE_LONG_TESTS=1 $(GO) test -tags $(TESTTAGS) -count=1 -timeout 30m -run 'TestSpannerWideIdempotentCommit' -v ./stages/broker

vet:
	$(GO) vet -tags $(TESTTAGS) $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin sluice-data

# image builds the broker image (deploy/docker/Dockerfile: static build,
# non-root, distroless) as IMAGE; it needs a Docker engine.
IMAGE ?= sluice:$(VERSION)
.PHONY: image chart-test
image:
	@command -v docker >/dev/null 2>&1 || { echo "make image: docker is not installed" >&2; exit 1; }
	@docker info >/dev/null 2>&1 || { echo "make image: docker cannot reach a Docker engine (docker info failed); start one or set DOCKER_HOST" >&2; exit 1; }
	docker build -f deploy/docker/Dockerfile --build-arg VERSION=$(VERSION) -t $(IMAGE) .

# chart-test renders the Helm chart (deploy/helm/sluice) for each scenario
# and lints it, with Helm's Go packages: no cluster, no helm binary.
chart-test:
	$(GO) test -count=1 ./deploy/...

# local-cluster runs the Spanner emulator, an S3 server and three brokers in
# two zones on 127.0.0.1 (ports 9092-9094), prints the bootstrap addresses
# and stops them all on Ctrl-C.
.PHONY: local-cluster
local-cluster:
	$(GO) run ./cmd/sluice-local
