# stowken — make demo runs the main job on the embedded store; make test runs every test.
#
# Tools the tests need (MinIO, dynalite, terraform, the reference tiktoken) are installed by
# scripts/tools.sh into $(STOWKEN_TOOLS), outside the clone, and reused when present.

export STOWKEN_TOOLS ?= $(HOME)/.cache/stowken/tools
GO ?= go
GOTEST_FLAGS ?= -count=1 -timeout 45m

.PHONY: all demo test unit lint fmt-check terraform-fmt bench build clean

all: build

build:
	$(GO) build -o bin/stowken ./cmd/stowken

## demo: generate demo conversations, import them into ./stowken-data, print stats and one conversation.
demo:
	$(GO) run ./cmd/stowken demo

## test: lint, then every test, against MinIO and dynalite started on 127.0.0.1 for the run.
test: lint terraform-fmt
	scripts/tools.sh all
	scripts/with-servers.sh $(GO) test $(GOTEST_FLAGS) ./...

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

## bench: codec benchmarks and the chat-corpus compression measurement.
bench:
	$(GO) test -run '^$$' -bench . -benchmem ./codec/... ./vault/...
	$(GO) test -run TestChatCorpusBytesPerToken -v ./vault/

clean:
	rm -rf bin stowken-data
