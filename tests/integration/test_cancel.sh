#!/usr/bin/env bash
# Query cancellation: psql's Ctrl-C sends a CancelRequest (with the key sluice gave it) to
# sluice, which must forward it to the right server. A CancelRequest with an unknown key
# must do nothing harmful.
source "$(dirname -- "$0")/lib.sh"

start_sluice pool_mode=transaction default_pool_size=2

sleeping() {
  local n
  n=$(pg_direct "select count(*) from pg_stat_activity
                  where usename = 'bench' and state = 'active' and query = 'select pg_sleep(60)'") &&
    ((n == 1))
}

# A CancelRequest with a key sluice never handed out, while a query runs: it must neither
# cancel that query nor break the pooler. Sent raw; sluice should just close the socket.
bogus_cancel() {
  python3 - "$SLUICE_PORT" <<'PY'
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(struct.pack("!iiii", 16, 80877102, 0x1234567, 0x7654321))
try:
    data = s.recv(1024)
except socket.timeout:
    sys.exit("no close within 10 s")
sys.exit(0 if data == b"" else "unexpected reply: %r" % data)
PY
}

EXPECT='canceling statement due to user request'

bg_to "$T/psql.out" env PGPASSWORD=bench psql -X -At -h 127.0.0.1 -p "$SLUICE_PORT" -U bench -d bench \
  -c 'select pg_sleep(60)'
psql_pid=$BG_PID
wait_until 30 "pg_sleep(60) to be active on a server" sleeping ||
  die "the query never showed up as active in pg_stat_activity (psql output: $(cat "$T/psql.out"))"

bogus_cancel || die "a CancelRequest with an unknown key was not handled cleanly"
sleeping || die "a CancelRequest with an unknown key stopped the running query (psql output: $(cat "$T/psql.out"))"

kill -INT "$psql_pid"
if ! timeout 30 bash -c 'while [[ -e /proc/$0 && $(cut -d" " -f3 /proc/$0/stat 2>/dev/null) != Z ]]; do sleep 0.1; done' "$psql_pid"; then
  die "psql was still running 30 s after SIGINT (output so far: $(cat "$T/psql.out"))"
fi
out=$(cat "$T/psql.out")
note "psql after SIGINT: $out"
grep -qF "$EXPECT" <<<"$out" || die "expected '$EXPECT' from psql, got: $out"

# The server that ran the cancelled query goes back to work.
out=$(q "$SLUICE_PORT" 'select 4' 2>&1) || die "a new client after the cancel failed: $out"
[[ $out == 4 ]] || die "select 4 returned '$out'"

pass
