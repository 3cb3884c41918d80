#!/usr/bin/env bash
# make test: every test, the integration tests against a real MinIO, a
# second, independent S3 server (versitygw) and PostgreSQL included. Installs
# what the tests need (MinIO, versitygw, PostgreSQL, tmux, ffmpeg), starts
# them on free loopback ports with fresh data folders, runs make lint's checks
# (scripts/lint.sh) and go test, and stops them.
# VIDUP_REQUIRE_S3=1 turns every "no S3, skipped" into a failure: this run
# can never go quietly untested.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

scripts/deps.sh tmux ffmpeg
scripts/minio.sh install
scripts/versitygw.sh install
scripts/postgres.sh install

# make lint's checks (gofmt, vet, tidy, staticcheck, cross-builds), so
# that CI enforces them.
scripts/lint.sh

# A MinIO of this run's own, so that two runs never share a server or data.
dir="$root/.tools/test-minio-$$"
gw="$root/.tools/test-versitygw-$$"
pgdir="$root/.tools/test-postgres-$$"
mkdir -p "$dir" "$gw"
trap 'scripts/minio.sh stop "$dir"; scripts/versitygw.sh stop "$gw"; scripts/postgres.sh stop "$pgdir"; rm -rf "$dir" "$gw" "$pgdir"' EXIT
eval "$(scripts/minio.sh start "$dir" 0)"
eval "$(scripts/versitygw.sh start "$gw" 0)"
eval "$(scripts/postgres.sh start "$pgdir" 0)"

export VIDUP_REQUIRE_S3=1
go test -count=1 -timeout 45m "${@:-./...}"
