#!/usr/bin/env bash
# Runs every test; `make test` calls it under scripts/with-servers.sh. The packages that need the
# S3 and DynamoDB servers run verbosely, shown as one line per test plus the endpoints they used,
# so that the log shows they ran against the servers (under CI=true they fail, never skip, when
# a server is missing); when they fail, their whole output is shown.
set -uo pipefail
flags=${GOTEST_FLAGS:--count=1 -timeout 45m}
server_pkgs="./integration/... ./objstore/s3/... ./refcount/dynamodb/... ./lambda/..."
other_pkgs=$(go list ./... | grep -v -e /integration -e /objstore/s3 -e /refcount/dynamodb -e /lambda)
log=$(mktemp "${TMPDIR:-/tmp}/stowken-test.XXXXXX")
trap 'rm -f "$log"' EXIT

status=0
# shellcheck disable=SC2086
go test $flags $other_pkgs || status=1

echo "== tests against MinIO (${STOWKEN_TEST_S3_ENDPOINT:-unset}) and dynalite (${STOWKEN_TEST_DYNAMODB_ENDPOINT:-unset})"
# shellcheck disable=SC2086
go test $flags -v $server_pkgs >"$log" 2>&1
server_status=$?
grep -E '^(=== RUN|--- |PASS|FAIL|ok|panic)|servers:' "$log" | grep -v '^=== RUN .*/'
if [ $server_status -ne 0 ]; then
  echo "== full output of the failed server tests"
  cat "$log"
  status=1
fi
exit $status
