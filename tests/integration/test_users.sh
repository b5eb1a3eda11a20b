#!/usr/bin/env bash
# [users]: a user's own pool_size and pool_mode win over the database's and [pgbouncer]'s,
# and apply online on reload.
source "$(dirname -- "$0")/lib.sh"

export SLUICE_DATABASES="bench = host=127.0.0.1 port=$PGPORT dbname=bench pool_size=5

[users]
bench = pool_size=1"
start_sluice pool_mode=transaction default_pool_size=5 server_idle_timeout=600

# 3 clients at once share the user's single server (which stays idle after)
pids=()
for i in 1 2 3; do bg q "$SLUICE_PORT" 'select pg_sleep(0.3)'; pids+=("$BG_PID"); done
for p in "${pids[@]}"; do wait "$p" || die "a client failed"; done
n=$(server_conns)
((n == 1)) || die "$n server connections for user bench with its pool_size=1 ([users])"

# the user's pool_mode, set by a reload: statement mode refuses a transaction block
sed -i 's/^bench = pool_size=1$/bench = pool_size=1 pool_mode=statement/' "$SLUICE_INI"
kill -HUP "$SLUICE_PID"
wait_until 15 "the reload" grep -qF 'reload: ' "$SLUICE_LOG" || die "the reload was not logged"
out=$(q "$SLUICE_PORT" 'begin' -c 'select 1' -c 'commit' 2>&1) && die "a transaction block ran in statement mode: $out"
grep -qF 'transaction blocks not allowed in statement pooling mode' <<<"$out" ||
  die "the user's pool_mode=statement did not apply: $out"
[[ $(q "$SLUICE_PORT" 'select 5') == 5 ]] || die "a single statement failed in statement mode"
stop_sluice
pass
