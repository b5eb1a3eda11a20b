#!/usr/bin/env bash
# pg_fixture.sh start|stop STATEFILE
#
# The throwaway PostgreSQL cluster the integration tests run against (CTest fixture "pg").
#
#   start STATE  creates a fresh cluster in `mktemp -d /tmp/sluice-pg.XXXXXX` (a short path:
#                Unix socket paths must stay below 107 bytes), starts it on a free TCP port on
#                127.0.0.1 and on a Unix socket in that same directory, creates the roles and
#                the database the tests use, and writes STATE as shell assignments:
#                  PGDIR   the directory (cluster in $PGDIR/data, server log $PGDIR/postgres.log)
#                  PGPORT  the port (TCP and Unix socket)
#                  PGHOST  127.0.0.1
#                  PGSOCK  the Unix socket directory (= PGDIR)
#                STATE is written as soon as the directory exists, so `stop` can clean up after
#                a start that failed halfway.
#   stop STATE   stops the cluster (pg_ctl -m immediate) and removes the directory. Idempotent:
#                a missing STATE file or an already stopped cluster is not an error.
#
# Roles: bench (LOGIN SUPERUSER, SCRAM password 'bench', owns database bench), md5user (MD5
# password 'md5pw'), plainuser (SCRAM password 'plainpw').
# Authentication: local (Unix socket) = trust, host = scram-sha-256 as asked of initdb, except
# md5user, which gets an `md5` line of its own: a role with an MD5 password cannot log in
# through a scram-sha-256 line, and the tests need a pooler to log it in with its MD5 hash.
#
# As root (the normal case: initdb and postgres refuse root) every server-side command runs
# as the `postgres` OS user through setpriv. Run as any other user, the commands run directly
# as that user; the cluster's superuser is still named postgres (initdb -U postgres).
set -u -o pipefail

PG_BINDIR=$(pg_config --bindir 2>/dev/null || true)
if [[ -z $PG_BINDIR || ! -x $PG_BINDIR/initdb ]]; then
  PG_BINDIR=/usr/lib/postgresql/15/bin
fi
PG_OS_USER=postgres

log() { echo "pg_fixture: $*" >&2; }

# Runs a command as the postgres OS user (directly when not root).
as_pg() {
  if [[ $(id -u) -eq 0 ]]; then
    setpriv --reuid="$PG_OS_USER" --regid="$PG_OS_USER" --init-groups -- "$@"
  else
    "$@"
  fi
}

free_port() {
  python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

write_state() {  # STATEFILE DIR PORT
  local tmp="$1.tmp.$$"
  {
    printf 'PGDIR=%q\n' "$2"
    printf 'PGPORT=%q\n' "$3"
    printf 'PGHOST=%q\n' 127.0.0.1
    printf 'PGSOCK=%q\n' "$2"
  } >"$tmp" && mv -f "$tmp" "$1"
}

# psql as the cluster superuser through the Unix socket (trust).
su_psql() {  # DIR PORT DB SQL
  as_pg psql -X -q -At -v ON_ERROR_STOP=1 -h "$1" -p "$2" -U postgres -d "$3" -c "$4"
}

do_stop() {
  local state=$1
  [[ -f $state ]] || return 0
  local PGDIR='' PGPORT='' PGHOST='' PGSOCK=''
  # shellcheck disable=SC1090
  source "$state" || true
  if [[ -n $PGDIR && -d $PGDIR ]]; then
    case $PGDIR in
      /tmp/sluice-pg.*) ;;
      *) log "refusing to remove unexpected PGDIR '$PGDIR'"; return 1 ;;
    esac
    if [[ -f $PGDIR/data/postmaster.pid ]]; then
      as_pg "$PG_BINDIR/pg_ctl" -D "$PGDIR/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
      # pg_ctl could not stop it (or the pid file is stale): end that postmaster by its pid.
      local pid
      pid=$(head -n1 "$PGDIR/data/postmaster.pid" 2>/dev/null || true)
      if [[ $pid =~ ^[0-9]+$ ]] && [[ $(cat "/proc/$pid/comm" 2>/dev/null) == postgres ]] &&
        grep -qzF -- "$PGDIR/data" "/proc/$pid/cmdline" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null || true
      fi
    fi
    rm -rf -- "$PGDIR"
  fi
  rm -f -- "$state"
  log "stopped${PGDIR:+ ($PGDIR)}"
}

do_start() {
  local state=$1
  # A cluster left by an earlier run that was never stopped.
  do_stop "$state" || return 1
  mkdir -p -- "$(dirname -- "$state")" || return 1

  local dir
  dir=$(mktemp -d /tmp/sluice-pg.XXXXXX) || return 1
  write_state "$state" "$dir" "" || return 1
  if [[ $(id -u) -eq 0 ]]; then
    chown "$PG_OS_USER:$PG_OS_USER" "$dir" || return 1
  fi
  chmod 755 "$dir"  # the socket lives here; other users may need to reach it

  if ! as_pg "$PG_BINDIR/initdb" -D "$dir/data" -U postgres --auth-local=trust \
      --auth-host=scram-sha-256 -E UTF8 -N >"$dir/initdb.log" 2>&1; then
    log "initdb failed:"; cat "$dir/initdb.log" >&2
    return 1
  fi

  {
    echo "# sluice integration tests"
    echo "listen_addresses = '127.0.0.1'"
    echo "unix_socket_directories = '$dir'"
    echo "fsync = off"
    echo "synchronous_commit = off"
    echo "full_page_writes = off"
    echo "max_connections = 200"
    echo "wal_level = logical"  # test_replication.sh: pg_recvlogical through sluice
  } >>"$dir/data/postgresql.conf" || return 1
  # md5user: see the header. First matching line wins, so it goes on top.
  local hba="$dir/data/pg_hba.conf"
  { echo "host all md5user 127.0.0.1/32 md5"; cat "$hba"; } >"$hba.new" && mv -f "$hba.new" "$hba" || return 1
  [[ $(id -u) -eq 0 ]] && chown "$PG_OS_USER:$PG_OS_USER" "$hba" "$dir/data/postgresql.conf"

  local attempt port started=0
  for attempt in 1 2 3 4 5; do
    port=$(free_port) || return 1
    # Appended each attempt: the last setting in the file wins.
    echo "port = $port" >>"$dir/data/postgresql.conf"
    write_state "$state" "$dir" "$port" || return 1
    if as_pg "$PG_BINDIR/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w -t 60 start >/dev/null 2>&1; then
      started=1
      break
    fi
    log "postgres did not start on port $port (attempt $attempt), log tail:"
    tail -n 5 "$dir/postgres.log" >&2 2>/dev/null
    # A postmaster that came up but was not seen in time must not linger.
    as_pg "$PG_BINDIR/pg_ctl" -D "$dir/data" -m immediate -w -t 30 stop >/dev/null 2>&1 || true
  done
  if [[ $started -ne 1 ]]; then
    log "postgres failed to start after 5 attempts"
    return 1
  fi

  local sql="
    SET password_encryption = 'scram-sha-256';
    CREATE ROLE bench LOGIN SUPERUSER PASSWORD 'bench';
    SET password_encryption = 'md5';
    CREATE ROLE md5user LOGIN PASSWORD 'md5pw';
    SET password_encryption = 'scram-sha-256';
    CREATE ROLE plainuser LOGIN PASSWORD 'plainpw';"
  # CREATE DATABASE cannot share a multi-statement -c (an implicit transaction) with the rest.
  if ! su_psql "$dir" "$port" postgres "$sql" >&2 ||
    ! su_psql "$dir" "$port" postgres "CREATE DATABASE bench OWNER bench" >&2; then
    log "creating roles / database failed"
    return 1
  fi
  # Sanity: the password kinds the tests rely on.
  local kinds
  kinds=$(su_psql "$dir" "$port" postgres \
    "select string_agg(rolname || ':' || case when rolpassword like 'md5%' then 'md5'
                                              else split_part(rolpassword, '\$', 1) end,
                       ',' order by rolname)
       from pg_authid where rolname in ('bench','md5user','plainuser')")
  if [[ $kinds != "bench:SCRAM-SHA-256,md5user:md5,plainuser:SCRAM-SHA-256" ]]; then
    log "unexpected password kinds: $kinds"
    return 1
  fi
  log "started: PGDIR=$dir PGPORT=$port"
}

main() {
  if [[ $# -ne 2 ]]; then
    echo "usage: $0 start|stop STATEFILE" >&2
    exit 2
  fi
  case $1 in
    start) do_start "$2" || { log "start failed"; exit 1; } ;;
    stop) do_stop "$2" || exit 1 ;;
    *) echo "usage: $0 start|stop STATEFILE" >&2; exit 2 ;;
  esac
}

main "$@"
