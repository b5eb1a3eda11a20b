#!/usr/bin/env bash
# Session pooling: a client keeps one server for its whole session, even while other
# sessions (a pgbench -S with 4 clients) churn through the pool.
source "$(dirname -- "$0")/lib.sh"

start_sluice pool_mode=session default_pool_size=5

export PGPASSWORD=bench
pgbench -i -s 1 -h 127.0.0.1 -p "$SLUICE_PORT" -U bench bench >"$T/init.log" 2>&1 ||
  die "pgbench -i through sluice failed: $(tail -n 20 "$T/init.log")"

bg pgbench -S -c 4 -j 2 -T 120 -h 127.0.0.1 -p "$SLUICE_PORT" -U bench bench
pgbench_pid=$BG_PID
# pgbench's 4 sessions hold 4 servers once they are all connected.
wait_until 30 "pgbench's 4 sessions to hold servers" bash -c '[[ $(server_conns) -ge 4 ]]' ||
  die "pgbench never had 4 server connections"
proc_alive "$pgbench_pid" || die "pgbench exited early"

out=$(q "$SLUICE_PORT" 'select pg_backend_pid()' -c 'select pg_backend_pid()' -c 'select pg_backend_pid()' 2>&1) ||
  die "psql through sluice failed: $out"
proc_alive "$pgbench_pid" || die "pgbench was no longer running when psql finished"
_kill_pid "$pgbench_pid"

mapfile -t pids <<<"$out"
note "pids seen by one session: ${pids[*]}"
[[ ${#pids[@]} -eq 3 ]] || die "expected 3 lines of output, got: $out"
for p in "${pids[@]}"; do
  [[ $p =~ ^[0-9]+$ ]] || die "not a pid: '$p' (output: $out)"
done
[[ ${pids[0]} == "${pids[1]}" && ${pids[1]} == "${pids[2]}" ]] ||
  die "one session ran on several servers: ${pids[*]}"

pass "one session, one server (pid ${pids[0]})"
