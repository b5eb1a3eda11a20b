#!/usr/bin/env bash
# Per-database and per-user overrides, applied by RELOAD: [databases] query_wait_timeout and
# server_lifetime, [users] query_wait_timeout (a user's wins over the database's, which wins
# over [pgbouncer]'s; -1 = not set); a forced user's pool takes that user's [users] entry.
source "$(dirname -- "$0")/lib.sh"

printf '"bench" "bench"\n' >"$T/userlist.txt"
export SLUICE_USERLIST=$T/userlist.txt
DB="bench = host=127.0.0.1 port=$PGPORT dbname=bench password=bench"

SLUICE_DATABASES=$DB start_sluice auth_type=trust pool_mode=transaction default_pool_size=1 \
  reserve_pool_size=0 query_wait_timeout=60 server_lifetime=3600

hup() { kill -HUP "$SLUICE_PID" || die "sluice is gone"; }
reloaded() { (($(grep -cE 'reload: |reload failed' "$SLUICE_LOG") >= $1)); }
# set_entries DB_LINE [USERS_LINE]: rewrites [databases] (and [users]) in the ini.
set_entries() {
  python3 - "$SLUICE_INI" "$1" "${2:-}" <<'PY'
import re, sys
path, db, users = sys.argv[1:]
text = open(path).read()
text = re.sub(r"(?m)^\[users\]\n(.*\n)*?(?=\[|\Z)", "", text)
text = re.sub(r"(?m)^bench = .*$", db, text)
if users:
    text += "\n[users]\n" + users + "\n"
open(path, "w").write(text)
PY
}
idle_in_tx() {
  local n
  n=$(pg_direct "select count(*) from pg_stat_activity
                  where usename = 'bench' and state = 'idle in transaction'") && ((n == 1))
}
# waiter_fails: with the only server held, a second client's query fails with
# query_wait_timeout (pgclient.py gives up after 30 s of silence: the global 60 s never fires).
waiter_fails() {
  local out
  out=$(raw "$SLUICE_PORT" bench bench "query:select 1" 2>&1)
  grep -qx 'E 08P01 query_wait_timeout' <<<"$out" || die "$1: expected query_wait_timeout, got: $(tr '\n' '|' <<<"$out")"
}

sess_open A "$SLUICE_PORT"
sess_expect A "begin;"
sess_expect A "select 1;"
wait_until 15 "session A's server to be idle in transaction" idle_in_tx ||
  die "postgres never showed session A's backend idle in transaction"

# [users] query_wait_timeout over the database's 60 s.
set_entries "$DB query_wait_timeout=60" "bench = query_wait_timeout=0.3"
hup
wait_until 15 "reload 1" reloaded 1 || die "reload 1 was not logged"
waiter_fails "the [users] override"

# [databases] query_wait_timeout, the user's entry saying "not set".
set_entries "$DB query_wait_timeout=0.3" "bench = query_wait_timeout=-1"
hup
wait_until 15 "reload 2" reloaded 2 || die "reload 2 was not logged"
waiter_fails "the [databases] override"

sess_expect A "commit;"
sess_close A

# [databases] server_lifetime over the global 3600 s: the idle server is closed.
set_entries "$DB server_lifetime=0.2"
hup
wait_until 15 "reload 3" reloaded 3 || die "reload 3 was not logged"
out=$(q "$SLUICE_PORT" 'select 7') || die "a client after reload 3 failed: $out"
lifetime_over() { grep -q 'closing because: server lifetime over' "$SLUICE_LOG"; }
wait_until 15 "the server to reach the database's server_lifetime" lifetime_over ||
  die "the database's server_lifetime=0.2 did not close the idle server"
stop_sluice

# A database with a forced user: the pool is that user's, and so are its [users] settings;
# the login user's own entry (pool_size=1 here) does not size it.
printf '"bench" "bench"\n"plainuser" "plainpw"\n' >"$T/userlist.txt"
SLUICE_DATABASES="forced = host=127.0.0.1 port=$PGPORT dbname=bench user=bench password=bench pool_size=2" \
  start_sluice auth_type=trust pool_mode=transaction query_wait_timeout=2
printf '\n[users]\nplainuser = pool_size=1\n' >>"$SLUICE_INI"
hup
wait_until 15 "the [users] entry to be loaded" reloaded 1 || die "the reload was not logged"
/usr/bin/python3 - "$SLUICE_PORT" <<'PY' || die "two transactions of plainuser on 'forced' were not both served"
import sys, psycopg
dsn = f"host=127.0.0.1 port={sys.argv[1]} user=plainuser password=plainpw dbname=forced"
a, b = psycopg.connect(dsn), psycopg.connect(dsn)
a.execute("select 1")  # each holds a server: transaction open
b.execute("select 2")  # with pool_size=1 this one would wait out query_wait_timeout
a.rollback(); b.rollback()
PY

pass
