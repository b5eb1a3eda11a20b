#!/usr/bin/env bash
# SIGHUP reloads the config and the auth_file online, without dropping a client: a database
# added is usable at once, a smaller pool applies at once (servers above it close as they are
# released), a new userlist entry can log in, a file with an error changes nothing, a setting
# only a restart applies says so, a removed database's client is told "database removed" on its
# next query. A pgbench load runs through it all with 0 failures.
source "$(dirname -- "$0")/lib.sh"

start_sluice pool_mode=transaction default_pool_size=5 listen_backlog=128
hup() { kill -HUP "$SLUICE_PID" || die "sluice is gone"; }
reloads() { grep -c 'got SIGHUP, re-reading config' "$SLUICE_LOG"; }
# wait_reload N: the Nth reload has been handled (its outcome is logged)
reloaded() { (($(grep -cE 'reload: |reload failed' "$SLUICE_LOG") >= $1)); }
bench_servers() {  # server connections of the bench pool (bench2's log in to another db)
  pg_direct "select count(*) from pg_stat_activity where usename = 'bench' and datname = 'bench'
               and backend_type = 'client backend'"
}
servers_at_least() { (($(bench_servers) >= $1)); }
servers_at_most() { (($(bench_servers) <= $1)); }

printf 'select pg_sleep(0.02);\n' >"$T/select.sql"
bg_to "$T/pgbench.log" env PGPASSWORD=bench pgbench -n -h 127.0.0.1 -p "$SLUICE_PORT" -U bench \
  -c 8 -j 2 -T 10 -f "$T/select.sql" bench
load=$BG_PID
wait_until 15 "the pool to fill up" servers_at_least 5 || die "the load never used 5 servers: $(tail -3 "$T/pgbench.log")"

# a new database
sed -i "/^\[databases\]/a bench2 = host=127.0.0.1 port=$PGPORT dbname=postgres" "$SLUICE_INI"
hup
wait_until 15 "reload 1" reloaded 1 || die "the first reload was not logged"
grep -qF 'database bench2 added' "$SLUICE_LOG" || die "the reload line does not name the new database"
[[ $(qu "$SLUICE_PORT" bench bench bench2 'select current_database()') == postgres ]] ||
  die "the new database is not usable after the reload"
SESS_DB=bench2 sess_open on_bench2 "$SLUICE_PORT"
sess_run on_bench2 'select 2;' && [[ $SESS_OUT == 2 ]] || die "a session on bench2 failed: $SESS_OUT"

# a smaller pool: postgres sees at most the new size while the load goes on
sed -i 's/^default_pool_size = .*/default_pool_size = 2/' "$SLUICE_INI"
hup
wait_until 15 "reload 2" reloaded 2 || die "the second reload was not logged"
grep -qF 'default_pool_size 5 -> 2' "$SLUICE_LOG" || die "the reload line does not show the new pool size"
wait_until 15 "the pool to shrink to 2" servers_at_most 2 ||
  die "postgres still sees $(bench_servers) server connections after default_pool_size 5 -> 2"

# a new userlist entry
pg_direct "DROP ROLE IF EXISTS sluice_late" >/dev/null
pg_direct "SET password_encryption = 'scram-sha-256'; CREATE ROLE sluice_late LOGIN PASSWORD 'late'" >/dev/null
printf '"sluice_late" "late"\n' >>"$SLUICE_DIR/userlist.txt"
hup
wait_until 15 "reload 3" reloaded 3 || die "the third reload was not logged"
[[ $(qu "$SLUICE_PORT" sluice_late late bench 'select current_user') == sluice_late ]] ||
  die "the user added to the auth_file cannot log in after the reload"

# a bad file: nothing changes, every error is logged with file:line
cp "$SLUICE_INI" "$T/good.ini"
sed -i 's/^max_client_conn = .*/max_client_conn = many/' "$SLUICE_INI"
hup
wait_until 15 "reload 4" reloaded 4 || die "the bad reload was not logged"
grep -qE "reload failed, keeping the old config: $SLUICE_INI:[0-9]+: invalid value \"many\" for max_client_conn" "$SLUICE_LOG" ||
  die "the bad reload did not log the error with file:line"
[[ $(q "$SLUICE_PORT" 'select 13') == 13 ]] || die "sluice stopped serving after a bad reload"
cp "$T/good.ini" "$SLUICE_INI"

# a setting only a restart applies
sed -i 's/^listen_backlog = .*/listen_backlog = 64/' "$SLUICE_INI"
hup
wait_until 15 "reload 5" reloaded 5 || die "the fifth reload was not logged"
grep -qF 'reload: listen_backlog changed, which takes effect only after a restart' "$SLUICE_LOG" ||
  die "a restart-only setting changed without a word"

# a removed database: its client is told on its next query, others go on
sed -i '/^bench2 = /d' "$SLUICE_INI"
hup
wait_until 15 "reload 6" reloaded 6 || die "the sixth reload was not logged"
grep -qF 'database bench2 removed' "$SLUICE_LOG" || die "the reload line does not name the removed database"
sess_run on_bench2 'select 3;'
grep -q 'database removed' <<<"$SESS_OUT" || die "the client of a removed database was not told: $SESS_OUT"
[[ $(q "$SLUICE_PORT" 'select 14') == 14 ]] || die "bench stopped serving after bench2 was removed"

wait "$load"; rc=$?
((rc == 0)) || die "pgbench failed (exit $rc): $(tail -5 "$T/pgbench.log")"
grep -q 'number of failed transactions: 0 ' "$T/pgbench.log" ||
  die "pgbench had failures across the reloads: $(grep -i fail "$T/pgbench.log")"
(($(reloads) == 6)) || die "expected 6 reloads, the log shows $(reloads)"
stop_sluice
pg_direct "DROP ROLE sluice_late" >/dev/null
pass
