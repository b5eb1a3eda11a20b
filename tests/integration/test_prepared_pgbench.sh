#!/usr/bin/env bash
# Prepared statements in transaction mode: pgbench -M prepared and -M extended, select-only
# and simple-update, 16 clients over a pool of 3 (+1 reserve) servers. Expect: 0 failed
# transactions (without renaming, -M prepared fails with "prepared statement ... does not
# exist" as soon as a client meets a server it did not prepare on), no more than 4 server
# connections, every update applied exactly once (the balances add up to the history), and
# SHOW STATS counting client Parses, server Parses and Binds for what really went out.
source "$(dirname -- "$0")/lib.sh"

start_sluice pool_mode=transaction default_pool_size=3 reserve_pool_size=1 max_prepared_statements=50 \
  admin_users=bench

export PGPASSWORD=bench
pgbench -i -s 1 -h 127.0.0.1 -p "$SLUICE_PORT" -U bench bench >"$T/init.log" 2>&1 ||
  die "pgbench -i through sluice failed: $(tail -n 20 "$T/init.log")"

start_conn_sampler "$T/samples"

total=0
for mode in prepared extended; do
  for script in -S -N; do
    log="$T/run.$mode$script.log"
    rc=0
    pgbench -M "$mode" "$script" -c 16 -j 2 -t 150 -n -h 127.0.0.1 -p "$SLUICE_PORT" -U bench bench \
      >"$log" 2>&1 || rc=$?
    ((rc == 0)) || die "pgbench -M $mode $script exited with $rc: $(grep -m3 -iE 'error|abort' "$log")"
    processed=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$log")
    failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$log")
    [[ $processed == 2400 ]] || die "pgbench -M $mode $script processed '$processed' of 2400 transactions"
    [[ ${failed:-0} == 0 ]] || die "pgbench -M $mode $script: $failed failed transactions"
    ! grep -qiE 'error|abort' "$log" || die "pgbench -M $mode $script: $(grep -m1 -iE 'error|abort' "$log")"
    note "-M $mode $script: $processed transactions, 0 failed"
    total=$((total + processed))
  done
done
_kill_pid "$SAMPLER_PID"
max=$(sort -n "$T/samples" | tail -n 1)
((max <= 4)) || die "postgres had $max bench connections, more than default_pool_size + reserve_pool_size = 4"

# -N updates one account and inserts its history row per transaction: a statement lost or
# run twice through the pooler breaks one of these equalities.
q() { psql -X -At -h "$PGSOCK" -p "$PGPORT" -U postgres -d bench -c "$1"; }
[[ $(q "select count(*) from pgbench_history") == 4800 ]] || die "pgbench_history has $(q "select count(*) from pgbench_history") rows, not 4800"
[[ $(q "select (select sum(abalance) from pgbench_accounts) = (select sum(delta) from pgbench_history)") == t ]] ||
  die "account balances do not add up to pgbench_history"

# -M prepared: each of the 16 clients parses its statements once (1 for -S, 5 for -N); the
# servers (4 at most) parse each of the 6 distinct statements once per server connection;
# every execution binds a named statement (2400 for -S, 12000 for -N). -M extended's unnamed
# statements are not counted (pgbouncer counts named statements only).
stats=$(qu "$SLUICE_PORT" bench bench pgbouncer "SHOW STATS" -F'|' | grep '^bench|')
IFS='|' read -r -a f <<<"$stats"
client_parse=${f[9]} server_parse=${f[10]} binds=${f[11]}
note "SHOW STATS bench: client parses $client_parse, server parses $server_parse, binds $binds"
[[ $client_parse == $((16 + 80)) ]] || die "total_client_parse_count is $client_parse, expected 96"
((server_parse >= 6 && server_parse <= 24)) ||
  die "total_server_parse_count is $server_parse: one per statement and server (6 to 24) expected"
[[ $binds == $((2400 + 12000)) ]] || die "total_bind_count is $binds, expected 14400"
pass "$total transactions, 0 failed, at most $max server connections, balances match"
