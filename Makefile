# oncallgate — see README.md. `make run` shows the system, `make test` proves it.
SHELL := /bin/bash
GO ?= go
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION = 20
FUNCTIONS := poller webhook reconcile
LAMBDA_GOFLAGS := -tags lambda.norpc -trimpath -ldflags "-s -w"
LAMBDA_ARCH ?= arm64
BENCHTIME ?= 1x
BENCH_LATENCY ?= 50ms-100ms
BENCH_INTERVAL ?= 1m
FUZZTIME ?= 5s
TEST_FLAGS ?=

.PHONY: all build build-lambdas test deps test-deps lint bench benchstat run synth deploy invoke cfn-lint fuzz infra-test clean help \
	build-PollerFunction build-WebhookFunction build-ReconcileFunction

all: build

help: ## list targets
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | sed -E 's/:.*## /\t/'

build: ## compile everything for the host (CLI, functions) and vet
	$(GO) build ./...
	$(GO) vet ./...

build-lambdas: ## build each function as bin/lambda/<name>/bootstrap (linux/$(LAMBDA_ARCH))
	@for f in $(FUNCTIONS); do \
	  echo "build $$f"; \
	  GOOS=linux GOARCH=$(LAMBDA_ARCH) CGO_ENABLED=0 $(GO) build $(LAMBDA_GOFLAGS) -o bin/lambda/$$f/bootstrap ./functions/$$f || exit 1; \
	done

# SAM (BuildMethod: makefile) calls these with ARTIFACTS_DIR set.
build-PollerFunction:
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build $(LAMBDA_GOFLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/poller
build-WebhookFunction:
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build $(LAMBDA_GOFLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/webhook
build-ReconcileFunction:
	GOOS=linux GOARCH=arm64 CGO_ENABLED=0 $(GO) build $(LAMBDA_GOFLAGS) -o $(ARTIFACTS_DIR)/bootstrap ./functions/reconcile

run: deps ## see the whole flow in one command: the CLI's sandbox tour (moto_server, simulated Teleport, PagerDuty, Opsgenie)
	$(GO) run ./cmd/oncallgate sandbox

deps: ## download Go modules; install moto_server with pip only where it is missing
	$(GO) mod download
	@command -v moto_server >/dev/null 2>&1 || { echo "installing moto[server] with pip"; python3 -m pip install --quiet "moto[server]"; }

test-deps: deps
	@command -v cfn-lint >/dev/null 2>&1 || { echo "installing cfn-lint with pip"; python3 -m pip install --quiet cfn-lint; }
	cd infra/cdk && $(GO) mod download

test: test-deps ## install what tests need, then run every test (race detector on), fuzzers briefly, CDK and template checks
	$(GO) vet ./...
	$(GO) test -race -count=1 $(TEST_FLAGS) ./...
	$(MAKE) --no-print-directory fuzz
	$(MAKE) --no-print-directory infra-test

fuzz: ## run each fuzzer for FUZZTIME (default 5s)
	@for f in FuzzParsePagerDuty FuzzParseOpsgenie FuzzVerifySignature; do \
	  $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) ./internal/webhook || exit 1; \
	done

infra-test: ## CDK assertion tests, SAM/CDK agreement, cfn-lint of template.yaml and the synthesized stack
	cd infra/cdk && $(GO) vet . && $(GO) test -count=1 .

cdk-deps:
	@test -d infra/cdk/node_modules/aws-cdk || (cd infra/cdk && npm ci --no-audit --no-fund)

synth: cdk-deps ## build the functions (arm64), then synthesize the stack offline into infra/cdk/cdk.out
	$(MAKE) --no-print-directory build-lambdas LAMBDA_ARCH=arm64
	cd infra/cdk && npx --no-install cdk synth -q

deploy: cdk-deps ## build the functions, then cdk deploy the Oncallgate stack with oncallgate.yaml
	$(MAKE) --no-print-directory build-lambdas LAMBDA_ARCH=arm64
	cd infra/cdk && npx --no-install cdk deploy Oncallgate

cfn-lint: synth ## lint template.yaml and the synthesized template (from the root, so .cfnlintrc applies)
	cfn-lint template.yaml infra/cdk/cdk.out/Oncallgate.template.json

lint: ## gofmt, go vet, staticcheck
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo "gofmt needed"; exit 1; }
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

bench: deps ## run every benchmark (~12 min; results in bench.txt; see docs/benchmarks.md). BENCH_LATENCY=50ms-100ms per PagerDuty call, BENCH_INTERVAL=1m schedule
	set -o pipefail; BENCH_LATENCY=$(BENCH_LATENCY) BENCH_INTERVAL=$(BENCH_INTERVAL) \
	  $(GO) test -p 1 -run '^$$' -bench . -benchtime $(BENCHTIME) -benchmem -timeout 60m ./... | tee bench.txt

benchstat: ## compare two `make bench` outputs: make benchstat OLD=old.txt NEW=bench.txt
	$(GO) run golang.org/x/perf/cmd/benchstat@v0.0.0-20260908200009-22c9c6c9d4da $(OLD) $(NEW)

invoke: ## run one built function locally against a Lambda Runtime API: make invoke FN=poller EVENT=events/poller-schedule.json [ENV="K=V ..."]
	$(GO) run ./cmd/invoke -fn $(FN) -event $(EVENT) $(foreach e,$(ENV),-env $(e))

clean:
	rm -rf bin infra/cdk/cdk.out .aws-sam
