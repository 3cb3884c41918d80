#!/usr/bin/env bash
# make bench: vidup against mc, s5cmd, rclone and aws-cli on a local MinIO.
#
# Installs what the bench needs (MinIO and mc with `go install`, s5cmd built
# from its module, rclone and aws-cli from Debian's packages), then runs the
# Go driver (cmd/benchrun), which starts its own MinIO on a
# free loopback port, runs every scenario for each client in turns, and
# prints a Markdown table (also written to .tools/bench-results/latest.md).
# Each client run's standard error is kept in .tools/bench-results/logs/, to
# read why a run took longer than its peers.
#
#   BENCH_RUNS=3            runs per client and scenario (the median is shown)
#   BENCH_SIZE_SCALE=1      shrink every file, e.g. 0.05 for a quick try
#   BENCH_LARGE=1           add the 8 GiB and 16 GiB files
#   BENCH_SCENARIOS=...     http,https,many,package,latency,memory (all by default;
#                           package needs ffmpeg, installed here, for its HLS ladder)
#   BENCH_CLIENTS=...       vidup,mc,s5cmd,rclone,aws (all by default)
#   BENCH_BASELINE=PATH     an earlier vidup binary, run in the same turns as the
#                           peer "vidup-before": before and after a change, side by side
#   BENCH_NO_PROBE=1        add vidup with --no-probe (peer "vidup-no-probe"): what the
#                           media probe and completeness gate cost
#   BENCH_API=1             the API load test (cmd/benchapi): registrations per second of
#                           vidup serve on SQLite, PostgreSQL with one and with two instances;
#                           0 skips it, "only" runs it alone
#   BENCH_API_VIDEOS=2000, BENCH_API_CLIENTS=32   its size
#
# A tool that cannot be installed shows as "unavailable (reason)" in the
# table; the bench never stops for it.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

MC_VERSION=v0.0.0-20250313080218-cf909e1063a9
S5CMD_VERSION=v2.3.0

tools="$root/.tools"
bin="$tools/bin"
why="$tools/bench-unavailable"
mkdir -p "$bin" "$why"
rm -f "$why"/*

log() { echo "bench.sh: $*" >&2; }

# unavailable TOOL REASON records why a peer will not be in the table.
unavailable() { log "$1 unavailable: $2"; printf '%s\n' "$2" > "$why/$1"; }

# last_error FILE: the last line of a failed install, for the table.
last_error() { grep -v '^go: downloading' "$1" | tail -n 1 | cut -c1-160; }

install_mc() {
  [ -x "$bin/mc" ] && [ "$(cat "$tools/mc.version" 2>/dev/null)" = "$MC_VERSION" ] && return 0
  log "installing mc $MC_VERSION into .tools/bin"
  local out; out=$(mktemp)
  if GOBIN="$bin" go install "github.com/minio/mc@$MC_VERSION" > "$out" 2>&1; then
    echo "$MC_VERSION" > "$tools/mc.version"
  else
    unavailable mc "go install github.com/minio/mc@$MC_VERSION failed: $(last_error "$out")"
  fi
  rm -f "$out"
}

# s5cmd's module is built from its downloaded source: `go install` of it
# fails where the module proxy does not list its versions (go install asks
# for the list to check for a deprecation), while the version itself is
# served.
install_s5cmd() {
  [ -x "$bin/s5cmd" ] && [ "$(cat "$tools/s5cmd.version" 2>/dev/null)" = "$S5CMD_VERSION" ] && return 0
  log "building s5cmd $S5CMD_VERSION into .tools/bin"
  local out src work
  out=$(mktemp)
  work=$(mktemp -d)
  if src=$(go mod download -json "github.com/peak/s5cmd/v2@$S5CMD_VERSION" 2>"$out" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p') \
    && [ -n "$src" ] && cp -r "$src/." "$work" && chmod -R u+w "$work" && rm -rf "$work/vendor" \
    && (cd "$work" && go build -mod=mod -trimpath -o "$bin/s5cmd" .) >> "$out" 2>&1; then
    echo "$S5CMD_VERSION" > "$tools/s5cmd.version"
  else
    unavailable s5cmd "building github.com/peak/s5cmd/v2@$S5CMD_VERSION failed: $(last_error "$out")"
  fi
  rm -rf "$out" "$work"
}

# apt_tool PACKAGE COMMAND installs a Debian package for a peer.
apt_tool() {
  local out; out=$(mktemp)
  if ! scripts/deps.sh "$1:$2" > "$out" 2>&1 || ! command -v "$2" >/dev/null 2>&1; then
    unavailable "$2" "installing Debian's $1 failed: $(tail -n 1 "$out" | cut -c1-160)"
  fi
  rm -f "$out"
}

# api_bench: the registrations of vidup serve under load, on a MinIO and a
# PostgreSQL of its own (cmd/benchapi), written to .tools/bench-results/api.md.
api_bench() {
  local dir="$tools/bench-api" out="$tools/bench-results/api.md"
  mkdir -p "$dir/minio" "$tools/bench-results"
  scripts/postgres.sh install
  go build -o bin/vidup ./cmd/vidup
  go build -o "$bin/benchapi" ./cmd/benchapi
  (
    trap 'scripts/minio.sh stop "$dir/minio"; scripts/postgres.sh stop "$dir/postgres"' EXIT
    eval "$(scripts/minio.sh start "$dir/minio" 0)"
    eval "$(scripts/postgres.sh start "$dir/postgres" 0)"
    "$bin/benchapi" -vidup "$root/bin/vidup" -out "$out"
  )
}

scripts/minio.sh install
if [ "${BENCH_API:-1}" = only ]; then
  api_bench
  exit 0
fi
# ffmpeg makes the package scenario's HLS ladder; without it that scenario
# says so in the table.
scripts/deps.sh ffmpeg || log "ffmpeg could not be installed: the package scenario will be skipped"
install_mc
install_s5cmd
apt_tool rclone rclone
apt_tool awscli aws
vidup_out=$(mktemp)
if ! go build -o bin/vidup ./cmd/vidup > "$vidup_out" 2>&1; then
  unavailable vidup "go build ./cmd/vidup failed: $(head -n 2 "$vidup_out" | tail -n 1 | cut -c1-160)"
fi
rm -f "$vidup_out"

# The real aws-cli program, not a version manager's shim in front of it:
# the shim's own start-up would be counted as aws-cli's.
aws_bin=$(command -v aws || true)
if [ -n "$aws_bin" ] && command -v pyenv >/dev/null 2>&1 && [[ "$aws_bin" == */shims/* ]]; then
  aws_bin=$(pyenv which aws 2>/dev/null || echo "$aws_bin")
fi

args=(-root "$root")
[ ! -s "$why/vidup" ] && args+=(-vidup "$root/bin/vidup")
[ -x "$bin/mc" ] && [ ! -s "$why/mc" ] && args+=(-mc "$bin/mc")
[ -x "$bin/s5cmd" ] && [ ! -s "$why/s5cmd" ] && args+=(-s5cmd "$bin/s5cmd")
command -v rclone >/dev/null 2>&1 && args+=(-rclone "$(command -v rclone)")
[ -n "$aws_bin" ] && args+=(-aws "$aws_bin")

# The driver stops its MinIO and servers itself; this is for a driver that
# was killed before it could.
cleanup() {
  local d
  for d in "$tools"/bench-minio-http "$tools"/bench-minio-https; do
    scripts/minio.sh stop "$d" 2>/dev/null || true
  done
}
trap cleanup EXIT

go build -o "$bin/benchrun" ./cmd/benchrun
go build -o "$bin/benchexec" ./cmd/benchexec
args+=(-benchexec "$bin/benchexec")
"$bin/benchrun" "${args[@]}"
if [ "${BENCH_API:-1}" != 0 ]; then
  api_bench
fi
