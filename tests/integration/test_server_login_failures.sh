#!/usr/bin/env bash
# Server login failures reach the clients waiting for a pool's first server at once: the
# server's SQLSTATE and message when it sent them, 08P01 and the reason otherwise; later
# clients get the cached error until server_login_retry. A server that never answers is not
# a refusal: its clients stay queued (here until query_wait_timeout), as with pgbouncer.
# Authentication messages from the server are bounded as libpq bounds them. Each failure is
# logged once.
source "$(dirname -- "$0")/lib.sh"

expect_line() {  # TRANSCRIPT LINE-PREFIX WHAT
  grep -qF -- "$2" <<<"$1" || die "$3: expected a line '$2', got: $(tr '\n' '|' <<<"$1")"
}
logged_once() {  # TEXT
  local n
  n=$(grep -cF -- "server login failed: $1" "$SLUICE_LOG")
  ((n >= 1)) || die "no 'server login failed: $1' in the log"
  ! grep -q 'server login failed: server login failed' "$SLUICE_LOG" || die "'server login failed' twice in a line"
}
use_fake() {  # MODE [sluice settings...]
  fake_pg_start "$1"
  SLUICE_DATABASES="bench = host=127.0.0.1 port=$FAKE_PORT dbname=bench"
  shift
  start_sluice auth_type=trust server_login_retry=60 client_login_timeout=60 query_wait_timeout=60 "$@"
}

# A server that never answers the startup: each try ends at server_connect_timeout (logged
# as pgbouncer logs it), and the client waits for the next one until query_wait_timeout.
use_fake silent server_connect_timeout=1 server_login_retry=1 query_wait_timeout=3
out=$(raw "$SLUICE_PORT" bench bench)
expect_line "$out" "E 08P01 query_wait_timeout" "silent server"
grep -q "closing because: connect timeout" "$SLUICE_LOG" || die "no 'connect timeout' line in the log"
stop_sluice

# An ErrorResponse without a SQLSTATE is a failure too, not a reason to retry silently.
use_fake error_nocode
out=$(raw "$SLUICE_PORT" bench bench)
expect_line "$out" "E 08P01 server login failed: the fake server refuses you" "error without SQLSTATE"
logged_once "the fake server refuses you"
stop_sluice

# The server's own SQLSTATE reaches the client; the next client gets the cached error.
use_fake error_28P01
out=$(raw "$SLUICE_PORT" bench bench)
expect_line "$out" 'E 28P01 password authentication failed for user "bench"' "28P01 from the server"
out=$(raw "$SLUICE_PORT" bench bench)
expect_line "$out" 'E 08P01 server login has been failing, cached error: password authentication failed for user "bench" (server_login_retry)' "second client"
((${#out} > 0 && $(fake_conns) == 1)) || die "the cached error should not cost a new server login ($(fake_conns) connections)"
stop_sluice

# A SCRAM server-first-message with a 100 kB nonce: refused, as libpq refuses it.
printf '"bench" "bench"\n' >"$T/plain-userlist.txt"
SLUICE_USERLIST=$T/plain-userlist.txt use_fake scram_big_nonce
out=$(raw "$SLUICE_PORT" bench bench)
expect_line "$out" "E 08P01 server login failed: the server sent an authentication message longer than 2000 bytes" "oversized SASLContinue"
logged_once "the server sent an authentication message longer than 2000 bytes"
stop_sluice

# A server that asks for 5,000,000 SCRAM iterations (the CVE-2026-6669 class): refused before
# any key derivation (seconds of a shard's CPU), with the reason.
SLUICE_USERLIST=$T/plain-userlist.txt use_fake scram_iter:5000000
out=$(raw "$SLUICE_PORT" bench bench)
expect_line "$out" "E 08P01 server login failed: the server asked for more than 100000 SCRAM iterations" "5,000,000 iterations"
logged_once "the server asked for more than 100000 SCRAM iterations"
stop_sluice

# Once no usable logged-in server is left (RECONNECT made the one left obsolete: it is busy
# in a transaction), a refused login reaches the queued client at once again, as pgbouncer
# does, rather than at query_wait_timeout.
pg_direct "drop database if exists login_refuse" >/dev/null
pg_direct "create database login_refuse" >/dev/null || die "create database login_refuse"
_refuse_exit() { pg_direct "drop database if exists login_refuse" >/dev/null 2>&1; }
_EXIT_HOOKS+=(_refuse_exit)
SLUICE_DATABASES="bench = host=127.0.0.1 port=$PGPORT dbname=login_refuse" \
  start_sluice admin_users=bench server_login_retry=60 query_wait_timeout=60
sess_open H "$SLUICE_PORT"
sess_expect H "begin;"
sess_expect H "select 1;"
[[ $SESS_OUT == 1 ]] || die "before the refusal: $SESS_OUT"
pg_direct "alter database login_refuse allow_connections false" >/dev/null || die "allow_connections"
out=$(q "$SLUICE_PORT" 'reconnect' -d pgbouncer 2>&1) || die "RECONNECT: $out"
out=$(timeout 20 env PGPASSWORD=bench psql -X -At -h 127.0.0.1 -p "$SLUICE_PORT" -U bench -d bench \
  -c 'select 2' 2>&1) && die "a client was served by a database that takes no connections"
[[ $out == *'database "login_refuse" is not currently accepting connections'* ]] ||
  die "after RECONNECT, a refused login reached the queued client as '$out'"
sess_expect H "commit;"
sess_close H
pg_direct "alter database login_refuse allow_connections true" >/dev/null
stop_sluice

pass
