# Makefile for keymanager. `make` lists the targets; `make test` is what CI runs.

include hack/versions.env

CI            ?=
GO            ?= go
BIN           := $(CURDIR)/bin
TEST_ENV      := $(BIN)/test-env.sh
# WITH_ENV loads what hack/test-deps.sh found (MariaDB URL, envtest assets,
# SoftHSM2 module) into the recipe's shell.
WITH_ENV      := set -a && . $(TEST_ENV) && set +a &&
GO_TEST_FLAGS ?= -count=1 -race
FUZZ_TIME     ?= 15s
# FUZZ_TARGETS, e.g. "./server/crypto:FuzzDecrypt"; empty means every Fuzz* test.
FUZZ_TARGETS  ?=
ARGS          ?=

export CI

SHELL         := bash
.SHELLFLAGS   := -eu -o pipefail -c
.DEFAULT_GOAL := help

.PHONY: help build run deps test fmt-check vet test-go e2e bench lint fuzz clean generate manifests generated-check \
	cluster-up cluster-down cluster-status image test-e2e test-cluster

help: ## List the targets.
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | \
		awk -F':.*## ' '{ printf "  %-10s %s\n", $$1, $$2 }'

build: ## Build bin/keymanager (cgo, for SQLite).
	CGO_ENABLED=1 $(GO) build -o $(BIN)/keymanager .

run: ## Run the server: go run . serve $(ARGS).
	$(GO) run . serve $(ARGS)

deps: ## Install/start test dependencies and write bin/test-env.sh.
	bash hack/test-deps.sh

test: deps ## Everything CI checks: deps, generated files, gofmt, vet, lint, go test (race detector), the barbican CLI, openstack CLI and castellan e2e, and the product on a real single-node cluster.
	@$(MAKE) --no-print-directory generated-check
	@$(MAKE) --no-print-directory fmt-check
	@$(MAKE) --no-print-directory vet
	@$(MAKE) --no-print-directory lint
	@$(MAKE) --no-print-directory test-go
	@$(MAKE) --no-print-directory e2e
	@$(MAKE) --no-print-directory test-cluster

# GENERATED lists every file controller-gen writes, and the chart's copies of them; generated-check compares them
# before and after.
GENERATED      = api/v1alpha1/zz_generated.deepcopy.go config/crd/bases/*.yaml config/rbac/role.yaml \
	charts/keymanager/crds/*.yaml charts/keymanager/files/role.yaml
CHART          = charts/keymanager
CONTROLLER_GEN = "$$(bash hack/deps/controller-gen.sh)"

generate: ## Generate the API types' DeepCopy methods (controller-gen, pinned).
	$(CONTROLLER_GEN) object:headerFile=hack/boilerplate/boilerplate.go.txt paths=./api/...

manifests: ## Generate CRDs into config/crd/bases and the operator's Role into config/rbac from markers; copy both into the Helm chart.
	$(CONTROLLER_GEN) crd paths=./api/... output:crd:artifacts:config=config/crd/bases \
		rbac:roleName=keymanager-operator paths=./controllers/... output:rbac:artifacts:config=config/rbac
	@# Helm installs crds/ verbatim and the chart's ClusterRole takes its rules from files/role.yaml.
	rm -f $(CHART)/crds/*.yaml
	mkdir -p $(CHART)/crds $(CHART)/files
	cp config/crd/bases/*.yaml $(CHART)/crds/
	cp config/rbac/role.yaml $(CHART)/files/role.yaml

generated-check: ## Fail if generate or manifests would change a file (the regenerated files stay for review).
	@before="$$(cat $(GENERATED) 2>/dev/null | sha256sum)"; \
	$(MAKE) --no-print-directory generate manifests >/dev/null; \
	after="$$(cat $(GENERATED) | sha256sum)"; \
	if [[ "$$before" != "$$after" ]]; then \
		echo "generated files were stale; regenerated, review and commit:"; git status --short -- api config $(CHART); exit 1; fi; \
	echo "generated files: ok"

fmt-check: ## Fail if any Go file is not gofmt-formatted.
	@files="$$(git ls-files -z --cached --others --exclude-standard '*.go' | xargs -0 -r gofmt -l)"; \
	if [[ -n "$$files" ]]; then echo "gofmt needed:"; echo "$$files"; exit 1; fi; \
	echo "gofmt: ok"

vet: ## go vet ./...
	$(GO) vet ./...

test-go: ## go test ./... with the test environment (run `make deps` first).
	$(WITH_ENV) $(GO) test $(GO_TEST_FLAGS) ./...

e2e: build ## Drive bin/keymanager with the real barbican CLI, and behind Keystone with the openstack CLI and castellan.
	$(WITH_ENV) bash hack/e2e-cli.sh
	$(WITH_ENV) bash hack/e2e-keystone.sh

bench: deps ## Run benchmarks with the test environment.
	$(WITH_ENV) $(GO) test -run '^$$' -bench . -benchmem ./...

lint: ## golangci-lint (built from the Go module proxy) with .golangci.yml.
	"$$(bash hack/deps/golangci-lint.sh)" run ./...

fuzz: ## Short fuzz runs: FUZZ_TIME per target, FUZZ_TARGETS to choose.
	FUZZ_TIME=$(FUZZ_TIME) bash hack/fuzz.sh $(FUZZ_TARGETS)

cluster-up: ## Start a real single-node Kubernetes (root; see docs/e2e-cluster.md); kubeconfig in bin/kubeconfig.
	bash hack/cluster.sh up

cluster-down: ## Stop that cluster and undo its changes to the host.
	bash hack/cluster.sh down

cluster-status: ## Exit 0 when the cluster's node is Ready.
	bash hack/cluster.sh status

image: ## Build the keymanager OCI image (no Docker engine) into bin/image; import it into the running cluster.
	bash hack/image.sh

test-e2e: ## On the running cluster (make cluster-up): operator, KeyManagers, SoftHSM2 backend, budget, rotations (docs/e2e-cluster.md).
	$(WITH_ENV) bash hack/e2e-cluster.sh

test-cluster: ## cluster-up, test-e2e, cluster-down (a running cluster is used and kept); what `make test` runs. Root.
	$(WITH_ENV) bash hack/test-cluster.sh

clean: ## Remove bin/ and test output (built tools stay in the user cache); stops a running cluster first.
	if [[ -d $(BIN)/cluster ]]; then bash hack/cluster.sh down; fi
	rm -rf $(BIN) coverage.out coverage.html *.test *.prof
