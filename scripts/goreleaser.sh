#!/usr/bin/env bash
# The release of vidup, built by goreleaser from .goreleaser.yaml: archives
# for linux, darwin and windows on amd64 and arm64, checksums, completions,
# man pages, and deb and rpm packages.
#
#   scripts/goreleaser.sh install    install the pinned goreleaser into .tools/bin (once)
#   scripts/goreleaser.sh check      goreleaser check: .goreleaser.yaml is valid
#   scripts/goreleaser.sh snapshot   check, then build the whole release into dist/
#                                    without publishing it (what make test and CI run)
#   scripts/goreleaser.sh ARGS...    any other goreleaser command line
set -euo pipefail

GORELEASER_VERSION=v2.15.1
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tools="$root/.tools"
bin="$tools/bin/goreleaser"

log() { echo "goreleaser.sh: $*" >&2; }

# heartbeat PID WHAT: a line every 30 s while PID runs, so that a long
# compile never looks like a hang.
heartbeat() {
  local pid=$1 what=$2 start=$SECONDS next=$((SECONDS + 30))
  while kill -0 "$pid" 2>/dev/null; do
    sleep 5
    if [ $SECONDS -ge $next ] && kill -0 "$pid" 2>/dev/null; then
      log "  still $what ($((SECONDS - start))s so far)"
      next=$((next + 30))
    fi
  done
}

# run_with_heartbeat WHAT COMMAND...: runs the command, prints a heartbeat
# while it runs and how long it took; fails as the command fails.
run_with_heartbeat() {
  local what=$1; shift
  local start=$SECONDS rc=0
  "$@" &
  local pid=$!
  heartbeat "$pid" "$what" &
  local hb=$!
  wait "$pid" || rc=$?
  kill "$hb" 2>/dev/null || true
  wait "$hb" 2>/dev/null || true
  if [ $rc -ne 0 ]; then
    log "$what failed after $((SECONDS - start))s (exit $rc)"
    return $rc
  fi
  log "done $what in $((SECONDS - start))s"
}

# install builds the pinned goreleaser into .tools/bin, again only when the
# pin or Go changed.
install() {
  local want; want="$GORELEASER_VERSION $(go env GOVERSION)"
  if [ -x "$bin" ] && [ "$(cat "$tools/goreleaser.version" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  log "installing goreleaser $GORELEASER_VERSION into .tools/bin with $(go env GOVERSION): downloads its modules, then compiles (5 to 10 minutes on 2 cores the first time; later runs reuse it)"
  mkdir -p "$tools/bin"
  GOBIN="$tools/bin" run_with_heartbeat "building goreleaser" \
    go install "github.com/goreleaser/goreleaser/v2@$GORELEASER_VERSION"
  echo "$want" > "$tools/goreleaser.version"
  log "installed $("$bin" --version 2>/dev/null | grep -m1 GitVersion || echo "$bin")"
}

check() {
  install
  log "goreleaser check"
  "$bin" check
}

snapshot() {
  check
  # What vidup version names as its commit (see .goreleaser.yaml's ldflags).
  VIDUP_COMMIT=$(git rev-parse --short=12 HEAD 2>/dev/null || true)
  export VIDUP_COMMIT
  log "goreleaser release --snapshot --clean --skip=publish: 6 binaries (linux, darwin, windows on amd64 and arm64), archives, checksums, deb and rpm into dist/ (a few minutes on 2 cores)"
  run_with_heartbeat "building the snapshot release" \
    "$bin" release --snapshot --clean --skip=publish
  ls -1 dist/*.tar.gz dist/*.zip dist/*.deb dist/*.rpm dist/checksums.txt >&2
}

case "${1:-}" in
  install) install ;;
  check) check ;;
  snapshot) snapshot ;;
  "") sed -n '2,11p' "$0" >&2; exit 2 ;;
  *) install; exec "$bin" "$@" ;;
esac
