#!/usr/bin/env bash
# The .deb of the snapshot release, installed on this machine as a user
# would install it: dpkg -i, then vidup version, man vidup, the completions,
# the systemd unit of vidup serve (systemd-analyze verify) and its env file,
# then dpkg --purge and the system user the package made, so that the
# machine is as before. make test runs it after scripts/goreleaser.sh
# snapshot; it fails (never skips) when it cannot do its job.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"

log() { echo "package-test.sh: $*" >&2; }
fail() { log "FAIL: $*"; exit 1; }

command -v dpkg >/dev/null 2>&1 || fail "dpkg is missing: this test installs the .deb and needs a Debian or Ubuntu machine"
scripts/deps.sh man-db:man
sudo=""
[ "$(id -u)" -ne 0 ] && sudo=sudo

arch=$(dpkg --print-architecture)
debs=(dist/vidup_*_"$arch".deb)
[ -f "${debs[0]}" ] || fail "no dist/vidup_*_$arch.deb: build the release first with make release-snapshot (scripts/goreleaser.sh snapshot)"
[ ${#debs[@]} -eq 1 ] || fail "several .deb for $arch in dist/ (${debs[*]}): run make release-snapshot again (it cleans dist/)"
deb=${debs[0]}

if dpkg-query -W -f '${Status}' vidup 2>/dev/null | grep -q 'installed'; then
  fail "a vidup package is installed on this machine already; this test would replace and then remove it. Remove it first (dpkg --purge vidup) or run the test elsewhere"
fi
user_before=no
getent passwd vidup >/dev/null 2>&1 && user_before=yes
group_before=no
getent group vidup >/dev/null 2>&1 && group_before=yes

# dpkg_retry ARGS...: dpkg, waiting while another dpkg or apt-get (another
# test run, scripts/deps.sh) holds its lock.
dpkg_retry() {
  local i out
  for i in $(seq 1 60); do
    if out=$($sudo dpkg "$@" 2>&1); then
      [ -n "$out" ] && echo "$out" >&2
      return 0
    fi
    if ! grep -qi 'lock' <<<"$out"; then
      echo "$out" >&2; return 1
    fi
    [ "$i" = 1 ] && log "dpkg is busy (another install holds its lock); waiting up to 2 minutes"
    sleep 2
  done
  echo "$out" >&2; return 1
}

cleanup() {
  if dpkg-query -W -f '${Status}' vidup 2>/dev/null | grep -q 'installed\|config-files'; then
    dpkg_retry --purge vidup >/dev/null || log "could not purge vidup: dpkg --purge vidup"
  fi
  # The package keeps its system user on removal (as Debian packages do);
  # the test leaves none behind that was not there before.
  if [ "$user_before" = no ] && getent passwd vidup >/dev/null 2>&1; then $sudo userdel vidup; fi
  if [ "$group_before" = no ] && getent group vidup >/dev/null 2>&1; then $sudo groupdel vidup; fi
}
trap cleanup EXIT

log "dpkg -i $deb"
dpkg_retry -i "$deb"
version=$(dpkg-deb -f "$deb" Version)

log "vidup version"
out=$(/usr/bin/vidup version)
echo "$out" | sed 's/^/    /' >&2
first=$(head -1 <<<"$out")
# The package's version is the binary's (nfpm writes a prerelease's - as ~).
[ "$first" = "vidup ${version//\~/-}" ] || fail "vidup version says \"$first\", the package is $version"
grep -q '^commit:  [0-9a-f]\{7,\}$' <<<"$out" || fail "vidup version names no commit"
grep -q '^built:   [0-9]\{4\}-' <<<"$out" || fail "vidup version names no build date"
grep -q "^os/arch: linux/$arch\$" <<<"$out" || fail "vidup version does not say linux/$arch"
[ "$(command -v vidup)" = /usr/bin/vidup ] || log "note: vidup on PATH is $(command -v vidup), not /usr/bin/vidup"

log "man vidup, man vidup-upload, man vidup-serve"
for page in vidup vidup-upload vidup-serve; do
  path=$(man -w "$page") || fail "man -w $page: no man page"
  [[ $path == /usr/share/man/man1/$page.1.gz ]] || fail "man page $page is $path, not the package's"
done
text=$(MANWIDTH=80 man -P cat vidup 2>/dev/null) || fail "man vidup does not render"
grep -q 'Upload video files straight to S3' <<<"$text" || fail "man vidup lacks the command's description:
$text"
grep -q "vidup ${version//\~/-}" <<<"$text" || fail "man vidup does not name version ${version//\~/-}"

log "completions"
for f in /usr/share/bash-completion/completions/vidup /usr/share/zsh/vendor-completions/_vidup /usr/share/fish/vendor_completions.d/vidup.fish; do
  [ -s "$f" ] || fail "$f is missing"
done
bash -c 'source /usr/share/bash-completion/completions/vidup && declare -F __start_vidup >/dev/null' \
  || fail "the bash completion does not define __start_vidup"

log "the systemd unit of vidup serve"
unit=/usr/lib/systemd/system/vidup-serve.service
[ -f "$unit" ] || fail "$unit is missing"
grep -q '^ExecStart=/usr/bin/vidup serve$' "$unit" || fail "$unit does not run /usr/bin/vidup serve"
getent passwd vidup >/dev/null || fail "the package made no user vidup"
[ "$(stat -c '%a %U %G' /etc/vidup/serve.env)" = "640 root vidup" ] \
  || fail "/etc/vidup/serve.env is $(stat -c '%a %U %G' /etc/vidup/serve.env), want 640 root vidup: it holds secrets"
if command -v systemd-analyze >/dev/null 2>&1; then
  # Offline verification: syntax, the ExecStart binary, man: links.
  if ! out=$($sudo systemd-analyze verify "$unit" 2>&1) || [ -n "$out" ]; then
    fail "systemd-analyze verify $unit reports problems:
$out"
  fi
  log "systemd-analyze verify: no problems"
else
  log "systemd-analyze is not installed: the unit was checked by the lines above only"
fi

log "dpkg --purge vidup"
dpkg_retry --purge vidup
for f in /usr/bin/vidup "$unit" /etc/vidup/serve.env /usr/share/man/man1/vidup.1.gz; do
  [ ! -e "$f" ] || fail "$f is still there after dpkg --purge vidup"
done
log "ok: $deb installs, works and removes cleanly"
