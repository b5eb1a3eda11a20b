#!/usr/bin/env bash
# SHUTDOWN WAIT_FOR_SERVERS and WAIT_FOR_CLIENTS from the console, as pgbouncer has them:
# the TCP listener closes at once, the Unix socket stays open for the console alone until
# the exit; under WAIT_FOR_SERVERS a queued client, and one that starts a new transaction,
# is closed ("server shutting down") while a transaction under way finishes; the process
# leaves when no server (WAIT_FOR_SERVERS) or no client (WAIT_FOR_CLIENTS) is left.
source "$(dirname -- "$0")/lib.sh"

start() {
  start_sluice pool_mode=transaction default_pool_size=1 admin_users=bench \
    "unix_socket_dir=$SLUICE_DIR_NEXT"
}
# The socket directory must exist before sluice starts: the next start_sluice's own folder.
next_dir() { SLUICE_DIR_NEXT="$T/sluice${#_SLUICE_DIRS[@]}"; mkdir -p "$SLUICE_DIR_NEXT"
  ((IS_ROOT)) && chown postgres:postgres "$SLUICE_DIR_NEXT"; }
adm_tcp() { PGPASSWORD=bench psql -X -At -h 127.0.0.1 -p "$SLUICE_PORT" -U bench -d pgbouncer -c "$1" 2>&1; }
on_unix() {  # DB SQL: through the Unix socket
  PGPASSWORD=bench psql -X -At -h "$SLUICE_DIR" -p "$SLUICE_PORT" -U bench -d "$1" -c "$2" 2>&1
}
waiting() { [[ $(adm_tcp "SHOW POOLS" | awk -F'|' '$1 == "bench" {print $4}') == 1 ]]; }

check_closed_doors() {  # after SHUTDOWN: TCP refused, console on the Unix socket, nothing else
  local out
  out=$(q "$SLUICE_PORT" 'select 1' 2>&1) && die "a new TCP client was served after SHUTDOWN"
  [[ $out == *"refused"* ]] || die "a new TCP client after SHUTDOWN saw '$out', not a refused connection"
  out=$(on_unix pgbouncer "SHOW VERSION") || die "the console on the Unix socket failed after SHUTDOWN: $out"
  [[ $out == *sluice* ]] || die "SHOW VERSION on the Unix socket printed '$out'"
  out=$(on_unix bench 'select 1') && die "a new client of database bench was served on the Unix socket"
  [[ $out == *"pooler is shutting down"* ]] || die "a login on the Unix socket during SHUTDOWN saw '$out'"
  out=$(on_unix pgbouncer "RESUME") && die "RESUME during SHUTDOWN succeeded"
  [[ $out == *"pooler is shutting down"* ]] || die "RESUME during SHUTDOWN said '$out'"
}

exited_with() {  # LINE: sluice has gone, logged LINE and removed its Unix socket
  wait_gone "$SLUICE_PID" 10 || die "sluice still running 10 s after its last ${1%% *} left"
  grep -q "$1" "$SLUICE_LOG" || die "no '$1' line in the log"
  [[ ! -e $SLUICE_DIR/.s.PGSQL.$SLUICE_PORT ]] || die "the Unix socket is still there after the exit"
}

# ---- WAIT_FOR_SERVERS: A is inside a transaction (the only server), B queues behind it.
next_dir
start
[[ -S $SLUICE_DIR/.s.PGSQL.$SLUICE_PORT ]] || die "no Unix socket in $SLUICE_DIR"
sess_open C "$SLUICE_PORT"   # idle, outside any transaction
sess_expect C "select 3;"
sess_open A "$SLUICE_PORT"
sess_expect A "begin;"
sess_expect A "select 1;"
bg_to "$T/queued.out" env PGPASSWORD=bench psql -X -At -h 127.0.0.1 -p "$SLUICE_PORT" -U bench -d bench -c 'select 2'
wait_until 10 "client B to queue" waiting || die "client B never queued"

out=$(adm_tcp "SHUTDOWN WAIT_FOR_SERVERS") || die "SHUTDOWN WAIT_FOR_SERVERS failed: $out"
wait "$BG_PID" && die "the queued client was served after SHUTDOWN WAIT_FOR_SERVERS"
grep -q "server shutting down" "$T/queued.out" ||
  die "the queued client saw '$(cat "$T/queued.out")', not 'server shutting down'"
check_closed_doors
sess_run C "select 4;" || true  # psql reports the error, then the closed connection
[[ $SESS_OUT == *"server shutting down"* ]] || die "a new transaction after SHUTDOWN saw '$SESS_OUT'"
grep -q "closing because: server shutting down" "$SLUICE_LOG" || die "no 'server shutting down' close logged"
sess_expect A "select 5;"
[[ $SESS_OUT == 5 ]] || die "the open transaction could not go on after SHUTDOWN: '$SESS_OUT'"
proc_alive "$SLUICE_PID" || die "sluice left while a transaction was open"
sess_expect A "commit;"
exited_with "server connections dropped, exiting"
sess_close A
sess_close C

# ---- WAIT_FOR_CLIENTS: D stays connected and is served until it leaves.
next_dir
start
sess_open D "$SLUICE_PORT"
sess_expect D "select 1;"
out=$(adm_tcp "SHUTDOWN WAIT_FOR_CLIENTS") || die "SHUTDOWN WAIT_FOR_CLIENTS failed: $out"
check_closed_doors
sess_expect D "select 6;"
[[ $SESS_OUT == 6 ]] || die "a connected client was not served after WAIT_FOR_CLIENTS: '$SESS_OUT'"
proc_alive "$SLUICE_PID" || die "sluice left while a client was connected"
sess_close D
exited_with "client connections dropped, exiting"

pass
