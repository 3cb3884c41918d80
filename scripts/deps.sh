#!/usr/bin/env bash
# Installs Debian packages that tests, the demo or benchmarks need, when they
# are missing: scripts/deps.sh tmux ffmpeg ...
# PACKAGE:COMMAND names a package whose command has another name
# (awscli:aws): the package is installed when the command is missing.
#
# apt-get is quiet here: the script says what it installs, that it takes
# about 1-3 minutes (more for postgresql or ffmpeg on a slow mirror), and
# prints a line every 20 s while apt-get runs.
set -euo pipefail
# shellcheck source=heartbeat.sh
. "$(dirname "$0")/heartbeat.sh"
missing=()
for spec in "$@"; do
  pkg=${spec%%:*} cmd=${spec#*:}
  command -v "$cmd" >/dev/null 2>&1 || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "deps.sh: installing ${missing[*]} with apt-get (about 1-3 minutes, once)" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo=sudo
with_heartbeat deps.sh "updating the package lists" $sudo apt-get update -qq >/dev/null
export DEBIAN_FRONTEND=noninteractive
with_heartbeat deps.sh "installing ${missing[*]}" \
  $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
