#!/usr/bin/env bash
# max_db_client_connections (per database here) and max_user_client_connections (global
# here): a client above the limit gets pgbouncer's error; one that leaves frees its place.
# The console counts as database "pgbouncer"; admin_users are exempt there, and only there.
source "$(dirname -- "$0")/lib.sh"

# ---- per database
export SLUICE_DATABASES="bench = host=127.0.0.1 port=$PGPORT dbname=bench max_db_client_connections=1
bench2 = host=127.0.0.1 port=$PGPORT dbname=bench"
start_sluice pool_mode=transaction
sess_open A "$SLUICE_PORT"
sess_expect A "select 1;"
out=$(q "$SLUICE_PORT" 'select 2' 2>&1) && die "a second client of bench got in: $out"
grep -qF 'client connections exceeded (max_db_client_connections)' <<<"$out" || die "wrong error: $out"
[[ $(qu "$SLUICE_PORT" bench bench bench2 'select 3') == 3 ]] || die "bench2, which has no limit, refused a client"
sess_close A
wait_until 15 "A's place to be freed" q "$SLUICE_PORT" 'select 4' || die "the place of a client that left was not freed"
stop_sluice
unset SLUICE_DATABASES

# ---- per user
start_sluice pool_mode=transaction max_user_client_connections=2
sess_open A2 "$SLUICE_PORT"
sess_expect A2 "select 1;"
sess_open B "$SLUICE_PORT"
sess_expect B "select 2;"
out=$(q "$SLUICE_PORT" 'select 3' 2>&1) && die "a third client of user bench got in: $out"
grep -qF 'client connections exceeded (max_user_client_connections)' <<<"$out" || die "wrong error: $out"
sess_close A2
wait_until 15 "A's place to be freed" q "$SLUICE_PORT" 'select 5' || die "the place of a client that left was not freed"
sess_close B
stop_sluice

# ---- admin_users: held to the limits of a database, exempt on the console
start_sluice pool_mode=transaction max_user_client_connections=1 admin_users=bench
sess_open A3 "$SLUICE_PORT"
sess_expect A3 "select 1;"
out=$(q "$SLUICE_PORT" 'select 7' 2>&1) && die "an admin user got past max_user_client_connections on bench: $out"
grep -qF 'client connections exceeded (max_user_client_connections)' <<<"$out" || die "wrong error: $out"
SESS_DB=pgbouncer sess_open C1 "$SLUICE_PORT"
sess_expect C1 "SHOW VERSION;"
SESS_DB=pgbouncer sess_open C2 "$SLUICE_PORT"
sess_expect C2 "SHOW VERSION;"
row=$(qu "$SLUICE_PORT" bench bench pgbouncer "SHOW DATABASES" | awk -F'|' '$1 == "pgbouncer"')
# current_client_connections: C1, C2 and the connection asking
[[ $(awk -F'|' '{print $(NF-3)}' <<<"$row") == 3 ]] || die "the console's clients are not counted: $row"
sess_close C1
sess_close C2
sess_close A3
stop_sluice
pass
