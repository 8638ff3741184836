# alipay-serverless — build, test and run.
SHELL := /bin/bash
GO ?= go
GOBIN ?= $(shell $(GO) env GOPATH)/bin
STATICCHECK ?= $(GOBIN)/staticcheck
STATICCHECK_VERSION := v0.8.2
FUZZTIME ?= 3s
# AWS's Lambda Runtime Interface Emulator, under which test/deploytest runs the bootstraps.
RIE ?= $(GOBIN)/aws-lambda-rie
RIE_VERSION := v0.0.0-20261030222936-bef5c4ba774d
FUNCTIONS := createvoucher apppaysign notify settle reconcile

.PHONY: all test lint fmt-check vet staticcheck unit fuzz-short fuzz-long deps run build deploy bench soak clean

all: test

## test: everything CI runs (format, vet, staticcheck, unit + integration tests, short fuzzing)
test: deps fmt-check vet staticcheck unit fuzz-short

deps: need-node node_modules/.installed $(STATICCHECK) rie

node_modules/.installed: package.json package-lock.json | need-node
	npm ci --no-audit --no-fund
	@touch $@

# A contributor without Node gets the tool named, not a cryptic failure deeper down.
.PHONY: need-node
need-node:
	@for tool in node npm; do command -v $$tool >/dev/null 2>&1 || { \
	  echo "make: '$$tool' is not installed: the tests need Node.js >= 18 with npm (dynalite and the official alipay-sdk, pinned in package.json). Install it (Debian: apt-get install nodejs npm; or .ci/run does it), then re-run." >&2; exit 1; }; \
	done

$(STATICCHECK):
	$(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

# Reinstalled whenever the binary there is not the pinned version.
.PHONY: rie
rie:
	@$(GO) version -m $(RIE) 2>/dev/null | grep -q 'aws-lambda-runtime-interface-emulator[[:space:]]$(RIE_VERSION)' || \
	  $(GO) install github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie@$(RIE_VERSION)

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './node_modules/*')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

staticcheck: $(STATICCHECK)
	$(STATICCHECK) ./...

# Every package once plain, then the race detector on the packages with concurrency of
# their own (stores, caches, leases, deliveries, servers), so the target stays within a
# few minutes on two cores. Tests that need dynalite or node fail (never skip) without them.
RACE_PKGS := ./shared/orders/... ./shared/opcall/... ./shared/credentials/... ./shared/preauth/... ./shared/notify/... \
	./shared/apppay/... ./shared/agreements/... ./shared/httpapi/... ./shared/sandbox/... ./shared/reconcile/... ./cmd/local/...
unit:
	$(GO) test -count=1 -timeout 15m ./...
	$(GO) test -count=1 -race -timeout 15m $(RACE_PKGS)

## fuzz-short: each fuzz target for FUZZTIME (corpus in testdata/fuzz); a target whose engine
## stops without writing a failing input is run again (scripts/fuzz.sh says why)
fuzz-short:
	GO=$(GO) FUZZTIME=$(FUZZTIME) ./scripts/fuzz.sh

## fuzz-long: every fuzz target in turn for FUZZTIME (default 5m each)
fuzz-long:
	$(MAKE) fuzz-short FUZZTIME=$(if $(filter 3s,$(FUZZTIME)),5m,$(FUZZTIME))

## soak: the reliability suite with its long variants
soak: deps
	RELIABILITY_SOAK=1 $(GO) test -count=1 -timeout 30m -v ./test/reliability/

## run: every route on 127.0.0.1:3000 with embedded defaults
run:
	$(GO) run ./cmd/local

# One build line for every Lambda bootstrap: static, RPC-free, reproducible, stripped.
LAMBDA_GO_BUILD = CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -tags lambda.norpc -trimpath -buildvcs=false -ldflags='-s -w'

## build: the Lambda bootstraps for arm64 under bin/<function>/bootstrap
build:
	@for fn in $(FUNCTIONS); do \
	  mkdir -p bin/$$fn; \
	  $(LAMBDA_GO_BUILD) -o bin/$$fn/bootstrap ./functions/$$fn || exit 1; \
	  ls -l bin/$$fn/bootstrap; \
	done

# Targets `sam build` runs for BuildMethod: makefile (see template.yaml).
.PHONY: build-CreateVoucherFunction build-AppPaySignFunction build-NotifyFunction build-SettleFunction build-ReconcileFunction
build-CreateVoucherFunction:
	$(LAMBDA_GO_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/createvoucher
build-AppPaySignFunction:
	$(LAMBDA_GO_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/apppaysign
build-NotifyFunction:
	$(LAMBDA_GO_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/notify
build-SettleFunction:
	$(LAMBDA_GO_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/settle
build-ReconcileFunction:
	$(LAMBDA_GO_BUILD) -o $(ARTIFACTS_DIR)/bootstrap ./functions/reconcile

deploy:
	sam build && sam deploy

## bench: every performance measurement on this machine in one run, one table; writes BENCHMARKS.md (~2 min)
bench: node_modules/.installed
	./scripts/bench.sh

clean:
	rm -rf bin .aws-sam

## validate-template: template.yaml through the offline SAM validator (tools/samvalidate), warnings fail
.PHONY: validate-template
validate-template:
	$(GO) run ./tools/samvalidate/cmd/samvalidate -strict template.yaml

## vectors: rebuild testdata/vectors from their inputs with the official alipay-sdk (scripts/vectors/gen.js)
## vectors-check: fail if the committed vectors differ from a fresh generation (also a test in make test)
.PHONY: vectors vectors-check
vectors: node_modules/.installed
	node scripts/vectors/gen.js . testdata/vectors
vectors-check: node_modules/.installed
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && node scripts/vectors/gen.js . "$$tmp" && \
	  diff -r testdata/vectors "$$tmp" && echo "testdata/vectors: current"
