# Sluice. `make test` runs every test; it installs what the tests need
# (kcat) when it is missing and the machine allows it.

GO       ?= go
PKGS     ?= ./...
TESTFLAGS ?= -count=1 -timeout 20m
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)

.PHONY: all build test test-race deps fuzz bench bench-smoke vet fmt clean serve

all: build

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o bin/sluice ./cmd/sluice

serve:
	$(GO) run ./cmd/sluice serve

# deps installs the external programs the tests use: kcat (Debian package).
deps:
	@command -v kcat >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing kcat"; \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq kcat) >/dev/null; \
	  else \
	    echo "kcat is missing: install it (apt-get install kcat); the kcat test fails without it" >&2; \
	  fi; }

test: deps
	$(GO) vet $(PKGS)
	$(GO) test $(TESTFLAGS) $(PKGS)

test-race: deps
	$(GO) test -race $(TESTFLAGS) $(PKGS)

# fuzz runs each fuzz target for FUZZTIME (not part of make test; the seed
# corpora run in make test as ordinary tests).
FUZZTIME ?= 30s
fuzz:
	$(GO) test ./codec -run '^$$' -fuzz '^FuzzReadFrame$$' -fuzztime $(FUZZTIME)
	$(GO) test ./codec -run '^$$' -fuzz '^FuzzParseBatch$$' -fuzztime $(FUZZTIME)
	$(GO) test ./codec -run '^$$' -fuzz '^FuzzDecodeIntakeIndex$$' -fuzztime $(FUZZTIME)

# bench compares sluice with franz-go's kfake under the same franz-go load.
BENCHTIME ?= 20s
bench:
	$(GO) run ./bench/cmd/sluice-bench --duration $(BENCHTIME)
	$(GO) test ./codec ./pipeline ./stages/... -run '^$$' -bench . -benchtime 200ms

vet:
	$(GO) vet $(PKGS)

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin sluice-data
