#!/usr/bin/env bash
# A host list whose first host does not resolve, load_balance_hosts = disable: each server
# login walks the list in order (as libpq does), so clients are served by the next host and
# none sees the failure; the log names the host passed over and why. (PgBouncer tries one
# host per login instead, failing that login and moving on for the next one: see README,
# "Differences from PgBouncer".)
source "$(dirname -- "$0")/lib.sh"
((IS_ROOT)) || die "needs root: /etc/hosts is replaced in a private mount namespace"

here=$(cd "$(dirname -- "$0")" && pwd)
hosts=$T/hosts
printf '127.0.0.1 localhost\n' >"$hosts"   # gone.sluice.test resolves to nothing
chmod 644 "$hosts"
SLUICE_WRAP=("$here/with_hosts.sh" "$hosts")
export SLUICE_DATABASES="hl = host=gone.sluice.test,127.0.0.1 port=$PGPORT dbname=bench load_balance_hosts=disable"
start_sluice pool_mode=transaction
for i in 1 2 3; do bg_to "$T/c$i.out" env PGPASSWORD=bench psql -X -At -h 127.0.0.1 -p "$SLUICE_PORT" \
  -U bench -d hl -c "select pg_sleep(0.3), $i"; done
for pid in "${_BG_PIDS[@]}"; do wait "$pid" || die "a client failed: $(cat "$T"/c*.out)"; done
for i in 1 2 3; do [[ $(cat "$T/c$i.out") == "|$i" ]] || die "client $i got: $(cat "$T/c$i.out")"; done
grep -q "hl/bench: hosts passed over: gone.sluice.test:$PGPORT" "$SLUICE_LOG" ||
  die "the unresolvable host was not logged as passed over"
pass "3 clients served past an unresolvable first host"
