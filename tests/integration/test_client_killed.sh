#!/usr/bin/env bash
# A client dies (kill -9) inside a transaction: its server must not go back to the pool with
# the transaction open. With default_pool_size=1 the next client gets that very slot, so a
# leaked transaction would show: the uncommitted row visible, or the next autocommit insert
# never committed.
source "$(dirname -- "$0")/lib.sh"

start_sluice pool_mode=transaction default_pool_size=1 reserve_pool_size=0

tbl="t_client_killed_$$"
out=$(q "$SLUICE_PORT" "drop table if exists $tbl; create table $tbl(x int)" 2>&1) ||
  die "create table through sluice failed: $out"

sess_open A "$SLUICE_PORT"
sess_expect A "begin;"
sess_expect A "insert into $tbl values (1);"
[[ $SESS_OUT == "INSERT 0 1" ]] || die "session A's insert printed '$SESS_OUT'"
a_pid=$(sess_pid A)
kill -KILL "$a_pid"
wait_gone "$a_pid" 10 || die "psql $a_pid survived kill -9"

out=$(q "$SLUICE_PORT" "select count(*) from $tbl" 2>&1) || die "select through sluice after the kill failed: $out"
[[ $out == 0 ]] || die "a new client sees count=$out in $tbl: the killed client's transaction leaked into the pool"

out=$(q "$SLUICE_PORT" "insert into $tbl values (2)" 2>&1) || die "autocommit insert through sluice failed: $out"
[[ $out == "INSERT 0 1" ]] || die "the autocommit insert printed '$out'"

out=$(q "$SLUICE_PORT" "select coalesce(string_agg(x::text, ','), '') from $tbl" 2>&1) ||
  die "select through sluice failed: $out"
[[ $out == 2 ]] || die "through sluice $tbl holds '$out', expected exactly the committed row 2"
# Committed for everyone, not just inside some server's open transaction.
out=$(pg_direct "select coalesce(string_agg(x::text, ','), '') from $tbl" bench 2>&1) ||
  die "direct select failed: $out"
[[ $out == 2 ]] || die "directly on postgres $tbl holds '$out', expected exactly the committed row 2"

no_idle_tx() {
  local n
  n=$(pg_direct "select count(*) from pg_stat_activity where usename = 'bench'
                   and state like 'idle in transaction%'") && ((n == 0))
}
wait_until 15 "no bench backend idle in transaction" no_idle_tx ||
  die "a bench backend stays idle in transaction: $(pg_direct "select pid, state, query from pg_stat_activity where usename = 'bench'")"

q "$SLUICE_PORT" "drop table $tbl" >/dev/null 2>&1 || true
pass
