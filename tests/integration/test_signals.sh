#!/usr/bin/env bash
# SIGINT = safe shutdown (pgbouncer): stop accepting new clients, let the transaction in
# progress finish, then exit once no server is in use.
source "$(dirname -- "$0")/lib.sh"

start_sluice pool_mode=transaction default_pool_size=2
pid=$SLUICE_PID

in_tx() {
  local n
  n=$(pg_direct "select count(*) from pg_stat_activity
                  where usename = 'bench' and state = 'idle in transaction'") && ((n == 1))
}

sess_open A "$SLUICE_PORT"
sess_expect A "begin;"
sess_expect A "select 1;"
[[ $SESS_OUT == 1 ]] || die "session A: select 1 printed '$SESS_OUT'"
wait_until 15 "session A's server to be idle in transaction" in_tx || die "session A's transaction is not visible"

note "sending SIGINT to sluice ($pid)"
kill -INT "$pid" || die "could not signal sluice $pid"

refused() { ! q "$SLUICE_PORT" 'select 1' >/dev/null 2>&1; }
wait_until 10 "new connections to be refused" refused ||
  die "sluice still accepts new clients 10 s after SIGINT"
proc_alive "$pid" || die "sluice exited before the open transaction ended"

sess_expect A "commit;"
[[ $SESS_OUT == COMMIT ]] || die "session A's commit after SIGINT printed '$SESS_OUT'"

wait_gone "$pid" 10 || die "sluice still running 10 s after the last transaction ended"
status=0
wait "$pid" 2>/dev/null || status=$?
note "sluice exit status: $status"
# 127: not our child (only if the pidfile named another process than $!), status unknown.
[[ $status -eq 0 || $status -eq 127 ]] || die "sluice exited with status $status after SIGINT (expected 0)"
sess_close A

pass
