#!/usr/bin/env bash
# cancel_wait_timeout: a cancel request forwarded to a server that never answers it is given
# up on after this long: the connection sluice opened for it is closed and the failure logged.
source "$(dirname -- "$0")/lib.sh"

fake_pg_start hang
SLUICE_DATABASES="bench = host=127.0.0.1 port=$FAKE_PORT dbname=bench" \
  start_sluice auth_type=trust pool_mode=session cancel_wait_timeout=0.3

bg_to "$T/psql.out" psql -X -At -h 127.0.0.1 -p "$SLUICE_PORT" -U bench -d bench -c 'select 1'
psql_pid=$BG_PID
qfile=${FAKE_CONNS%.conns}.queries
cfile=${FAKE_CONNS%.conns}.cancels
wait_until 15 "the query to reach the fake server" grep -sqx "select 1" "$qfile" ||
  die "the query never reached the fake server (psql: $(cat "$T/psql.out"))"

kill -INT "$psql_pid"  # psql sends a CancelRequest to sluice, which forwards it
wait_until 15 "the cancel to reach the fake server" grep -sqx open "$cfile" ||
  die "the cancel request was not forwarded to the server"
wait_until 15 "sluice to give up on the cancel" grep -qF \
  "cancel request to 127.0.0.1:$FAKE_PORT failed: cancel_wait_timeout" "$SLUICE_LOG" ||
  die "no cancel_wait_timeout line in the log"
wait_until 15 "the cancel connection to be closed" grep -sqx closed "$cfile" ||
  die "sluice did not close the cancel connection after cancel_wait_timeout"

pass
