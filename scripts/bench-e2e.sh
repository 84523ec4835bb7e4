#!/usr/bin/env bash
# The end-to-end part of the benchmark: stowken bench against the S3 and DynamoDB servers
# that scripts/with-servers.sh started (MinIO and dynalite on 127.0.0.1), on the API replay log,
# next to the naive baseline written to and read from the same servers in the same run.
#
#   scripts/with-servers.sh scripts/bench-e2e.sh CORPUS_DIR [stowken bench flags, e.g. --json]
set -euo pipefail

corpus=${1:?usage: bench-e2e.sh CORPUS_DIR [bench flags]}
shift
export AWS_ENDPOINT_URL_S3=$STOWKEN_TEST_S3_ENDPOINT
export AWS_ENDPOINT_URL_DYNAMODB=$STOWKEN_TEST_DYNAMODB_ENDPOINT
store="s3://benchbucket/e2e?path_style=true"
refs=dynamodb://benchtable

bin=$(mktemp -d "${TMPDIR:-/tmp}/stowken-bench.XXXXXX")
trap 'rm -rf "$bin"' EXIT
go build -o "$bin/stowken" ./cmd/stowken
"$bin/stowken" --store "$store" --refs "$refs" init
"$bin/stowken" bench --store "$store" --refs "$refs" --corpus "$corpus/api-replay.jsonl.gz" --workload api-replay "$@"
"$bin/stowken" bench --store "$store" --refs "$refs" --corpus "$corpus"/chat/*.jsonl.gz --workload chat "$@"
