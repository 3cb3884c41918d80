#!/usr/bin/env bash
# make test: every test, the integration tests against a real MinIO included.
# Installs what the tests need (MinIO, PostgreSQL, tmux, ffmpeg), starts MinIO and
# PostgreSQL on free loopback ports with fresh data folders, runs go vet and go test,
# and stops them.
# VIDUP_REQUIRE_S3=1 turns every "no S3, skipped" into a failure: this run
# can never go quietly untested.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

scripts/deps.sh tmux ffmpeg
scripts/minio.sh install
scripts/postgres.sh install

unformatted=$(gofmt -l cmd internal)
if [ -n "$unformatted" ]; then
  echo "test.sh: gofmt would change: $unformatted" >&2
  exit 1
fi
go vet ./...

# A MinIO of this run's own, so that two runs never share a server or data.
dir="$root/.tools/test-minio-$$"
mkdir -p "$dir"
pgdir="$root/.tools/test-postgres-$$"
trap 'scripts/minio.sh stop "$dir"; rm -rf "$dir"; scripts/postgres.sh stop "$pgdir"; rm -rf "$pgdir"' EXIT
eval "$(scripts/minio.sh start "$dir" 0)"
eval "$(scripts/postgres.sh start "$pgdir" 0)"

export VIDUP_REQUIRE_S3=1
go test -count=1 -timeout 45m "${@:-./...}"
