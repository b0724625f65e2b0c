# flarecast: build, test and demo on one machine. `make help` lists the targets.
SHELL := /usr/bin/env bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse HEAD 2>/dev/null)
LDFLAGS := -s -w -X github.com/flarecast/flarecast/internal/version.Version=$(VERSION) -X github.com/flarecast/flarecast/internal/version.Commit=$(COMMIT)
IMG ?= ghcr.io/flarecast/flarecast:$(VERSION)
BUILDER_IMG ?= ghcr.io/flarecast/flarecast-builder:$(VERSION)

# envtest's kube-apiserver and etcd, built once from the Go module proxy into bin/k8s.
K8S_VERSION  ?= 1.37.2
ETCD_VERSION ?= 3.5.17
ENVTEST_ASSETS := $(CURDIR)/bin/k8s
KUBECTL ?= $(ENVTEST_ASSETS)/kubectl
CONTROLLER_GEN := go tool controller-gen
# kube-api-linter (the Kubernetes API conventions, as cluster-api lints its types) has no releases:
# a pseudo-version of sigs.k8s.io/kube-api-linter, built into bin/ by hack/kube-api-linter.sh.
KAL_VERSION ?= v0.0.0-20260716143926-092fe0c72997
KAL := $(CURDIR)/bin/golangci-lint-kube-api-linter
FUZZTIME ?= 60s
# Tests that need real peers (the OCI registry, crane, GNU tar and zstd) fail instead of skipping.
export FLARECAST_REQUIRE_PEERS ?= 1

##@ General
.PHONY: help
help: ## Show the targets.
	@awk 'BEGIN {FS = ":.*##"} /^[a-zA-Z_-]+:.*?##/ { printf "  \033[36m%-14s\033[0m %s\n", $$1, $$2 } /^##@/ { printf "\n\033[1m%s\033[0m\n", substr($$0, 5) }' $(MAKEFILE_LIST)

##@ Development
.PHONY: manifests
manifests: ## Generate the CRDs and RBAC from the API markers.
	$(CONTROLLER_GEN) rbac:roleName=manager-role crd paths="./..." output:crd:artifacts:config=config/crd/bases output:rbac:artifacts:config=config/rbac

.PHONY: generate
generate: ## Generate the deepcopy code of the API types.
	$(CONTROLLER_GEN) object paths="./api/..."

.PHONY: verify-generated
verify-generated: ## Fail if the generated files differ from what the markers produce.
	@before=$$(find api config/crd/bases config/rbac -type f | sort | xargs sha256sum); \
	$(MAKE) -s manifests generate; \
	after=$$(find api config/crd/bases config/rbac -type f | sort | xargs sha256sum); \
	if [ "$$before" != "$$after" ]; then \
	  diff <(echo "$$before") <(echo "$$after") || true; \
	  echo "generated files were stale (now regenerated): commit them" >&2; exit 1; \
	fi

.PHONY: fmt
fmt: ## gofmt the code.
	gofmt -w $$(git ls-files '*.go')

.PHONY: vet
vet: ## go vet the code.
	go vet ./...

.PHONY: lint
lint: vet lint-api ## gofmt check, go vet and the API conventions.
	@unformatted=$$(gofmt -l $$(git ls-files '*.go')); \
	if [ -n "$$unformatted" ]; then echo "not gofmt-formatted: $$unformatted" >&2; exit 1; fi

.PHONY: lint-api
lint-api: ## kube-api-linter on api/ (.golangci-kal.yml: the rules cluster-api enables).
	@hack/kube-api-linter.sh bin $(KAL_VERSION)
	$(KAL) run -c .golangci-kal.yml ./api/...

.PHONY: deps
deps: ## Install the test peers: envtest binaries, OCI registry and crane, Debian tools, the Debian base and mirror.
	hack/envtest-assets.sh $(ENVTEST_ASSETS) $(K8S_VERSION) $(ETCD_VERSION) >/dev/null
	hack/test-peers.sh bin
	hack/debian-deps.sh
	hack/debian-base.sh bin >/dev/null
	hack/debian-mirror.sh bin >/dev/null

.PHONY: test
test: deps verify-generated lint ## Run every test against real peers (API server, registry, tar, zstd).
	KUBEBUILDER_ASSETS=$(ENVTEST_ASSETS) KUBEBUILDER_CONTROLPLANE_START_TIMEOUT=$${KUBEBUILDER_CONTROLPLANE_START_TIMEOUT:-2m} go test -count=1 -timeout 15m ./...
	# The patched go-nfs is a module of its own, which ./... does not reach: its tests run here.
	cd third_party/go-nfs && go test -count=1 ./...

.PHONY: test-e2e
# The demo's own e2e test without nodes (TestDemoShows…) runs in make test; these are the qemu
# boots. TestPXEInstallFromTheInstallServer installs and then reinstalls a BIOS and a UEFI node at
# once (two qemus, one TCG thread each): 6 min wall-clock on an idle 2-core machine, 8.5 min at a
# load average of 5, 10.5 min near 12 (643 s here and 981 s in CI when the two ran one after
# the other, with a UEFI reinstall only).
E2E_RUN ?= TestPXEBoot|TestProxyDHCPBoot|TestAgentPXEBoot|TestPXEInstallFromTheInstallServer|TestDisklessNFSRoot|TestADisklessNodeBoots|TestLabLeavesNothingBehind
test-e2e: deps ## Boot qemu guests (TCG; BIOS and UEFI) over the network against dnsmasq and flarecast, and make demo's nodes (root).
	FLARECAST_E2E=1 go test -count=1 -timeout 55m -v -run '$(E2E_RUN)' ./test/e2e/
	# make demo boots a qemu node and three simulated nodes to Running; make demo-down leaves nothing.
	FLARECAST_E2E=1 go test -count=1 -timeout 45m -v -run 'TestDemoBootsNodesToRunningAndDownLeavesNothing' ./test/e2e/
	# A node's installed disk (the Debian base, GRUB) boots under qemu through both script
	# stages and the second reboot, and reports Running.
	FLARECAST_E2E=1 go test -count=1 -timeout 30m -v -run 'TestSimulatedNodeInstallsGRUBAndTheDiskBoots' ./cmd/flarecast-agent/

.PHONY: fuzz
fuzz: ## Run each fuzz target for FUZZTIME (default 60s).
	@grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u | while read -r pkg; do \
	  for f in $$(grep -h '^func Fuzz' $$pkg/*_test.go | sed 's/func \(Fuzz[A-Za-z0-9_]*\).*/\1/'); do \
	    echo "== $$pkg $$f ($(FUZZTIME))"; \
	    go test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) -fuzzminimizetime 100x $$pkg || exit 1; \
	  done; \
	done

##@ Build
.PHONY: build
build: ## Build bin/flarecast.
	CGO_ENABLED=0 go build -trimpath -ldflags '$(LDFLAGS)' -o bin/flarecast .

.PHONY: agent
agent: ## Build bin/flarecast-agent, the node agent (static, no Kubernetes client).
	CGO_ENABLED=0 go build -trimpath -ldflags '-s -w' -o bin/flarecast-agent ./cmd/flarecast-agent

.PHONY: run
run: manifests generate ## Run the manager against the cluster of the current kubeconfig.
	go run . manager --log-development

.PHONY: docker-build
docker-build: ## Build the container images, the manager's and the build pods' (needs a Docker engine).
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) -t $(IMG) .
	docker build --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) --target builder -t $(BUILDER_IMG) .

##@ Deployment
.PHONY: install
install: manifests ## Install the CRDs into the cluster of the current kubeconfig.
	$(KUBECTL) apply --server-side -f config/crd/bases

.PHONY: uninstall
uninstall: ## Remove the CRDs (and every flarecast object) from the cluster.
	$(KUBECTL) delete --ignore-not-found -f config/crd/bases

.PHONY: deploy
deploy: manifests ## Deploy the manager into the cluster of the current kubeconfig.
	$(KUBECTL) apply --server-side -k config/default

.PHONY: undeploy
undeploy: ## Remove the manager from the cluster.
	$(KUBECTL) delete --ignore-not-found -k config/default

##@ Demo
.PHONY: demo
demo: ## Local API server + etcd + manager, the sample site applied and shown, its install server answering (as root). No Docker, no cluster.
	hack/demo.sh up

.PHONY: demo-down
demo-down: ## Stop the demo.
	hack/demo.sh down
