#!/usr/bin/env bash
# Session pooling: a client keeps one server for its whole session, even while other
# sessions (a pgbench -S with 4 clients) churn through the pool.
source "$(dirname -- "$0")/lib.sh"

start_sluice pool_mode=session default_pool_size=5

export PGPASSWORD=bench
pgbench -i -s 1 -h 127.0.0.1 -p "$SLUICE_PORT" -U bench bench >"$T/init.log" 2>&1 ||
  die "pgbench -i through sluice failed: $(tail -n 20 "$T/init.log")"

bg_to "$T/run.log" pgbench -S -c 4 -j 2 -T 120 -h 127.0.0.1 -p "$SLUICE_PORT" -U bench bench
pgbench_pid=$BG_PID
# pgbench's 4 sessions hold 4 servers once they are all connected.
four_servers() { local n; n=$(server_conns) && ((n >= 4)); }
wait_until 30 "pgbench's 4 sessions to hold servers" four_servers ||
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

# Deterministically, without load: five sessions connected at once (pool of 5) each own a
# server: five different pids, and each session keeps its pid. (With per-transaction
# assignment, sessions running one statement after the other would share servers.)
idle_pool() { local n; n=$(pg_direct "select count(*) from pg_stat_activity
  where usename = 'bench' and backend_type = 'client backend' and state <> 'idle'") && ((n == 0)); }
wait_until 15 "pgbench's servers to be idle" idle_pool || die "bench backends still busy after pgbench ended"
declare -A first=() owner=()
for round in 1 2; do
  for i in 1 2 3 4 5; do
    ((round == 1)) && sess_open "s$i" "$SLUICE_PORT"
    sess_expect "s$i" "select pg_backend_pid();"
    p=$SESS_OUT
    [[ $p =~ ^[0-9]+$ ]] || die "session s$i: expected a pid, got '$p'"
    if ((round == 1)); then
      [[ -z ${owner[$p]:-} ]] || die "sessions ${owner[$p]} and s$i share server $p in session mode"
      owner[$p]=s$i
      first[s$i]=$p
    else
      [[ $p == "${first[s$i]}" ]] || die "session s$i moved from server ${first[s$i]} to $p"
    fi
  done
done
note "5 sessions, 5 servers: ${!owner[*]}"
for i in 1 2 3 4 5; do sess_close "s$i"; done

pass "one session, one server (pid ${pids[0]})"
