#!/usr/bin/env bash
# Installs the tools the tests need into a cache outside the clone, reusing what is already there.
#
#   scripts/tools.sh [minio|dynalite|terraform|tfsec|tiktoken|duckdb|rie|all|paths]
#
# STOWKEN_TOOLS overrides the cache directory (default ~/.cache/stowken/tools).
# Every tool is pinned; a tool already present at the pinned version is not rebuilt.
set -euo pipefail

TOOLS="${STOWKEN_TOOLS:-$HOME/.cache/stowken/tools}"
MINIO_VERSION="v0.0.0-20260212201848-7aac2a2c5b7c"
TERRAFORM_VERSION="v1.5.7"
TFSEC_VERSION="v1.26.0"
DYNALITE_VERSION="4.0.0"
TIKTOKEN_VERSION="1.0.22"
DUCKDB_VERSION="1.5.6-r.1" # npm @duckdb/node-api, with its Linux binary: the independent Parquet reader
RIE_VERSION="v0.0.0-20261030222936-bef5c4ba774d" # AWS Lambda Runtime Interface Emulator, runs the built functions

mkdir -p "$TOOLS/bin"

log() { echo "tools: $*" >&2; }

# go_tool NAME MODULE VERSION: go install MODULE@VERSION into $TOOLS/bin/NAME-VERSION.
go_tool() {
  local name=$1 module=$2 version=$3
  local bin="$TOOLS/bin/$name-$version"
  if [ -x "$bin" ]; then return 0; fi
  log "building $module@$version (cached in $TOOLS; this takes minutes once)"
  local tmp
  tmp=$(mktemp -d "$TOOLS/build.XXXXXX")
  GOBIN="$tmp" GOFLAGS=-buildvcs=false go install "$module@$version"
  mv "$tmp/$name" "$bin"
  rm -rf "$tmp"
  ln -sf "$name-$version" "$TOOLS/bin/$name"
}

# npm_tool NAME VERSION [PACKAGE]: npm install PACKAGE@VERSION (PACKAGE defaults to NAME) into
# $TOOLS/npm/NAME-VERSION.
npm_tool() {
  local name=$1 version=$2 package=${3:-$1}
  local dir="$TOOLS/npm/$name-$version"
  if [ -f "$dir/.installed" ]; then return 0; fi
  log "installing npm $package@$version into $dir"
  rm -rf "$dir"
  mkdir -p "$dir"
  (cd "$dir" && npm install --silent --no-audit --no-fund --prefix "$dir" "$package@$version" >/dev/null)
  touch "$dir/.installed"
}

install() {
  case "$1" in
    minio) go_tool minio github.com/minio/minio "$MINIO_VERSION" ;;
    terraform) go_tool terraform github.com/hashicorp/terraform "$TERRAFORM_VERSION" ;;
    tfsec) go_tool tfsec github.com/aquasecurity/tfsec/cmd/tfsec "$TFSEC_VERSION" ;;
    dynalite) npm_tool dynalite "$DYNALITE_VERSION" ;;
    tiktoken) npm_tool tiktoken "$TIKTOKEN_VERSION" ;;
    duckdb) npm_tool duckdb "$DUCKDB_VERSION" @duckdb/node-api ;;
    rie) go_tool aws-lambda-rie github.com/aws/aws-lambda-runtime-interface-emulator/cmd/aws-lambda-rie "$RIE_VERSION" ;;
    all) install tiktoken; install duckdb; install dynalite; install terraform; install tfsec; install minio; install rie ;;
    paths)
      echo "MINIO=$TOOLS/bin/minio-$MINIO_VERSION"
      echo "TERRAFORM=$TOOLS/bin/terraform-$TERRAFORM_VERSION"
      echo "TFSEC=$TOOLS/bin/tfsec-$TFSEC_VERSION"
      echo "DYNALITE=$TOOLS/npm/dynalite-$DYNALITE_VERSION/node_modules/.bin/dynalite"
      echo "TIKTOKEN_NODE_PATH=$TOOLS/npm/tiktoken-$TIKTOKEN_VERSION/node_modules"
      echo "DUCKDB_NODE_PATH=$TOOLS/npm/duckdb-$DUCKDB_VERSION/node_modules"
      echo "RIE=$TOOLS/bin/aws-lambda-rie-$RIE_VERSION"
      ;;
    *) echo "usage: $0 [minio|dynalite|terraform|tfsec|tiktoken|duckdb|rie|all|paths]" >&2; exit 2 ;;
  esac
}

install "${1:-all}"
