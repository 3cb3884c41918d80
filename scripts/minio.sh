#!/usr/bin/env bash
# The local S3 of vidup's tests, demo and benchmarks: a real MinIO server on
# 127.0.0.1 with a data folder of its own.
#
#   scripts/minio.sh install                 install the pinned MinIO into .tools/bin (once)
#   scripts/minio.sh start [DIR] [PORT]      start it (DIR default .tools/minio, PORT default 9000;
#                                            PORT 0 picks a free one), create the bucket "videos",
#                                            print the environment to use it (eval-able, stdout)
#                                            and a ready-to-paste `vidup serve` line (stderr)
#   scripts/minio.sh stop [DIR]              stop the server started with DIR
#   scripts/minio.sh env [DIR]               print the environment of a running server
#
# The first install compiles MinIO from source with go install: about 15-25
# minutes on 2 cores (3-5 on 8), a line every 20 s while it runs; later runs
# start in a second.
set -euo pipefail

MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=heartbeat.sh
. "$root/scripts/heartbeat.sh"
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
  log "installing MinIO $MINIO_VERSION into .tools/bin: go install downloads and compiles it,"
  log "about 15-25 minutes on 2 cores (3-5 on 8), once; later runs reuse it"
  mkdir -p "$tools/bin"
  GOBIN="$tools/bin" with_heartbeat minio.sh "compiling MinIO" go install "github.com/minio/minio@$MINIO_VERSION"
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
  local dir=$1 port scheme=http
  port=$(cat "$dir/port")
  [ -f "$dir/certs/public.crt" ] && scheme=https
  cat <<ENV
export VIDUP_TEST_S3_ENDPOINT=$scheme://127.0.0.1:$port
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
    print_serve "$dir"
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
  print_serve "$dir"
  print_env "$dir"
}

# print_serve says, on stderr, how to run vidup serve on this MinIO: ready
# to paste, with the server's keys, a dev token and the bucket.
print_serve() {
  local dir=$1 port scheme=http
  port=$(cat "$dir/port")
  [ -f "$dir/certs/public.crt" ] && scheme=https
  cat >&2 <<SERVE
minio.sh: to run the API on it, paste (vidup is bin/vidup after make build):
  AWS_ACCESS_KEY_ID=$user AWS_SECRET_ACCESS_KEY=$pass VIDUP_SERVER_TOKENS=dev-token \\
    vidup serve --s3-endpoint $scheme://127.0.0.1:$port --path-style --bucket $bucket
minio.sh: then upload with VIDUP_API_URL=http://127.0.0.1:8080 VIDUP_API_TOKEN=dev-token vidup upload FILE
SERVE
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
