#!/usr/bin/env bash
# Transaction pooling: pgbench with 20 clients through a pool of 4 (+1 reserve) servers.
# Expect: pgbench -i and the run succeed with 0 failed transactions, and postgres never
# sees more than 5 bench backends while 20 clients are connected.
source "$(dirname -- "$0")/lib.sh"

start_sluice pool_mode=transaction default_pool_size=4 reserve_pool_size=1

export PGPASSWORD=bench
pgbench -i -s 1 -h 127.0.0.1 -p "$SLUICE_PORT" -U bench bench >"$T/init.log" 2>&1 ||
  die "pgbench -i through sluice failed: $(tail -n 20 "$T/init.log")"

# Sample the server connections while the load runs.
sampler() {
  while :; do
    server_conns >>"$T/samples" 2>/dev/null
    sleep 0.1
  done
}
: >"$T/samples"
bg sampler
sampler_pid=$BG_PID

rc=0
pgbench -c 20 -j 2 -T 4 -h 127.0.0.1 -p "$SLUICE_PORT" -U bench bench >"$T/run.log" 2>&1 || rc=$?
_kill_pid "$sampler_pid"
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

pass "$processed transactions, 0 failed, at most $max server connections"
