#!/usr/bin/env bash
# Transaction pooling: pgbench with 20 clients through a pool of 4 (+1 reserve) servers.
# Expect: pgbench -i and the run succeed with 0 failed transactions, and postgres never
# sees more than 5 bench backends while 20 clients are connected. Then 8 interactive clients,
# all connected at once, take turns on those servers.
source "$(dirname -- "$0")/lib.sh"

start_sluice pool_mode=transaction default_pool_size=4 reserve_pool_size=1

export PGPASSWORD=bench
pgbench -i -s 1 -h 127.0.0.1 -p "$SLUICE_PORT" -U bench bench >"$T/init.log" 2>&1 ||
  die "pgbench -i through sluice failed: $(tail -n 20 "$T/init.log")"

start_conn_sampler "$T/samples"

rc=0
pgbench -c 20 -j 2 -T 4 -h 127.0.0.1 -p "$SLUICE_PORT" -U bench bench >"$T/run.log" 2>&1 || rc=$?
_kill_pid "$SAMPLER_PID"
cat "$T/run.log"

[[ $rc -eq 0 ]] || die "pgbench through sluice exited with status $rc"
processed=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$T/run.log")
failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$T/run.log")
[[ -n $processed ]] || die "no 'number of transactions actually processed' in pgbench output"
[[ -n $failed ]] || die "no 'number of failed transactions' in pgbench output"
((processed > 0)) || die "pgbench processed no transactions"
((failed == 0)) || die "pgbench reported $failed failed transactions"

nsamples=$(grep -c '^[0-9][0-9]*$' "$T/samples")
max=$(sort -n "$T/samples" | tail -n 1)
note "$nsamples samples of server connections, max $max"
((nsamples > 0)) || die "the pg_stat_activity sampler collected nothing"
((max > 0)) || die "the sampler never saw a bench server connection during the run"
((max <= 5)) || die "postgres had $max bench connections, more than default_pool_size + reserve_pool_size = 5"

# The same without load, deterministically: 8 clients stay connected at once and take turns;
# each statement must be served although there are more clients than servers (with
# per-session assignment the 6th client would wait for a server that never comes free).
declare -A pids_seen=()
for round in 1 2; do
  for i in 1 2 3 4 5 6 7 8; do
    ((round == 1)) && sess_open "c$i" "$SLUICE_PORT"
    sess_expect "c$i" "select pg_backend_pid();"
    [[ $SESS_OUT =~ ^[0-9]+$ ]] || die "client c$i: expected a pid, got '$SESS_OUT'"
    pids_seen[$SESS_OUT]=1
  done
done
note "8 connected clients ran on ${#pids_seen[@]} server(s): ${!pids_seen[*]}"
((${#pids_seen[@]} <= 5)) || die "8 clients used ${#pids_seen[@]} servers, more than the pool allows (5)"
n=$(server_conns)
((n <= 5)) || die "postgres has $n bench connections with 8 clients connected, more than 5"
for i in 1 2 3 4 5 6 7 8; do sess_close "c$i"; done

pass "$processed transactions, 0 failed, at most $max server connections"
