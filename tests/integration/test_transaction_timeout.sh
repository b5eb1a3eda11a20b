#!/usr/bin/env bash
# transaction_timeout ([pgbouncer], or the user's own in [users]): a transaction open longer
# than that is ended with "transaction timeout"; autocommit queries are not affected.
source "$(dirname -- "$0")/lib.sh"

run_case() {  # NAME [settings...]
  local name=$1
  shift
  start_sluice pool_mode=transaction "$@"
  sess_open "$name" "$SLUICE_PORT"
  sess_expect "$name" "begin;"
  # idle_transaction_timeout is off: only transaction_timeout can end it
  wait_until 15 "the transaction to time out" grep -qF 'closing because: transaction timeout' "$SLUICE_LOG" ||
    die "$name: a transaction open for over a second was not ended"
  sess_run "$name" "select 1;" 5
  grep -qiE 'transaction timeout|server closed|terminat|no connection' <<<"$SESS_OUT" ||
    die "$name: the session's next query did not fail: $SESS_OUT"
  [[ $(q "$SLUICE_PORT" 'select 2') == 2 ]] || die "$name: an autocommit query failed"
  stop_sluice
}

run_case global transaction_timeout=1
export SLUICE_DATABASES="bench = host=127.0.0.1 port=$PGPORT dbname=bench

[users]
bench = transaction_timeout=1"
run_case per_user
pass
