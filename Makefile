# vidup's commands. `make demo` and `make test` are the two a newcomer runs;
# `make help` lists them all.
GO      ?= go
PKG     := github.com/vidup/vidup/internal/cli
# What vidup version prints (internal/cli/version.go). On a release tag
# v1.2.3 the version is 1.2.3; elsewhere git describe says how far from the
# last tag, and without any tag vidup calls itself a dev build.
VERSION ?= $(shell git describe --tags --dirty 2>/dev/null | sed 's/^v//')
COMMIT  ?= $(shell git rev-parse --short=12 HEAD 2>/dev/null)
DATE    ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -s -w -X $(PKG).version=$(VERSION) -X $(PKG).commit=$(COMMIT) -X $(PKG).date=$(DATE)
# make install puts vidup into $(PREFIX)/bin when PREFIX is set, else into
# go env GOBIN (default ~/go/bin).
PREFIX  ?=

.PHONY: help build install test demo bench lint docs release-check release-snapshot package-test clean

build: ## build ./bin/vidup
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/vidup ./cmd/vidup

help: ## list these targets
	@awk 'BEGIN { FS = ":.*## " } /^[a-z][a-z-]*:.*## / { printf "  make %-18s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

install: ## install vidup into GOBIN, or PREFIX/bin with PREFIX=/usr/local
	$(if $(PREFIX),GOBIN='$(abspath $(PREFIX))/bin' )$(GO) install -trimpath -ldflags '$(LDFLAGS)' ./cmd/vidup
	@dir='$(if $(PREFIX),$(abspath $(PREFIX))/bin)'; [ -n "$$dir" ] || dir=$$($(GO) env GOBIN); \
	  [ -n "$$dir" ] || dir=$$($(GO) env GOPATH)/bin; \
	  echo "installed $$dir/vidup: $$("$$dir/vidup" version | head -1)"

test: ## every test: lint, integration tests (MinIO, versitygw, PostgreSQL), the snapshot release and its .deb installed
	scripts/test.sh
	scripts/goreleaser.sh snapshot
	scripts/package-test.sh

demo: build ## a local MinIO, vidup serve on SQLite, a real upload, the registered video
	scripts/demo.sh

bench: build ## vidup against mc, s5cmd, rclone and aws-cli on a local MinIO
	scripts/bench.sh

lint: ## gofmt, go vet, go mod tidy -diff, staticcheck, and go vet for every release target
	scripts/lint.sh

docs: ## regenerate the CLI reference in docs/cli
	rm -rf docs/cli
	$(GO) run ./cmd/gendocs docs/cli

release-check: ## goreleaser check: .goreleaser.yaml is valid (installs goreleaser into .tools)
	scripts/goreleaser.sh check

release-snapshot: ## build the release into dist/ without publishing: archives, checksums, deb, rpm
	scripts/goreleaser.sh snapshot

package-test: ## install dist/'s .deb with dpkg -i, check vidup, man page and unit, remove it
	scripts/package-test.sh

clean: ## remove bin/, dist/ and the demo's leftovers
	rm -rf bin dist dist-extra .demo
