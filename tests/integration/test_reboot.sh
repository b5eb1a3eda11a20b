#!/usr/bin/env bash
# -R (pgbouncer's online restart) as sluice has it, a restart in sequence: the new process
# finds the running one on its Unix socket and tells it SHUTDOWN WAIT_FOR_SERVERS; the
# transaction under way finishes on the old process, which then leaves; the new one starts
# and serves new clients. (Connections are not taken over: an idle client of the old process
# is closed. README, "Signals".)
source "$(dirname -- "$0")/lib.sh"

dir="$T/sluice${#_SLUICE_DIRS[@]}"   # start_sluice's next folder: the Unix socket goes there
mkdir -p "$dir"
((IS_ROOT)) && chown postgres:postgres "$dir"
start_sluice pool_mode=transaction "unix_socket_dir=$dir"
old=$SLUICE_PID
sess_open A "$SLUICE_PORT"
sess_expect A "begin;"
sess_expect A "select 1;"

bg_to "$T/new.out" "${AS_PG[@]}" "$SLUICE_BIN" -R "$SLUICE_INI"
new=$BG_PID
wait_until 10 "the old process to stop accepting" bash -c "! (exec 3<>/dev/tcp/127.0.0.1/$SLUICE_PORT) 2>/dev/null" ||
  die "the old process still accepts TCP clients after -R"
sess_expect A "select 2;"
[[ $SESS_OUT == 2 ]] || die "the transaction under way did not go on: $SESS_OUT"
proc_alive "$old" || die "the old process left before its transaction ended"
sess_expect A "commit;"
wait_gone "$old" 10 || die "the old process stayed after its last transaction"
wait_until 10 "the new process to listen" port_open "$SLUICE_PORT" || die "the new process did not start: $(cat "$T/new.out")"
[[ $(q "$SLUICE_PORT" 'select 3') == 3 ]] || die "the new process does not serve"
proc_alive "$new" || die "the new process is gone"
grep -q "online restart (-R)" "$SLUICE_LOG" || die "the restart was not logged"
kill -INT "$new"
wait_gone "$new" 10 || die "the new process did not stop"
sess_close A
pass "the transaction finished on the old process, new clients served by the new one"
