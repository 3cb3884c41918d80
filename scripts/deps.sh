#!/usr/bin/env bash
# Installs Debian packages that tests, the demo or benchmarks need, when they
# are missing: scripts/deps.sh tmux ffmpeg ...
# PACKAGE:COMMAND names a package whose command has another name
# (awscli:aws): the package is installed when the command is missing.
set -euo pipefail
missing=()
for spec in "$@"; do
  pkg=${spec%%:*} cmd=${spec#*:}
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps.sh: installing ${missing[*]}" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo=sudo
$sudo apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
