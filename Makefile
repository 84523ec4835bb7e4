# stowken — make demo runs the main job on the embedded store; make test runs every test.
#
# Tools the tests need (MinIO, dynalite, terraform, tfsec, the reference tiktoken, DuckDB, the Lambda
# Runtime Interface Emulator) are installed by
# scripts/tools.sh into $(STOWKEN_TOOLS), outside the clone, and reused when present.

export STOWKEN_TOOLS ?= $(HOME)/.cache/stowken/tools
GO ?= go
GOTEST_FLAGS ?= -count=1 -timeout 45m

.PHONY: all demo test unit lint fmt-check terraform-fmt terraform-scan bench bench-e2e build clean lambda

all: build

build:
	$(GO) build -o bin/stowken ./cmd/stowken

## demo: generate demo conversations, import them into ./stowken-data, print stats and one conversation.
demo:
	$(GO) run ./cmd/stowken demo

## test: lint and the Terraform checks, then every test, against MinIO and dynalite started on
## 127.0.0.1 for the run.
test: lint terraform-fmt terraform-scan
	scripts/tools.sh all
	GOTEST_FLAGS="$(GOTEST_FLAGS)" scripts/with-servers.sh scripts/test.sh

## unit: the tests that need no servers (server tests skip, or fail under CI=true).
unit:
	$(GO) test -short ./...

## lint: gofmt and go vet.
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

## terraform-fmt: terraform fmt -check over terraform/ (terraform built by scripts/tools.sh).
terraform-fmt:
	@if find terraform -name '*.tf' | grep -q .; then \
		scripts/tools.sh terraform && $(STOWKEN_TOOLS)/bin/terraform-v1.5.7 fmt -check -recursive terraform; \
	else echo "terraform-fmt: no .tf files yet"; fi

## terraform-scan: tfsec (built by scripts/tools.sh) over the module and the example. It fails on
## any finding not accepted by a #tfsec:ignore comment in the .tf files; the reasons are listed in
## terraform/modules/stowken/README.md.
TFSEC_DIRS = terraform/modules/stowken terraform/examples/complete
terraform-scan:
	@scripts/tools.sh tfsec
	@set -e; tfsec=$$(scripts/tools.sh paths | sed -n 's/^TFSEC=//p'); \
	for dir in $(TFSEC_DIRS); do \
		echo "tfsec $$dir"; $$tfsec --no-color --concise-output $$dir; \
	done

## bench: codec benchmarks, then stowken bench on the chat corpus and on the API replay
## (STOWKEN_CORPUS or ../shared/corpus): compression, requests and speed next to the baselines.
BENCH_CORPUS ?= $(or $(STOWKEN_CORPUS),../shared/corpus)
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./codec/... ./vault/... ./bench/...
	$(GO) run ./cmd/stowken bench --corpus $(BENCH_CORPUS)/chat/*.jsonl.gz --workload chat
	$(GO) run ./cmd/stowken bench --corpus $(BENCH_CORPUS)/api-replay.jsonl.gz --workload api-replay

## bench-e2e: stowken bench on the API replay and the chat corpus against MinIO + dynalite started for the run
## (store and retrieve throughput and latency with 8 clients, next to naive gzip JSON objects).
bench-e2e:
	scripts/tools.sh all
	scripts/with-servers.sh scripts/bench-e2e.sh $(BENCH_CORPUS)

## lambda: build the Lambda functions for the provided.al2023 runtime, for ARCH in $(LAMBDA_ARCHS): the
## GC function (lambda/gc: dist/lambda-ARCH/bootstrap, package dist/stowken-gc-ARCH.zip) and the ingest
## function (lambda/ingest: dist/ingest-ARCH/bootstrap, package dist/stowken-ingest-ARCH.zip). Needs
## only Go: the archives are written by lambda/mkzip (bootstrap at the root, mode 0755, fixed timestamps).
LAMBDA_ARCHS ?= arm64 amd64
lambda:
	@set -e; for arch in $(LAMBDA_ARCHS); do \
		mkdir -p dist/lambda-$$arch; \
		GOOS=linux GOARCH=$$arch CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' \
			-o dist/lambda-$$arch/bootstrap ./lambda/gc; \
		$(GO) run ./lambda/mkzip -o dist/stowken-gc-$$arch.zip dist/lambda-$$arch/bootstrap; \
		echo "lambda: dist/stowken-gc-$$arch.zip (dist/lambda-$$arch/bootstrap, linux/$$arch)"; \
		mkdir -p dist/ingest-$$arch; \
		GOOS=linux GOARCH=$$arch CGO_ENABLED=0 $(GO) build -tags lambda.norpc -trimpath -ldflags='-s -w' \
			-o dist/ingest-$$arch/bootstrap ./lambda/ingest; \
		$(GO) run ./lambda/mkzip -o dist/stowken-ingest-$$arch.zip dist/ingest-$$arch/bootstrap; \
		echo "lambda: dist/stowken-ingest-$$arch.zip (dist/ingest-$$arch/bootstrap, linux/$$arch)"; \
	done

clean:
	rm -rf bin dist stowken-data
