#!/usr/bin/env bash
# Cross-shard hand-off: with two shards and a pool of one server, two clients accepted one
# after the other land on different shards (round robin) and must share that server, so it
# moves between the shards' event loops. Both see the same backend; the debug log records
# each hand-off; no client waits forever.
source "$(dirname -- "$0")/lib.sh"

start_sluice pool_mode=transaction default_pool_size=1 reserve_pool_size=0 \
  query_wait_timeout=20 verbose=1 sluice.workers=2

# Two persistent sessions, opened back to back: consecutive accepts go to different shards.
sess_open A "$SLUICE_PORT"
sess_open B "$SLUICE_PORT"

sess_expect A "select pg_backend_pid();"
pid_a=$SESS_OUT
[[ $pid_a =~ ^[0-9]+$ ]] || die "session A: expected a backend pid, got '$pid_a'"
sess_expect B "select pg_backend_pid();"
pid_b=$SESS_OUT
[[ $pid_b == "$pid_a" ]] || die "session B got backend '$pid_b', A had '$pid_a' (pool of one server)"
sess_expect A "select pg_backend_pid();"
[[ $SESS_OUT == "$pid_a" ]] || die "session A came back to backend '$SESS_OUT', expected '$pid_a'"

n=$(grep -c "handed over from shard" "$SLUICE_LOG" || true)
note "hand-offs logged: $n"
((n >= 2)) || die "expected at least 2 hand-offs between shards in the log, found $n"
(($(server_conns) == 1)) || die "expected 1 server connection, found $(server_conns)"

sess_close A
sess_close B
pass "$n hand-offs, one backend"
