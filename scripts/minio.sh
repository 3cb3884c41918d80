#!/usr/bin/env bash
# The local S3 of vidup's tests, demo and benchmarks: a real MinIO server on
# 127.0.0.1 with a data folder of its own.
#
#   scripts/minio.sh install                 install the pinned MinIO into .tools/bin (once)
#   scripts/minio.sh start [DIR] [PORT]      start it (DIR default .tools/minio, PORT default 9000;
#                                            PORT 0 picks a free one), create the bucket "videos",
#                                            and print the environment to use it (eval-able)
#   scripts/minio.sh stop [DIR]              stop the server started with DIR
#   scripts/minio.sh env [DIR]               print the environment of a running server
set -euo pipefail

MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/.tools"
bin="$tools/bin/minio"
user=${VIDUP_MINIO_USER:-vidupadmin}
pass=${VIDUP_MINIO_PASSWORD:-vidupadmin-secret}
bucket=${VIDUP_MINIO_BUCKET:-videos}

log() { echo "minio.sh: $*" >&2; }

install() {
  if [ -x "$bin" ] && [ "$(cat "$tools/minio.version" 2>/dev/null)" = "$MINIO_VERSION" ]; then
    return 0
  fi
  log "installing MinIO $MINIO_VERSION into .tools/bin (a few minutes the first time)"
  mkdir -p "$tools/bin"
  GOBIN="$tools/bin" go install "github.com/minio/minio@$MINIO_VERSION"
  echo "$MINIO_VERSION" > "$tools/minio.version"
}

free_port() {
  local p
  for p in $(seq 19000 19999 | shuf); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  log "no free port between 19000 and 19999"; return 1
}

print_env() {
  local dir=$1 port
  port=$(cat "$dir/port")
  cat <<ENV
export VIDUP_TEST_S3_ENDPOINT=http://127.0.0.1:$port
export VIDUP_TEST_S3_ACCESS_KEY=$user
export VIDUP_TEST_S3_SECRET_KEY=$pass
export VIDUP_TEST_S3_BUCKET=$bucket
export VIDUP_TEST_S3_REGION=us-east-1
ENV
}

start() {
  local dir=${1:-$tools/minio} port=${2:-9000}
  install
  mkdir -p "$dir/data"
  dir=$(cd "$dir" && pwd)
  if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
    log "already running (pid $(cat "$dir/pid"))"
    print_env "$dir"; return 0
  fi
  [ "$port" = 0 ] && port=$(free_port)
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    log "port $port on 127.0.0.1 is taken; pass another: scripts/minio.sh start DIR PORT (0 picks a free one)"
    return 1
  fi
  echo "$port" > "$dir/port"
  # Certificates in $dir/certs (public.crt, private.key) turn on HTTPS.
  local certs=()
  [ -f "$dir/certs/public.crt" ] && certs=(--certs-dir "$dir/certs")
  MINIO_ROOT_USER=$user MINIO_ROOT_PASSWORD=$pass MINIO_BROWSER=off \
    MINIO_UPDATE=off MINIO_CI_CD=1 \
    nohup "$bin" server "${certs[@]}" --quiet --address "127.0.0.1:$port" "$dir/data" \
    > "$dir/minio.log" 2>&1 &
  echo $! > "$dir/pid"
  local scheme=http
  [ ${#certs[@]} -gt 0 ] && scheme=https
  local i
  for i in $(seq 1 100); do
    if curl -ksf "$scheme://127.0.0.1:$port/minio/health/live" >/dev/null 2>&1; then break; fi
    if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
      log "MinIO exited at start; its log:"; cat "$dir/minio.log" >&2; return 1
    fi
    sleep 0.1
  done
  # Create the bucket (an existing one answers 409, which is fine).
  local code
  code=$(curl -ks -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" \
    --user "$user:$pass" -X PUT "$scheme://127.0.0.1:$port/$bucket")
  case "$code" in
    200|409) ;;
    *) log "creating bucket $bucket answered HTTP $code"; return 1 ;;
  esac
  log "MinIO running on $scheme://127.0.0.1:$port (data in $dir/data, pid $(cat "$dir/pid"))"
  print_env "$dir"
}

stop() {
  local dir=${1:-$tools/minio}
  [ -f "$dir/pid" ] || return 0
  local pid; pid=$(cat "$dir/pid")
  if kill "$pid" 2>/dev/null; then
    local i
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/pid"
}

cmd=${1:-}
shift || true
case "$cmd" in
  install) install ;;
  start) start "$@" ;;
  stop) stop "$@" ;;
  env) print_env "${1:-$tools/minio}" ;;
  *) sed -n '2,10p' "$0" >&2; exit 2 ;;
esac
