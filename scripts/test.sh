#!/usr/bin/env bash
# make test: every test, the integration tests against a real MinIO included.
# Installs what the tests need (MinIO, tmux), starts MinIO on a free loopback
# port with a fresh data folder, runs make lint's checks and go test, and
# stops MinIO.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

scripts/deps.sh tmux
scripts/minio.sh install

# make lint's checks (gofmt, vet, tidy, staticcheck, cross-builds), so
# that CI enforces them.
scripts/lint.sh

# A MinIO of this run's own, so that two runs never share a server or data.
dir="$root/.tools/test-minio-$$"
mkdir -p "$dir"
trap 'scripts/minio.sh stop "$dir"; rm -rf "$dir"' EXIT
eval "$(scripts/minio.sh start "$dir" 0)"

go test -count=1 -timeout 45m "${@:-./...}"
