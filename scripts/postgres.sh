#!/usr/bin/env bash
# The local PostgreSQL of vidup's tests, demo and benchmarks: Debian's server on
# 127.0.0.1 with a data folder of its own, run by an unprivileged user.
#
#   scripts/postgres.sh install               install Debian's postgresql when it is missing
#   scripts/postgres.sh start [DIR] [PORT]    initdb (once) and start it (DIR default .tools/postgres,
#                                             PORT default 0: a free one), create the database "vidup",
#                                             and print the environment to use it (eval-able)
#   scripts/postgres.sh stop [DIR]            stop the server started with DIR
#   scripts/postgres.sh env [DIR]             print the environment of a running server
#
# PostgreSQL refuses to run as root: as root, the server runs as the system user
# vidup-pg (created when absent). Its data folder is DIR/data, or a private
# folder under /tmp when vidup-pg cannot reach DIR (a home folder of mode 0700).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
tools="$root/.tools"
pguser=${VIDUP_PG_SYSTEM_USER:-vidup-pg}
db=vidup
role=vidup

log() { echo "postgres.sh: $*" >&2; }

# bindir prints the folder of Debian's newest installed server binaries.
bindir() {
  local d
  d=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
  [ -n "$d" ] && [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && echo "$d"
}

install() {
  if bindir >/dev/null; then return 0; fi
  log "PostgreSQL's server is not installed; installing Debian's postgresql with apt-get (about 1-3 minutes, once)"
  # The package's own cluster is not used: ours has its own folder and port.
  "$root/scripts/deps.sh" postgresql:/nonexistent/postgresql-server
  bindir >/dev/null || { log "postgresql installed, but no /usr/lib/postgresql/*/bin/initdb"; return 1; }
}

# as runs a command as the unprivileged server user.
as() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u "$pguser" -- "$@"
  else
    "$@"
  fi
}

ensure_user() {
  [ "$(id -u)" -eq 0 ] || return 0
  if ! id "$pguser" >/dev/null 2>&1; then
    log "creating the system user $pguser to run PostgreSQL (it refuses to run as root)"
    useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin "$pguser"
  fi
}

free_port() {
  local p
  for p in $(seq 25000 25999 | shuf); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return 0; fi
  done
  log "no free port between 25000 and 25999"; return 1
}

print_env() {
  local dir=$1
  local port pass
  port=$(cat "$dir/port")
  pass=$(cat "$dir/password")
  cat <<ENV
export VIDUP_TEST_POSTGRES_URL=postgres://$role:$pass@127.0.0.1:$port/$db?sslmode=disable
ENV
}

running() {
  local dir=$1 data
  [ -f "$dir/datadir" ] || return 1
  data=$(cat "$dir/datadir")
  as "$(bindir)/pg_ctl" -D "$data/cluster" status >/dev/null 2>&1
}

start() {
  local dir=${1:-$tools/postgres} port=${2:-0}
  install
  ensure_user
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  local bin; bin=$(bindir)
  if running "$dir"; then
    log "already running (data in $(cat "$dir/datadir"))"
    print_env "$dir"; return 0
  fi

  local data
  if [ -f "$dir/datadir" ] && [ -d "$(cat "$dir/datadir")" ]; then
    data=$(cat "$dir/datadir")
  else
    data="$dir/data"
    if [ "$(id -u)" -eq 0 ] && ! runuser -u "$pguser" -- test -x "$dir"; then
      data=$(mktemp -d /tmp/vidup-pg.XXXXXX)
      log "$pguser cannot reach $dir; the data folder is $data"
    fi
    mkdir -p "$data"
    chmod 0700 "$data"
    [ "$(id -u)" -eq 0 ] && chown "$pguser" "$data"
    echo "$data" > "$dir/datadir"
  fi

  if [ ! -f "$data/PG_VERSION" ]; then
    # The password of the database role: random, kept beside the data, given
    # to initdb through a file only the server user reads.
    (umask 077; head -c 18 /dev/urandom | base64 | tr '+/' '-_' > "$dir/password")
    local pwfile="$data/.pwfile"
    (umask 077; cp "$dir/password" "$data/.pwfile.tmp")
    [ "$(id -u)" -eq 0 ] && chown "$pguser" "$data/.pwfile.tmp"
    mv "$data/.pwfile.tmp" "$pwfile"
    # initdb makes its own folder, cluster/, beside the password file.
    local init="$data/cluster"
    log "initdb $init (as $(as id -un))"
    # Loopback connections need the password (SCRAM); the Unix socket lives
    # in the private data folder, so only the server user reaches it.
    as "$bin/initdb" -D "$init" -U "$role" --pwfile="$pwfile" --auth-host=scram-sha-256 \
      --auth-local=trust -E UTF8 --locale=C.UTF-8 >"$data/initdb.log" 2>&1 || {
        log "initdb failed; its log:"; cat "$data/initdb.log" >&2; return 1; }
    rm -f "$pwfile"
  fi
  local cluster="$data/cluster"

  [ "$port" = 0 ] && port=$(free_port)
  if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
    log "port $port on 127.0.0.1 is taken; pass another: scripts/postgres.sh start DIR PORT (0 picks a free one)"
    return 1
  fi
  echo "$port" > "$dir/port"
  # A test server: synchronous_commit=off is SQLite's synchronous=NORMAL in
  # spirit (a crash of the machine may lose the last commits, never corrupts).
  as "$bin/pg_ctl" -D "$cluster" -l "$data/postgres.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$data -c synchronous_commit=off -c max_connections=200" \
    start >/dev/null || { log "PostgreSQL did not start; its log:"; cat "$data/postgres.log" >&2; return 1; }

  # Create the database (it exists when the folder was used before).
  if ! as "$bin/psql" -h "$data" -p "$port" -U "$role" -d postgres -tAq \
      -c "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
    as "$bin/createdb" -h "$data" -p "$port" -U "$role" "$db"
  fi
  log "PostgreSQL running on 127.0.0.1:$port (data in $cluster, as $(as id -un))"
  print_env "$dir"
}

stop() {
  local dir=${1:-$tools/postgres}
  [ -f "$dir/datadir" ] || return 0
  local data bin
  data=$(cat "$dir/datadir")
  bin=$(bindir) || return 0
  if [ -f "$data/cluster/postmaster.pid" ]; then
    as "$bin/pg_ctl" -D "$data/cluster" -m fast -w -t 30 stop >/dev/null 2>&1 ||
      as "$bin/pg_ctl" -D "$data/cluster" -m immediate stop >/dev/null 2>&1 || true
  fi
  # A data folder under /tmp belongs to DIR alone: it goes with the server.
  case "$data" in
    /tmp/vidup-pg.*) rm -rf "$data"; rm -f "$dir/datadir" ;;
  esac
}

cmd=${1:-}
shift || true
case "$cmd" in
  install) install ;;
  start) start "$@" ;;
  stop) stop "$@" ;;
  env) print_env "${1:-$tools/postgres}" ;;
  *) sed -n '2,14p' "$0" >&2; exit 2 ;;
esac
