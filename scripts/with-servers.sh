#!/usr/bin/env bash
# Runs a command with an S3 server (MinIO) and a DynamoDB server (dynalite) on 127.0.0.1,
# data in a temporary directory, and stops them afterwards, also when the command fails.
#
#   scripts/with-servers.sh go test ./...
#
# The command sees STOWKEN_TEST_S3_ENDPOINT, STOWKEN_TEST_DYNAMODB_ENDPOINT, AWS_REGION and
# credentials. Where STOWKEN_TEST_S3_ENDPOINT / STOWKEN_TEST_DYNAMODB_ENDPOINT are already set,
# that server is used as it is and not started. Tools come from scripts/tools.sh; the command
# also sees STOWKEN_TEST_RIE, the AWS Lambda Runtime Interface Emulator the Lambda tests run the
# functions under (scripts/tools.sh rie installs it), unless it is set already.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
eval "$("$here/tools.sh" paths)"
export STOWKEN_TEST_RIE=${STOWKEN_TEST_RIE:-$RIE}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/stowken-servers.XXXXXX")
pids=()
cleanup() {
  status=$?
  for pid in "${pids[@]}"; do
    children=$(pgrep -P "$pid" || true)
    kill "$pid" $children 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$tmp"
  exit $status
}
trap cleanup EXIT INT TERM

free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return; fi
  done
}

wait_for() { # NAME URL: until the server answers (curl), or at least accepts connections
  local hostport=${2#http://}
  hostport=${hostport%%/*}
  for _ in $(seq 1 300); do
    if command -v curl >/dev/null; then
      if curl -s -o /dev/null "$2"; then return 0; fi
    elif (exec 3<>"/dev/tcp/${hostport%:*}/${hostport#*:}") 2>/dev/null; then
      return 0
    fi
    sleep 0.2
  done
  echo "with-servers: $1 did not start at $2; its log:" >&2
  cat "$tmp/$1.log" >&2 || true
  return 1
}

export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-minioadmin}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-minioadmin}
export AWS_REGION=${AWS_REGION:-us-east-1}
unset AWS_PROFILE AWS_CA_BUNDLE

if [ -z "${STOWKEN_TEST_S3_ENDPOINT:-}" ]; then
  "$here/tools.sh" minio
  port=$(free_port)
  mkdir -p "$tmp/minio"
  MINIO_ROOT_USER=$AWS_ACCESS_KEY_ID MINIO_ROOT_PASSWORD=$AWS_SECRET_ACCESS_KEY MINIO_BROWSER=off \
    "$MINIO" server --quiet --address "127.0.0.1:$port" "$tmp/minio" >"$tmp/minio.log" 2>&1 &
  pids+=($!)
  export STOWKEN_TEST_S3_ENDPOINT="http://127.0.0.1:$port"
  wait_for minio "$STOWKEN_TEST_S3_ENDPOINT/minio/health/live"
  echo "with-servers: MinIO at $STOWKEN_TEST_S3_ENDPOINT (data in $tmp/minio)" >&2
fi

if [ -z "${STOWKEN_TEST_DYNAMODB_ENDPOINT:-}" ]; then
  "$here/tools.sh" dynalite
  port=$(free_port)
  mkdir -p "$tmp/dynalite"
  # dynalite keeps its data on disk (--path) and is restarted if it exits, so that a crash
  # (it dies when a client abandons a request mid-flight) does not lose the tables.
  (
    while :; do
      "$DYNALITE" --host 127.0.0.1 --port "$port" --path "$tmp/dynalite" \
        --createTableMs 0 --deleteTableMs 0 --updateTableMs 0 >>"$tmp/dynalite.log" 2>&1 || true
      echo "with-servers: dynalite exited; restarting" >>"$tmp/dynalite.log"
      sleep 0.2
    done
  ) &
  pids+=($!)
  export STOWKEN_TEST_DYNAMODB_ENDPOINT="http://127.0.0.1:$port"
  wait_for dynalite "$STOWKEN_TEST_DYNAMODB_ENDPOINT"
  echo "with-servers: dynalite at $STOWKEN_TEST_DYNAMODB_ENDPOINT (data in $tmp/dynalite)" >&2
fi

"$@"
