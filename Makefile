# berth: `make run` starts a server on SQLite with the local runtime;
# `make test` installs what is missing and runs every check.
GO      ?= go
# The Go toolchain everything is built and tested with: go1.26.10 fixes the
# standard library's vulnerabilities that govulncheck finds called by berth
# in go1.26.8 (net/http, crypto/tls, crypto/x509, net/textproto). The go
# command fetches it from the module proxy once when the local Go is older.
GOTOOLCHAIN ?= go1.26.10
export GOTOOLCHAIN
BIN     := bin/berth
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)

.PHONY: build run test deps check bench bench-ws clean bench-usage

build:
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/berth

run: build
	./$(BIN) serve --data-dir ./berth-data

# deps installs what the tests need and this machine lacks (PostgreSQL).
deps:
	./scripts/install-deps.sh

check:
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

# test runs the tests, then the security checks even when a test failed (and
# the other way round), so one run shows both; either failing fails make test.
test: deps check build test-tools web-deps
	status=0; \
	BERTH_E2E_BIN=$(CURDIR)/$(BIN) $(GO) test -race -count=1 -timeout 40m ./... || status=1; \
	$(MAKE) test-image || status=1; \
	$(SECURITY) gosec vulncheck fuzz || status=1; \
	exit $$status

# web-deps installs the dashboard checks' one tool (TypeScript, pinned in
# web/package-lock.json) for web's tests: node --test and tsc --noEmit.
.PHONY: web-deps
web-deps: web/node_modules/.package-lock.json
web/node_modules/.package-lock.json: web/package-lock.json
	cd web && npm ci --no-audit --no-fund --loglevel=error

# test-tools builds, once per machine, the Kubernetes control plane, Loki, Jaeger
# the tests run and the security tools (cached under ~/.cache/berth; 10-30
# minutes cold, instant after), so go test's timeout counts tests, not a cold build.
.PHONY: test-tools
test-tools:
	$(GO) run ./internal/kubetest/cmd/cluster -build
	$(GO) run ./internal/lokitest/cmd/build >/dev/null
	$(GO) run ./internal/jaegertest/cmd/build >/dev/null
	$(SECURITY) tools
	$(SHIPTOOL) -all >/dev/null

# security runs gosec over the module (a finding fails unless excused in place
# with `// #nosec G### -- reason`), govulncheck at symbol level against a local
# copy of the Go vulnerability database (fails when our code calls a vulnerable
# function) and every fuzz target for FUZZTIME. The tools and the database are
# built from tools/{gosec,govulncheck,vulndb} into ~/.cache/berth once (minutes
# cold). `make gosec`, `make vulncheck` or `make fuzz` runs one of them.
FUZZTIME ?= 10s
SECURITY = $(GO) run ./internal/sectools/cmd/security -fuzztime $(FUZZTIME)
.PHONY: security gosec vulncheck fuzz
security:
	$(SECURITY) gosec vulncheck fuzz
gosec vulncheck fuzz:
	$(SECURITY) $@

# bench prints medians of several runs; it is not a test (the machine is shared and noisy).
bench: build
	$(GO) run ./bench/core -berth ./$(BIN)

clean:
	rm -rf bin

# bench-ws: 1,000 and 10,000 WebSocket clients on "metrics": publish-to-receipt p50/p99 (read by the
# clients, and delivered to their sockets by kernel stamps) against the in-process bus in the same run,
# server and client CPU per tick, server RSS (not a test). BENCH_WS_FLAGS adds flags (e.g. -clients 1000
# -runs 5, -cpuprofile /tmp/ws, -client raw|lib); see docs/operations.md.
BENCH_WS_FLAGS ?=
bench-ws:
	$(GO) build -o bin/bench-ws ./bench/ws && ./bin/bench-ws -clients 1000,10000 -runs 3 $(BENCH_WS_FLAGS)

# bench-metrics: one sampler tick of 30,000 points written to SQLite, batched with the series' ids from
# memory against one statement per row in the same run (not a test).
.PHONY: bench-metrics
bench-metrics:
	$(GO) test ./store -run '^$$' -bench PutMetrics -benchtime 5x -count 5 -benchmem

# bench-usage: the usage report over 1,000 users × 12 months of metered intervals: p50/p99 and growth (not a test).
bench-usage:
	$(GO) run ./bench/usage

# bench-kube: berth's kubernetes target against kubectl on the tests' control plane
# with 1,000 Deployments: list p50/p99, create-to-ready of 100 services, RSS (not a test).
.PHONY: bench-kube
bench-kube: build
	$(GO) build -o bin/bench-kube ./bench/kube && ./bin/bench-kube -berth ./$(BIN)

# bench-chat: p50/p99 of grammar-only chat answers with 1,000 services (target p99 < 50 ms; not a test).
.PHONY: bench-chat
bench-chat: build
	$(GO) build -o bin/bench-chat ./bench/chat && ./bin/bench-chat -berth ./$(BIN)

# cluster starts the tests' Kubernetes control plane (etcd, apiserver, controller
# manager, scheduler, kwok; built once and cached under ~/.cache/berth), prints its
# KUBECONFIG and stays in the foreground until Ctrl-C.
.PHONY: cluster
cluster:
	$(GO) run ./internal/kubetest/cmd/cluster

# loki builds the tests' Loki (tools/loki, pinned) into ~/.cache/berth/loki-<version>
# when missing (about 5 minutes cold) and prints its path.
.PHONY: loki
loki:
	$(GO) run ./internal/lokitest/cmd/build

# bench-predict: predictions of 1,000 services (CPU and memory, 7 days of hourly rollups)
# over SQLite: the first call of an hour (fits every series), a cached one, and the
# store query alone as the same-run reference (not a test).
.PHONY: bench-predict
bench-predict:
	$(GO) run ./bench/predict -services 1000 -runs 5

# bench-recommend: the recommendation engine over 1,000 services × 7 days of
# 1-minute rollups (time, extra heap) and GET /api/v1/recommendations p99
# with 1,000 open ones (not a test).
.PHONY: bench-recommend
bench-recommend: build
	$(GO) build -o bin/bench-recommend ./bench/recommend && ./bin/bench-recommend -berth ./$(BIN)

# jaeger builds the tests' Jaeger v2 (tools/jaeger, pinned) into ~/.cache/berth/jaeger-<version>
.PHONY: jaeger
jaeger:
	$(GO) run ./internal/jaegertest/cmd/build
# ---- Shipping (issue 13): image, chart, packages, release ----
# One definition of the release build flags, used by `make image|release|
# package` and copied in the Dockerfile (deploy/buildflags_test.go keeps
# the two in step). CGO is off everywhere: one static binary.
COMMIT ?= $(shell git rev-parse HEAD 2>/dev/null || echo unknown)
DATE   ?= $(shell TZ=UTC git log -1 --format=%cd --date=format-local:%Y-%m-%dT%H:%M:%SZ 2>/dev/null || echo unknown)
# Evaluated once per make run: every artifact of one run carries the same stamp.
VERSION := $(VERSION)
COMMIT  := $(COMMIT)
DATE    := $(DATE)
RELEASE_GOFLAGS := -trimpath
RELEASE_LDFLAGS = -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.date=$(DATE)
# The image's licence label: SPDX NOASSERTION until the project declares one.
LICENSE ?= NOASSERTION
SHIPTOOL = $(GO) run ./internal/shiptools/cmd/shiptool

# image writes bin/image/oci (an OCI layout: one index of linux/amd64 and
# linux/arm64), bin/image/berth-image.oci.tar and the CycloneDX SBOM
# bin/image/berth.cdx.json (read from the amd64 binary's build information,
# kept as bin/image/berth-linux-amd64), without a Docker daemon (tools/image).
.PHONY: image test-image
image:
	cd tools/image && CGO_ENABLED=0 $(GO) run . -repo $(CURDIR) -out $(CURDIR)/bin/image \
		-goflags "$(RELEASE_GOFLAGS)" -ldflags "$(RELEASE_LDFLAGS)" -version $(VERSION) -revision $(COMMIT) \
		-license $(LICENSE) -created $(DATE)
	$$($(SHIPTOOL) cyclonedx-gomod) bin -json -version $(VERSION) -output bin/image/berth.cdx.json bin/image/berth-linux-amd64
# test-image opens the image made by `make image` and runs its berth.
test-image: image
	cd tools/image && BERTH_IMAGE_DIR=$(CURDIR)/bin/image BERTH_IMAGE_VERSION=$(VERSION) $(GO) test -count=1 .

# package builds bin/berth_<version>_<arch>.deb and bin/berth-<version>.<arch>.rpm
# with nfpm (tools/nfpm): the binary, berth.service (hardened, own user),
# /etc/berth/berth.yaml and berth.env as config files, man pages and shell
# completions generated from the commands (berth gendocs).
PKG_ARCH    ?= amd64
PKG_VERSION ?= $(shell echo "$(VERSION)" | sed -E 's/^v//; s/^([^0-9])/0.0.0+git\1/; s/-/./g')
.PHONY: package
package:
	rm -rf bin/package && mkdir -p bin/package
	CGO_ENABLED=0 GOOS=linux GOARCH=$(PKG_ARCH) $(GO) build $(RELEASE_GOFLAGS) -ldflags "$(RELEASE_LDFLAGS)" -o bin/package/berth ./cmd/berth
	docs=bin/package/berth; [ "$(PKG_ARCH)" = "$$($(GO) env GOHOSTARCH)" ] || { docs=bin/package/berth-host; \
		$(GO) build $(RELEASE_GOFLAGS) -ldflags "$(RELEASE_LDFLAGS)" -o $$docs ./cmd/berth; }; \
	$$docs gendocs --man bin/package/man --completions bin/package/completions
	gzip -9n bin/package/man/*.1
	nfpm=$$($(SHIPTOOL) nfpm) && for p in deb rpm; do \
		PKG_ARCH=$(PKG_ARCH) PKG_VERSION=$(PKG_VERSION) $$nfpm package -f packaging/nfpm.yaml -p $$p -t bin/ || exit 1; done

# release builds berth for linux and darwin, amd64 and arm64, stamped with
# version, commit and date (berth version), and bin/release/SHA256SUMS.
RELEASE_PLATFORMS ?= linux/amd64 linux/arm64 darwin/amd64 darwin/arm64
.PHONY: release
release:
	rm -rf bin/release && mkdir -p bin/release
	for p in $(RELEASE_PLATFORMS); do os=$${p%/*}; arch=$${p#*/}; \
		CGO_ENABLED=0 GOOS=$$os GOARCH=$$arch $(GO) build $(RELEASE_GOFLAGS) -ldflags "$(RELEASE_LDFLAGS)" \
			-o bin/release/berth-$(VERSION)-$$os-$$arch ./cmd/berth || exit 1; done
	cd bin/release && sha256sum berth-* > SHA256SUMS

# deploy installs (or upgrades) the Helm chart into the current kube
# context's namespace berth-system; HELM_ARGS adds values
# (e.g. --set image.repository=registry.example.com/berth).
HELM_ARGS ?=
.PHONY: deploy deploy-manifest
deploy:
	$$($(SHIPTOOL) helm) upgrade --install berth deploy/helm/berth --namespace berth-system --create-namespace $(HELM_ARGS)

# deploy-manifest writes deploy/kubernetes/berth.yaml, the chart rendered
# for kubectl users (deploy/helm_test.go keeps it identical to helm template).
deploy-manifest:
	{ cat deploy/kubernetes/berth.yaml.header; \
	  $$($(SHIPTOOL) helm) template berth deploy/helm/berth --namespace berth-system \
		--set secretKey.existingSecret=berth-secret-key --set admin.existingSecret=berth-admin; } > deploy/kubernetes/berth.yaml

# bench-chaos: two replicas on PostgreSQL under 20 clients' mixed load, the leader
# SIGKILLed every 30 s for 5 minutes; then PostgreSQL restarted under the load and
# kube-apiserver restarted mid-rollout: failover p50/p99, failed requests by class,
# workloads against /proc, audit rows, WebSocket resyncs, same-run ratios (not a
# test; about 12 minutes; -duration 1m -every 20s for a quick run).
.PHONY: bench-chaos
bench-chaos: build
	$(GO) build -o bin/bench-chaos ./bench/chaos && ./bin/bench-chaos -berth ./$(BIN)
# bench-backup: berth backup and restore (child processes) of SQLite stores with
# 250,000 and 2,000,000 raw metric points: time and peak RSS, medians of 3, and
# the two sizes' ratios (RSS stays flat as the rows grow; not a test).
.PHONY: bench-backup
bench-backup: build
	$(GO) build -o bin/bench-backup ./bench/backup && ./bin/bench-backup -berth ./$(BIN) -sizes 250000,2000000 -runs 3
# bench-scale: 10,000 Deployments in 100 namespaces on the tests' control plane
# (start to /readyz ready, list against kubectl -A, RSS) and 1,000 local services
# + 1,000 environments running (RSS, heap top); SCALE_BASELINE=<an older berth
# binary> measures it beside this one in the local runs (not a test).
SCALE_BASELINE ?=
.PHONY: bench-scale
bench-scale: build
	$(GO) build -o bin/bench-scale ./bench/scale && ./bin/bench-scale -berth ./$(BIN) $(if $(SCALE_BASELINE),-baseline $(SCALE_BASELINE))
