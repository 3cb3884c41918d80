#!/usr/bin/env bash
# make lint: the checks every change must pass; scripts/test.sh (make test,
# CI) runs them too.
#
#   gofmt                 no file gofmt would change
#   go vet                on this machine's system
#   go mod tidy -diff     go.mod and go.sum say exactly what the code uses
#   staticcheck           pinned below, installed into .tools/bin (once)
#   cross-builds          every release target of .goreleaser.yaml
#
# Cross-builds are `go vet` with GOOS and GOARCH set, not `go build`: vet
# type-checks every package, its tests included, without linking (the
# linking of vidup is most of a build's time and is not cached), and checks
# the files of that system (lock_windows.go, ...) that vet here never sees.
# Each failed check is reported; the script fails if any did.
set -euo pipefail

STATICCHECK_VERSION=v0.8.2
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
tools="$root/.tools"

log() { echo "lint.sh: $*" >&2; }

# install_staticcheck builds the pinned staticcheck into .tools/bin, again
# only when the pin or Go changed (staticcheck must be built by a Go at
# least as new as the code it reads).
install_staticcheck() {
  local want; want="$STATICCHECK_VERSION $(go env GOVERSION)"
  if [ -x "$tools/bin/staticcheck" ] && [ "$(cat "$tools/staticcheck.version" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  log "installing staticcheck $STATICCHECK_VERSION into .tools/bin with $(go env GOVERSION) (downloads, then builds for about a minute the first time)"
  mkdir -p "$tools/bin"
  GOBIN="$tools/bin" go install "honnef.co/go/tools/cmd/staticcheck@$STATICCHECK_VERSION"
  echo "$want" > "$tools/staticcheck.version"
  log "installed $("$tools/bin/staticcheck" -version)"
}

# targets prints the release's GOOS/GOARCH pairs from .goreleaser.yaml's
# goos: [...] and goarch: [...] lists.
targets() {
  local goos goarch os arch
  goos=$(sed -n 's/^ *goos: *\[\(.*\)\].*/\1/p' .goreleaser.yaml | tr -d ' ' | tr ',' ' ')
  goarch=$(sed -n 's/^ *goarch: *\[\(.*\)\].*/\1/p' .goreleaser.yaml | tr -d ' ' | tr ',' ' ')
  if [ -z "$goos" ] || [ -z "$goarch" ]; then
    log ".goreleaser.yaml has no goos: [...] and goarch: [...] lists to cross-build"
    return 1
  fi
  for os in $goos; do
    for arch in $goarch; do echo "$os/$arch"; done
  done
}

failed=()
# check NAME COMMAND...: runs one check, records its failure (NAME is one
# word, for the summary).
check() {
  local name=$1; shift
  log "$name"
  if ! "$@"; then
    failed+=("$name")
  fi
}

gofmt_clean() {
  local out; out=$(gofmt -l cmd internal)
  [ -z "$out" ] && return 0
  echo "gofmt would change:" >&2; echo "$out" >&2; return 1
}

tidy() {
  # -diff prints the changes tidy would make and fails if there are any.
  go mod tidy -diff 2> >(grep -v '^go: downloading' >&2)
}

cross() {
  local t ok=0 here; here="$(go env GOOS)/$(go env GOARCH)"
  local all; all=$(targets) || return 1
  log "  release targets in .goreleaser.yaml: $(echo $all)"
  for t in $all; do
    [ "$t" = "$here" ] && continue # the plain go vet covered it
    log "  go vet for $t"
    GOOS=${t%/*} GOARCH=${t#*/} CGO_ENABLED=0 go vet ./... || { log "  $t fails"; ok=1; }
  done
  return $ok
}

check "gofmt" gofmt_clean
check "vet" go vet ./...
check "tidy" tidy
install_staticcheck
check "staticcheck" "$tools/bin/staticcheck" ./...
check "cross-builds" cross

if [ ${#failed[@]} -gt 0 ]; then
  log "failed: ${failed[*]}"
  exit 1
fi
log "all checks passed"
