#!/usr/bin/env bash
# A throwaway PostgreSQL cluster for integration tests (see shared TESTING.md).
#
#   scripts/services/postgres.sh start DIR   initdb DIR/data (password auth), start it on 127.0.0.1
#   scripts/services/postgres.sh stop DIR    stop it (the caller removes DIR)
#
# `start` prints the superuser URL as one line: INFLOW_TEST_PG_URL=postgres://postgres:PASS@127.0.0.1:PORT/postgres
# and writes the same line to DIR/env. Authentication is scram-sha-256 for every connection (TCP
# and socket), so a wrong password is really refused. Tests only: fsync is off.
#
# Environment: INFLOW_TEST_PG_PORT (default: the first free port from 54329), INFLOW_TEST_PG_BIN
# (default: /usr/lib/postgresql/15/bin, then pg_config --bindir), INFLOW_TEST_PG_PASSWORD
# (default: random).
set -euo pipefail

usage() {
  echo "usage: $0 start|stop DIR" >&2
  exit 2
}
[[ $# -eq 2 ]] || usage
cmd=$1
dir=$2

find_bin() {
  local candidate
  for candidate in "${INFLOW_TEST_PG_BIN:-}" /usr/lib/postgresql/15/bin; do
    if [[ -n "$candidate" && -x "$candidate/initdb" && -x "$candidate/pg_ctl" ]]; then
      echo "$candidate"
      return 0
    fi
  done
  if command -v pg_config >/dev/null 2>&1; then
    candidate=$(pg_config --bindir)
    if [[ -x "$candidate/initdb" && -x "$candidate/pg_ctl" ]]; then
      echo "$candidate"
      return 0
    fi
  fi
  return 1
}

# Runs a command as the cluster's owner: `postgres` when we are root (initdb refuses root).
as_owner() {
  if [[ $(id -u) -eq 0 ]]; then
    "$(command -v runuser || echo /usr/sbin/runuser)" -u postgres -- "$@"
  else
    "$@"
  fi
}

port_in_use() {
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

start() {
  local bin
  if ! bin=$(find_bin); then
    echo "PostgreSQL 15 server binaries not found (looked in \$INFLOW_TEST_PG_BIN, /usr/lib/postgresql/15/bin, pg_config --bindir)." >&2
    echo "Install them with:  apt-get update && apt-get install -y postgresql-15" >&2
    echo "or point INFLOW_TEST_PG_URL at a PostgreSQL superuser URL to use a server you run." >&2
    exit 1
  fi
  if [[ -e "$dir/data/PG_VERSION" ]]; then
    echo "$dir/data already holds a cluster: stop it and use a new directory" >&2
    exit 1
  fi
  if [[ $(id -u) -eq 0 ]] && ! id postgres >/dev/null 2>&1; then
    "$(command -v useradd || echo /usr/sbin/useradd)" --system --no-create-home --shell /usr/sbin/nologin postgres
  fi
  mkdir -p "$dir/sock"
  if [[ $(id -u) -eq 0 ]]; then
    chown -R postgres: "$dir"
  fi
  chmod 700 "$dir"

  local password=${INFLOW_TEST_PG_PASSWORD:-}
  if [[ -z "$password" ]]; then
    password=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
  fi
  (umask 077 && printf '%s\n' "$password" >"$dir/pwfile")
  if [[ $(id -u) -eq 0 ]]; then
    chown postgres: "$dir/pwfile"
  fi

  if ! as_owner "$bin/initdb" -D "$dir/data" -U postgres --pwfile="$dir/pwfile" --auth=scram-sha-256 \
    -E UTF8 --locale=C --no-sync >"$dir/initdb.log" 2>&1; then
    cat "$dir/initdb.log" >&2
    exit 1
  fi
  rm -f "$dir/pwfile"

  local port=${INFLOW_TEST_PG_PORT:-}
  local tries=1
  if [[ -z "$port" ]]; then
    port=54329
    tries=50
  fi
  local attempt
  for ((attempt = 0; attempt < tries; attempt++)); do
    if port_in_use "$port"; then
      port=$((port + 1))
      continue
    fi
    if as_owner "$bin/pg_ctl" -D "$dir/data" -w -t 60 -l "$dir/postgres.log" start \
      -o "-p $port -k $dir/sock -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
      >/dev/null; then
      local line="INFLOW_TEST_PG_URL=postgres://postgres:${password}@127.0.0.1:${port}/postgres"
      (umask 077 && printf '%s\n' "$line" >"$dir/env")
      echo "$line"
      return 0
    fi
    # Lost a race for the port (or another failure: the log says which); try the next one.
    port=$((port + 1))
  done
  echo "could not start PostgreSQL (log: $dir/postgres.log):" >&2
  tail -n 20 "$dir/postgres.log" >&2 || true
  exit 1
}

stop() {
  if [[ ! -e "$dir/data/postmaster.pid" ]]; then
    return 0
  fi
  local bin
  bin=$(find_bin) || {
    echo "PostgreSQL binaries not found: cannot stop $dir/data" >&2
    exit 1
  }
  as_owner "$bin/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null
}

case "$cmd" in
start) start ;;
stop) stop ;;
*) usage ;;
esac
