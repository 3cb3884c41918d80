# Sourced by the scripts whose first run is long (minio.sh, versitygw.sh,
# deps.sh): a long step says what it does and how long it may take, then
# prints a line every VIDUP_HEARTBEAT_SECONDS (default 20) while it runs,
# so that a silent compile never looks like a hang.
#
#   with_heartbeat PREFIX WHAT COMMAND [ARG...]
#
# prints "PREFIX: still WHAT (3m20s elapsed)" on stderr while COMMAND runs,
# then "PREFIX: WHAT took 16m02s", and returns COMMAND's exit code.

elapsed_since() {
  local s=$(( $(date +%s) - $1 ))
  if [ "$s" -ge 60 ]; then printf '%dm%02ds' $((s / 60)) $((s % 60)); else printf '%ds' "$s"; fi
}

with_heartbeat() {
  local prefix=$1 what=$2
  shift 2
  local every=${VIDUP_HEARTBEAT_SECONDS:-20} start
  start=$(date +%s)
  # The ticker stops its own sleep when it is stopped, so that nothing
  # holds stderr open after the step.
  (
    s=""
    trap '[ -n "$s" ] && kill "$s" 2>/dev/null; exit 0' TERM
    while :; do
      sleep "$every" & s=$!
      wait "$s"
      echo "$prefix: still $what ($(elapsed_since "$start") elapsed)" >&2
    done
  ) &
  local ticker=$! rc=0
  "$@" || rc=$?
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  if [ "$rc" = 0 ]; then
    echo "$prefix: $what took $(elapsed_since "$start")" >&2
  else
    echo "$prefix: $what failed after $(elapsed_since "$start") (exit $rc)" >&2
  fi
  return "$rc"
}
