#!/usr/bin/env bash
# Replication connections (replication=true|database): each gets a server of its own, whatever
# the pool mode, with its startup parameters passed on; the streams go through unparsed.
#   - pg_receivewal (physical, a slot) receives WAL through sluice and stops cleanly on SIGINT;
#   - pg_recvlogical (logical, test_decoding) sees a row inserted straight into PostgreSQL;
#   - max_db_connections holds for replication connections too;
#   - the server of a replication client that leaves is closed, not pooled.
source "$(dirname -- "$0")/lib.sh"

PGBIN=$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)
pg_direct "select pg_create_physical_replication_slot('sluice_wal')" >/dev/null || die "physical slot"
pg_direct "select pg_create_logical_replication_slot('sluice_logical', 'test_decoding')" bench >/dev/null ||
  die "logical slot"
pg_direct "create table if not exists repl_t (a int)" bench >/dev/null || die "table"
_drop_slots() {
  pg_direct "select pg_drop_replication_slot(slot_name) from pg_replication_slots
             where slot_name in ('sluice_wal', 'sluice_logical')" >/dev/null 2>&1
}
_EXIT_HOOKS+=(_drop_slots)
walsenders() { pg_direct "select count(*) from pg_stat_activity where backend_type = 'walsender'"; }
streaming() { (($(pg_direct "select count(*) from pg_stat_replication where application_name = 'pg_recvlogical'") >= 1)); }
no_walsender() { [[ $(walsenders) == 0 ]]; }
wal_received() { compgen -G "$T/wal/*" >/dev/null; }

# Physical replication clients (pg_receivewal, pg_basebackup) ask for database "replication".
export SLUICE_DATABASES="bench = host=127.0.0.1 port=$PGPORT dbname=bench
replication = host=127.0.0.1 port=$PGPORT dbname=replication
one = host=127.0.0.1 port=$PGPORT dbname=bench max_db_connections=1
two = host=127.0.0.1 port=$PGPORT dbname=bench pool_size=1"
start_sluice pool_mode=transaction
export PGPASSWORD=bench

# ---- physical: pg_receivewal
mkdir -p "$T/wal"
bg_to "$T/receivewal.log" "$PGBIN/pg_receivewal" -h 127.0.0.1 -p "$SLUICE_PORT" -U bench \
  --slot=sluice_wal -D "$T/wal" --no-loop
rw=$BG_PID
pg_direct "select pg_switch_wal()" >/dev/null
wait_until 30 "a WAL file through sluice" wal_received || die "no WAL through sluice: $(tail -3 "$T/receivewal.log")"
kill -INT "$rw"
wait "$rw" || die "pg_receivewal did not stop cleanly: $(tail -3 "$T/receivewal.log")"

# ---- logical: pg_recvlogical, on database "one" (max_db_connections=1)
bg_to "$T/recvlogical.out" "$PGBIN/pg_recvlogical" -h 127.0.0.1 -p "$SLUICE_PORT" -U bench -d one \
  --slot=sluice_logical --start -f - --no-loop
rl=$BG_PID
wait_until 30 "the logical stream to start" streaming || die "pg_recvlogical did not start: $(tail -3 "$T/recvlogical.out")"
pg_direct "insert into repl_t values (42)" bench >/dev/null
wait_until 30 "the insert in the logical stream" grep -q 'table public.repl_t: INSERT: a\[integer\]:42' "$T/recvlogical.out" ||
  die "the insert did not come through: $(tail -3 "$T/recvlogical.out")"

# A second replication client of "one" finds no room: max_db_connections holds.
out=$(psql -X -At "host=127.0.0.1 port=$SLUICE_PORT user=bench dbname=one replication=database" \
  -c "IDENTIFY_SYSTEM" 2>&1) && die "a second replication connection got past max_db_connections: $out"
grep -q 'max_db_connections' <<<"$out" || die "wrong error for the second replication connection: $out"
# An ordinary client of the same pool is served (by the pool, not by that server).
[[ $(q "$SLUICE_PORT" 'select 1') == 1 ]] || die "an ordinary client was not served beside replication"

kill -INT "$rl"
wait "$rl" 2>/dev/null
wait_until 15 "the replication servers to close" no_walsender || die "walsenders left: $(walsenders)"
grep -q 'closing because: replication connection closed' "$SLUICE_LOG" ||
  die "the replication server was not closed as such"

# ---- pool_size: a replication server takes a slot of its pool (as pgbouncer 1.23). In "two"
# (pool_size=1) an idle server gives its place up at once ("evicted"); three replication
# clients at once are served one after the other, never two walsenders of "two" together.
[[ $(q "$SLUICE_PORT" 'select 1' -d two) == 1 ]] || die "an ordinary client of two failed"
repl_sleep() {
  psql -X -At "host=127.0.0.1 port=$SLUICE_PORT user=bench dbname=two replication=database" \
    -c "select pg_sleep(0.3), count(*) from pg_stat_activity where backend_type = 'walsender'"
}
for i in 1 2 3; do bg_to "$T/repl$i.out" bash -c "$(declare -f repl_sleep); SLUICE_PORT=$SLUICE_PORT repl_sleep"; done
for pid in "${_BG_PIDS[@]: -3}"; do wait "$pid" || die "a replication client of two failed: $(cat "$T"/repl*.out)"; done
for i in 1 2 3; do
  [[ $(cat "$T/repl$i.out") == "|1" ]] || die "replication client $i saw: $(cat "$T/repl$i.out") (walsenders at once)"
done
grep -q "two/bench@.* closing because: evicted" "$SLUICE_LOG" || die "the idle server of two was not evicted"
pass "pg_receivewal and pg_recvlogical through sluice; max_db_connections and pool_size held"
