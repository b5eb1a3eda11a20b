#!/usr/bin/env bash
# At its descriptor limit, sluice's accept fails (EMFILE) with connections still waiting in
# the backlog: it logs the failure and backs off instead of retrying in a loop (the waiting
# connection keeps the listening socket readable), keeps serving the clients it has, and
# takes new ones once descriptors are free again.
source "$(dirname -- "$0")/lib.sh"

SLUICE_WRAP=(prlimit --nofile=64:64 --)
start_sluice max_client_conn=1000 default_pool_size=2
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
bg_to "$T/hold.out" /usr/bin/python3 "$T/hold.py" "$SLUICE_PORT" "$T/held" 8
holder=$BG_PID
wait_until 20 "the connections to be opened" test -s "$T/held" || die "holder: $(cat "$T/hold.out")"
wait_until 20 "accept to fail at the limit" grep -q "accept failed" "$SLUICE_LOG" ||
  die "no 'accept failed' log line with $(cat "$T/held") connections held"
ticks=$(getconf CLK_TCK)
c0=$(cpu)
sleep 3  # a fixed window to count the CPU spent while accept keeps failing
c1=$(cpu)
spent=$(((c1 - c0) * 1000 / ticks))
note "$(cat "$T/held") connections held; ${spent} ms of CPU in 3 s at the limit"
((spent < 1000)) || die "sluice spent ${spent} ms of CPU in 3 s at its descriptor limit (spinning on accept)"
sess_expect A "select 'still served';"
[[ $SESS_OUT == "still served" ]] || die "a client connected before the limit: '$SESS_OUT'"
sess_close A
_kill_pid "$holder"
wait_until 30 "a new client served once descriptors are free" \
  bash -c "[[ \$(PGPASSWORD=bench psql -X -At -h 127.0.0.1 -p $SLUICE_PORT -U bench -d bench -c 'select 2' 2>/dev/null) == 2 ]]" ||
  die "no new client served after the limit"
proc_alive "$SLUICE_PID" || die "sluice exited"
pass "accept backs off at the descriptor limit (${spent} ms CPU in 3 s) and recovers"
