# OpenAgents Trust — build, run and test.
#
#   make run     start the local stack (edge node on SQLite + functions server)
#   make test    vet and run every test
#   make build   bin/trustctl, bin/trust-edge, bin/trust-functions
#   make lambda  dist/<function>/bootstrap for AWS Lambda (linux/amd64)
#   make bench   benchmarks (figures go to docs/BENCHMARKS.md)
#   make run-cluster    a local LiteFS cluster: one primary, two replicas
#   make bench-cluster  replication lag and replica read throughput
#   make eval, eval-osv, eval-injection, eval-dynamic   evaluations on the labelled corpora (read only)

GO        ?= go
DATA      ?= .trust
FUNCTIONS := sign submit pipeline review webhook notify provision rotate retention
BINARIES  := ./edge/cmd/trustctl ./edge/cmd/trust-edge ./functions/cmd/trust-functions

# The race detector needs cgo and a C compiler; use it where there is one.
RACE := $(shell command -v gcc >/dev/null 2>&1 && echo -race)

# LiteFS for the cluster tests and `make run-cluster`, installed once into
# the build cache (gitignored), with FUSE from Debian when missing (as root).
LITEFS_VERSION := v0.5.14
CACHE_BIN      := $(CURDIR)/.cache/bin
LITEFS         := $(CACHE_BIN)/litefs
export TRUST_LITEFS_BIN := $(LITEFS)

.PHONY: all build lambda run run-cluster test test-unit test-integration bench bench-cluster fuzz vet fmt-check clean litefs fuse sshd chromium

all: build

build:
	CGO_ENABLED=0 $(GO) build -o bin/ $(BINARIES)

lambda:
	@for f in $(FUNCTIONS); do \
		echo "dist/$$f/bootstrap"; \
		CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -tags lambda.norpc \
			-o dist/$$f/bootstrap ./functions/cmd/$$f || exit 1; \
	done

run: build
	TRUST_DATA_DIR=$(DATA) ./infra/local/run.sh

test: vet fmt-check build litefs sshd chromium test-unit test-integration

# fuse3 provides fusermount3, which LiteFS mounts and unmounts with.
fuse:
	@command -v fusermount3 >/dev/null 2>&1 || { \
		echo "installing fuse3 (apt-get)"; \
		apt-get install -y fuse3 >/dev/null || { apt-get update >/dev/null && apt-get install -y fuse3 >/dev/null; }; }

litefs: fuse $(LITEFS)

# Debian's Chromium for the pages' end-to-end tests (e2e/, headless, driven over the
# DevTools protocol by shared/cdp).
chromium:
	@test -x /usr/bin/chromium || { \
		echo "installing chromium (apt-get)"; \
		apt-get install -y chromium >/dev/null || { apt-get update >/dev/null && apt-get install -y chromium >/dev/null; }; }

# OpenSSH's server for the SSH tool's integration tests (they start their own
# sshd on a loopback port; no daemon is enabled by the package).
sshd:
	@test -x /usr/sbin/sshd || { \
		echo "installing openssh-server (apt-get)"; \
		apt-get install -y openssh-server >/dev/null || { apt-get update >/dev/null && apt-get install -y openssh-server >/dev/null; }; }

$(LITEFS):
	@echo "installing litefs $(LITEFS_VERSION) into $(CACHE_BIN) (about a minute, once)"
	GOBIN=$(CACHE_BIN) $(GO) install github.com/superfly/litefs/cmd/litefs@$(LITEFS_VERSION)

run-cluster: build litefs
	TRUST_CLUSTER_DIR=$(or $(CLUSTER_DATA),.trust-cluster) ./infra/local/run-cluster.sh

bench-cluster: build litefs
	$(GO) run ./edge/cluster/cmd/cluster-bench -litefs $(LITEFS) -edge bin/trust-edge -config infra/local/litefs-node.yml

vet:
	$(GO) vet ./...
	$(GO) vet -tags integration ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	@if command -v terraform >/dev/null 2>&1; then terraform fmt -check -recursive terraform >/dev/null 2>&1 || { \
		echo "terraform fmt needed:"; terraform fmt -check -recursive terraform; exit 1; }; \
	else echo "terraform not installed: terraform fmt -check skipped (terraform/tfcheck still parses every .tf)"; fi

test-unit:
	$(GO) test $(RACE) -timeout 15m ./...

# Tests that need real processes (built binaries, servers) carry the
# `integration` build tag.
test-integration:
	$(GO) test -tags integration -run Integration -timeout 15m ./...

bench:
	$(GO) test -run '^$$' -bench . -benchmem -timeout 20m ./...

# Short fuzzing pass over every fuzz target (FUZZTIME per target).
FUZZTIME ?= 15s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
			echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
		done; \
	done

clean:
	rm -rf bin dist

# Static-analysis evaluation on a labelled skill corpus (read only; see docs/EVALUATION.md).
CORPUS ?= ../shared/corpus/skills
.PHONY: eval
eval:
	$(GO) run ./shared/scan/cmd/eval -corpus $(CORPUS) $(if $(OSV),-osv $(OSV))

# Dependency-scan evaluation on a real OSV database (read only; see docs/dependencies.md):
# an affected pin of each advisory must be found, a fixed pin must not.
OSV_EVAL ?= ../shared/osv/pypa-advisory-database/vulns
.PHONY: eval-osv
eval-osv:
	$(GO) run ./shared/vuln/cmd/osv-eval -n 3000 $(OSV_EVAL)

# Prompt-injection flagging of the runtime guard on a labelled text corpus (read only;
# see docs/guard.md). CORPUS on the command line overrides the default here.
.PHONY: eval-injection
eval-injection: CORPUS = ../shared/corpus/injection
eval-injection:
	$(GO) run ./shared/guard/cmd/eval-injection -rounds 10 $(CORPUS)

# Behavioral-analysis evaluation: detonates the high-risk skills and the malicious set of a
# labelled corpus inside the sandbox (root, namespaces, no network; see docs/sandbox.md).
.PHONY: eval-dynamic bench-sandbox
eval-dynamic:
	$(GO) run ./shared/sandbox/cmd/eval-dynamic -corpus $(CORPUS)

bench-sandbox:
	$(GO) test -tags integration -run '^$$' -bench Detonate -benchtime 3x ./shared/sandbox/
