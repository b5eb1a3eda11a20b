#!/usr/bin/env bash
# query_wait_notify: a client queued for a server longer than this gets pgbouncer's NOTICE,
# once per wait, and is then served as usual; a client that does not wait gets none.
source "$(dirname -- "$0")/lib.sh"

printf '"bench" "bench"\n' >"$T/userlist.txt"
export SLUICE_USERLIST=$T/userlist.txt
NOTICE='N 00000 No server connection available in postgres backend, client being queued'

start_sluice auth_type=trust pool_mode=transaction default_pool_size=1 reserve_pool_size=0 \
  query_wait_timeout=60 query_wait_notify=0.2

idle_in_tx() {
  local n
  n=$(pg_direct "select count(*) from pg_stat_activity
                  where usename = 'bench' and state = 'idle in transaction'") && ((n == 1))
}

out=$(raw "$SLUICE_PORT" bench bench "query:select 1" terminate) || die "a first client failed: $out"
grep -qxF "$NOTICE" <<<"$out" && die "a client that never waited was told it is queued: $out"

sess_open A "$SLUICE_PORT"
sess_expect A "begin;"
sess_expect A "select 1;"
wait_until 15 "session A's server to be idle in transaction" idle_in_tx ||
  die "postgres never showed session A's backend idle in transaction"

# psql prints the NOTICE as it arrives, while its query still waits.
PSQL_NOTICE='NOTICE:  No server connection available in postgres backend, client being queued'
bg_to "$T/waiter.out" psql -X -At -h 127.0.0.1 -p "$SLUICE_PORT" -U bench -d bench -c 'select 42'
waiter=$BG_PID
wait_until 15 "the queued client's NOTICE" grep -qxF "$PSQL_NOTICE" "$T/waiter.out" ||
  die "no queue NOTICE for a client queued behind an open transaction: $(tr '\n' '|' <"$T/waiter.out")"
grep -qx 42 "$T/waiter.out" && die "the queued client was served while the only server was held"

sess_expect A "commit;"
wait_gone "$waiter" 15 || die "the queued client was not served after the commit: $(tr '\n' '|' <"$T/waiter.out")"
out=$(cat "$T/waiter.out")
(($(grep -cxF "$PSQL_NOTICE" <<<"$out") == 1)) || die "expected exactly one NOTICE: $(tr '\n' '|' <<<"$out")"
grep -qx 42 <<<"$out" || die "the queued client got no row: $(tr '\n' '|' <<<"$out")"
grep -qE 'ERROR|FATAL' <<<"$out" && die "the queued client got an error: $(tr '\n' '|' <<<"$out")"
sess_close A

pass
