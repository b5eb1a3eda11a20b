#!/usr/bin/env bash
# query_wait_timeout: with the only server held by an open transaction, another client's
# query waits, then fails with "query_wait_timeout"; once the transaction ends the pool
# serves clients again.
source "$(dirname -- "$0")/lib.sh"

start_sluice pool_mode=transaction default_pool_size=1 reserve_pool_size=0 query_wait_timeout=2

idle_in_tx() {
  local n
  n=$(pg_direct "select count(*) from pg_stat_activity
                  where usename = 'bench' and state = 'idle in transaction'") && ((n == 1))
}

sess_open A "$SLUICE_PORT"
sess_expect A "begin;"
sess_expect A "select pg_backend_pid();"
holder=$SESS_OUT
[[ $holder =~ ^[0-9]+$ ]] || die "session A: expected a backend pid, got '$holder'"
wait_until 15 "session A's server to be idle in transaction" idle_in_tx ||
  die "postgres never showed session A's backend idle in transaction"

rc=0
out=$(timeout 30 env PGPASSWORD=bench psql -X -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$SLUICE_PORT" \
  -U bench -d bench -c 'select 1' 2>&1) || rc=$?
note "second client while the only server is held: exit $rc, output: $out"
[[ $rc -ne 124 ]] || die "the second client was still waiting after 30 s (query_wait_timeout=2)"
[[ $rc -ne 0 ]] || die "the second client's select 1 succeeded although the only server was held (output: $out)"
grep -q "query_wait_timeout" <<<"$out" || die "expected an error containing 'query_wait_timeout', got: $out"

# The waiter gave up; the holder must be unaffected.
sess_expect A "select pg_backend_pid();"
[[ $SESS_OUT == "$holder" ]] || die "session A moved from server $holder to '$SESS_OUT' inside its transaction"
sess_expect A "commit;"
[[ $SESS_OUT == COMMIT ]] || die "session A's commit printed '$SESS_OUT'"

out=$(q "$SLUICE_PORT" 'select 3' 2>&1) || die "a new client after the commit failed: $out"
[[ $out == 3 ]] || die "select 3 returned '$out'"
sess_close A

pass
