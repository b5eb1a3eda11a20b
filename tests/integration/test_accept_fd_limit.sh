#!/usr/bin/env bash
# At its descriptor limit, sluice's accept fails (EMFILE) with connections still waiting in
# the backlog: it logs the failure once (pgbouncer's "accept() failed: ...", not at every
# retry) and backs off instead of retrying in a loop (the waiting connection keeps the
# listening socket readable), keeps serving the clients it has, and takes new ones once
# descriptors are free again, saying so.
source "$(dirname -- "$0")/lib.sh"

SLUICE_WRAP=(prlimit --nofile=64:64 --)
# tcp_defer_accept off: the held connections send nothing, and with it on the kernel hands
# them to accept only after its SYN-ACK retransmits (about 7 s), a race with the hold.
start_sluice max_client_conn=1000 default_pool_size=2 tcp_defer_accept=0
[[ $(q "$SLUICE_PORT" "select 1") == 1 ]] || die "select 1 before the limit"
sess_open A "$SLUICE_PORT"
sess_expect A "select 'held';"

cpu() { awk '{print $14 + $15}' "/proc/$SLUICE_PID/stat"; }
cat >"$T/hold.py" <<'PY'
import socket, sys, time
held = []
for _ in range(120):  # more than 64 descriptors' worth
    try:
        held.append(socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=5))
    except OSError:
        break
open(sys.argv[2], "w").write(str(len(held)))
time.sleep(float(sys.argv[3]))
PY
bg_to "$T/hold.out" /usr/bin/python3 "$T/hold.py" "$SLUICE_PORT" "$T/held" 120  # killed below
holder=$BG_PID
wait_until 20 "the connections to be opened" test -s "$T/held" || die "holder: $(cat "$T/hold.out")"
wait_until 20 "accept to fail at the limit" grep -q "accept() failed: Too many open files" \
  "$SLUICE_LOG" || die "no 'accept() failed' log line with $(cat "$T/held") connections held"
ticks=$(getconf CLK_TCK)
c0=$(cpu)
sleep 3  # a fixed window to count the CPU spent while accept keeps failing
c1=$(cpu)
spent=$(((c1 - c0) * 1000 / ticks))
note "$(cat "$T/held") connections held; ${spent} ms of CPU in 3 s at the limit"
((spent < 1000)) || die "sluice spent ${spent} ms of CPU in 3 s at its descriptor limit (spinning on accept)"
# About 30 retries in those 3 s: logged once per run of failures (a descriptor freed in
# between would start a second run), not at each retry.
n=$(grep -c "accept() failed" "$SLUICE_LOG")
((n >= 1 && n <= 3)) || die "accept() failed logged $n times at the limit (expected once per run of failures)"
sess_expect A "select 'still served';"
[[ $SESS_OUT == "still served" ]] || die "a client connected before the limit: '$SESS_OUT'"
sess_close A
_kill_pid "$holder"
wait_until 30 "a new client served once descriptors are free" \
  bash -c "[[ \$(PGPASSWORD=bench psql -X -At -h 127.0.0.1 -p $SLUICE_PORT -U bench -d bench -c 'select 2' 2>/dev/null) == 2 ]]" ||
  die "no new client served after the limit"
proc_alive "$SLUICE_PID" || die "sluice exited"
grep -q "accepting again on .* after [0-9]* failed attempt" "$SLUICE_LOG" ||
  die "no 'accepting again' line after the limit"
pass "accept backs off at the descriptor limit (${spent} ms CPU in 3 s) and recovers"
