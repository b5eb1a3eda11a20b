#!/usr/bin/env bash
# Statement pooling: single statements work; opening a transaction block is refused with
# pgbouncer's error; the pooler stays usable for the next client.
source "$(dirname -- "$0")/lib.sh"

start_sluice pool_mode=statement default_pool_size=2

out=$(q "$SLUICE_PORT" 'select 1' 2>&1) || die "select 1 in statement mode failed: $out"
[[ $out == 1 ]] || die "select 1 returned '$out'"

# Three separate Query messages on one connection (psql -c ... -c ...): after BEGIN the server
# reports "in transaction", which statement mode must refuse. (A single multi-statement
# Query "begin; select 1; commit;" ends idle and cannot be told apart on the wire.)
rc=0
out=$(q "$SLUICE_PORT" 'begin' -c 'select 1' -c 'commit' 2>&1) || rc=$?
note "psql -c begin -c 'select 1' -c commit: exit $rc, output: $out"
[[ $rc -ne 0 ]] || die "a transaction block was accepted in statement mode (output: $out)"
grep -q "not allowed" <<<"$out" || die "expected an error containing 'not allowed', got: $out"
grep -q "transaction blocks not allowed in statement pooling mode" <<<"$out" ||
  note "(the message differs from pgbouncer's 'transaction blocks not allowed in statement pooling mode')"

# Also through an interactive session: the refusal must come for BEGIN itself.
sess_open S "$SLUICE_PORT"
sess_run S "begin;" || true
note "interactive begin: $SESS_OUT"
grep -q "not allowed" <<<"$SESS_OUT" || die "interactive 'begin;' was not refused: $SESS_OUT"
sess_close S

out=$(q "$SLUICE_PORT" 'select 2' 2>&1) || die "a new connection after the refused transaction failed: $out"
[[ $out == 2 ]] || die "select 2 returned '$out'"

pass
