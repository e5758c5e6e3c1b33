#!/usr/bin/env bash
# A throwaway PostgreSQL for the registry tests.
#   .ci/postgres.sh start   initdb (as the postgres user when run as root) in a temp dir, listen on 127.0.0.1 on a free
#                           port, create a database; prints `export HINDCAST_TEST_POSTGRES_URL=...` on stdout, all
#                           else on stderr, so `eval "$(.ci/postgres.sh start)"` works.
#   .ci/postgres.sh stop    stops that server and removes its directory.
# The state file (HINDCAST_PG_STATE, default /tmp/hindcast-postgres.state) remembers the directory and port.
set -euo pipefail
state="${HINDCAST_PG_STATE:-/tmp/hindcast-postgres.state}"

log() { echo "postgres.sh: $*" >&2; }

bindir() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [ -z "$dir" ] && command -v initdb >/dev/null 2>&1; then dir="$(dirname "$(readlink -f "$(command -v initdb)")")"; fi
  echo "$dir"
}

as_owner() {
  if [ "$(id -u)" = 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

start() {
  local bin
  bin="$(bindir)"
  if [ -z "$bin" ]; then
    log "installing postgresql"
    apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
    bin="$(bindir)"
  fi
  if [ -f "$state" ]; then
    # shellcheck disable=SC1090
    . "$state"
    if [ -n "${PGDIR:-}" ] && as_owner "$bin/pg_ctl" -D "$PGDIR/data" status >/dev/null 2>&1; then
      log "reusing running server in $PGDIR"
      echo "export HINDCAST_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$PGPORT/hindcast_test"
      return
    fi
  fi
  local dir port
  dir="$(mktemp -d /tmp/hindcast-pg.XXXXXX)"
  chmod 755 "$dir"
  [ "$(id -u)" = 0 ] && chown postgres: "$dir"
  port="$(node -e "const s=require('net').createServer();s.listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")"
  as_owner "$bin/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --no-instructions >&2
  as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
    start >&2
  printf 'PGDIR=%s\nPGPORT=%s\nPGBIN=%s\n' "$dir" "$port" "$bin" >"$state"
  as_owner "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres hindcast_test >&2
  log "PostgreSQL running in $dir on 127.0.0.1:$port"
  echo "export HINDCAST_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:$port/hindcast_test"
}

stop() {
  [ -f "$state" ] || { log "nothing to stop"; return 0; }
  # shellcheck disable=SC1090
  . "$state"
  as_owner "$PGBIN/pg_ctl" -D "$PGDIR/data" -m fast -w stop >&2 || true
  rm -rf "$PGDIR" "$state"
  log "stopped and removed $PGDIR"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
