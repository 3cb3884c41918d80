# vidup's commands. `make demo` and `make test` are the two a newcomer runs.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -s -w -X github.com/vidup/vidup/internal/cli.version=$(VERSION)

.PHONY: build test demo bench lint docs clean

build: ## build ./bin/vidup
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/vidup ./cmd/vidup

test: ## run every test, integration tests against a real MinIO included
	scripts/test.sh

demo: build ## a local MinIO, vidup serve on SQLite, a real upload, the registered video
	scripts/demo.sh

bench: build ## vidup against mc, s5cmd, rclone and aws-cli on a local MinIO
	scripts/bench.sh

lint: ## gofmt, go vet, go mod tidy -diff, staticcheck, and go vet for every release target
	scripts/lint.sh

docs: ## regenerate the CLI reference in docs/cli
	rm -rf docs/cli
	$(GO) run ./cmd/gendocs docs/cli

clean:
	rm -rf bin dist .demo
