#!/usr/bin/env bash
# The second, independent S3 server of vidup's tests: versitygw with its posix
# backend on 127.0.0.1, static root keys, no STS (so it is driven with
# `vidup serve --credentials static`).
#
#   scripts/versitygw.sh install                 install the pinned versitygw into .tools/bin (once)
#   scripts/versitygw.sh start [DIR] [PORT]      start it (DIR default .tools/versitygw, PORT default
#                                                7070; PORT 0 picks a free one), create the bucket
#                                                "videos", print the environment to use it (eval-able)
#   scripts/versitygw.sh stop [DIR]              stop the server started with DIR
#   scripts/versitygw.sh env [DIR]               print the environment of a running server
set -euo pipefail

VERSITYGW_VERSION=v1.8.0
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=heartbeat.sh
. "$root/scripts/heartbeat.sh"
tools="$root/.tools"
bin="$tools/bin/versitygw"
user=${VIDUP_VERSITYGW_USER:-vidupgw}
pass=${VIDUP_VERSITYGW_PASSWORD:-vidupgw-secret}
bucket=${VIDUP_VERSITYGW_BUCKET:-videos}

log() { echo "versitygw.sh: $*" >&2; }

install() {
  if [ -x "$bin" ] && [ "$(cat "$tools/versitygw.version" 2>/dev/null)" = "$VERSITYGW_VERSION" ]; then
    return 0
  fi
  log "installing versitygw $VERSITYGW_VERSION into .tools/bin: go install downloads and compiles it,"
  log "about 5-10 minutes on 2 cores, once; later runs reuse it"
  mkdir -p "$tools/bin"
  local rc=0
  GOBIN="$tools/bin" with_heartbeat versitygw.sh "compiling versitygw" \
    go install "github.com/versity/versitygw/cmd/versitygw@$VERSITYGW_VERSION" || rc=$?
  if [ "$rc" != 0 ]; then return "$rc"; fi
  echo "$VERSITYGW_VERSION" > "$tools/versitygw.version"
  log "installed $("$bin" --version 2>/dev/null | head -1 || echo versitygw)"
}

free_port() {
  local p
  for p in $(seq 17000 17999 | shuf); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  log "no free port between 17000 and 17999"; return 1
}

print_env() {
  local dir=$1 port
  port=$(cat "$dir/port")
  cat <<ENV
export VIDUP_TEST_S3B_ENDPOINT=http://127.0.0.1:$port
export VIDUP_TEST_S3B_ACCESS_KEY=$user
export VIDUP_TEST_S3B_SECRET_KEY=$pass
export VIDUP_TEST_S3B_BUCKET=$bucket
export VIDUP_TEST_S3B_REGION=us-east-1
export VIDUP_TEST_S3B_NAME=versitygw
ENV
}

start() {
  local dir=${1:-$tools/versitygw} port=${2:-7070}
  install
  mkdir -p "$dir/data" "$dir/versions"
  dir=$(cd "$dir" && pwd)
  if [ -f "$dir/pid" ] && kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
    log "already running (pid $(cat "$dir/pid"))"
    print_env "$dir"; return 0
  fi
  [ "$port" = 0 ] && port=$(free_port)
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    log "port $port on 127.0.0.1 is taken; pass another: scripts/versitygw.sh start DIR PORT (0 picks a free one)"
    return 1
  fi
  echo "$port" > "$dir/port"
  ROOT_ACCESS_KEY=$user ROOT_SECRET_KEY=$pass \
    nohup "$bin" --port "127.0.0.1:$port" --region us-east-1 \
    posix "$dir/data" > "$dir/versitygw.log" 2>&1 &
  echo $! > "$dir/pid"
  local i up=
  for i in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then up=1; break; fi
    if ! kill -0 "$(cat "$dir/pid")" 2>/dev/null; then
      log "versitygw exited at start; its log:"; cat "$dir/versitygw.log" >&2; return 1
    fi
    sleep 0.1
  done
  [ -n "$up" ] || { log "versitygw does not listen on 127.0.0.1:$port; its log:"; cat "$dir/versitygw.log" >&2; return 1; }
  local code
  # versitygw insists on x-amz-content-sha256, which curl does not send.
  code=$(curl -s -o /dev/null -w '%{http_code}' --aws-sigv4 "aws:amz:us-east-1:s3" \
    -H "x-amz-content-sha256: UNSIGNED-PAYLOAD" \
    --user "$user:$pass" -X PUT "http://127.0.0.1:$port/$bucket")
  case "$code" in
    200|409) ;;
    *) log "creating bucket $bucket answered HTTP $code"; return 1 ;;
  esac
  log "versitygw running on http://127.0.0.1:$port (data in $dir/data, pid $(cat "$dir/pid"))"
  print_env "$dir"
}

stop() {
  local dir=${1:-$tools/versitygw}
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
  env) print_env "${1:-$tools/versitygw}" ;;
  *) sed -n '2,11p' "$0" >&2; exit 2 ;;
esac
