#!/usr/bin/env bash
# A client that closes, or is closed by a timeout, while queued for a server leaves the queue
# at once: it does not time out later as a ghost, and no server is launched for it.
source "$(dirname -- "$0")/lib.sh"

printf '"bench" "bench"\n' >"$T/userlist.txt"
export SLUICE_USERLIST=$T/userlist.txt

# ---- queued in the relay (a pool of 1 whose server a transaction holds), then gone
start_sluice auth_type=trust pool_mode=transaction default_pool_size=1 query_wait_timeout=2
sess_open A "$SLUICE_PORT"
sess_expect A "begin;"
sess_expect A "select 1;"
out=$(raw "$SLUICE_PORT" bench bench 'query-close:select 2')
grep -qx CLOSED <<<"$out" || die "the leaving client did not get to send its query: $out"
wait_until 15 "the closed client to leave the queue" \
  grep -qF 'client close request while waiting for a server' "$SLUICE_LOG" ||
  die "the client that closed while queued was not noticed"
# A client queued after it times out; a ghost of the first, queued earlier, would time out
# (and log) first.
out=$(raw "$SLUICE_PORT" bench bench 'query:select 3')
grep -qx 'E 08P01 query_wait_timeout' <<<"$out" || die "the second waiter: $(tr '\n' '|' <<<"$out")"
n=$(grep -c 'pooler error: query_wait_timeout' "$SLUICE_LOG")
((n == 1)) || die "$n query_wait_timeout errors logged for one live waiter: the closed client stayed queued"
sess_expect A "commit;"
[[ $SESS_OUT == COMMIT ]] || die "session A's commit printed '$SESS_OUT'"
sess_close A
stop_sluice

# ---- queued for a pool's first server (which never comes), closed by client_login_timeout
fake_pg_start silent
SLUICE_DATABASES="bench = host=127.0.0.1 port=$FAKE_PORT dbname=bench" \
  start_sluice auth_type=trust client_login_timeout=1 server_connect_timeout=60 query_wait_timeout=60
out=$(raw "$SLUICE_PORT" bench bench)
grep -qx 'E 08P01 client_login_timeout' <<<"$out" || die "first client: $(tr '\n' '|' <<<"$out")"
# The server being opened for the first client (still connecting) is enough for the next
# one: had the first stayed queued, a second connection would be opened for it.
out=$(raw "$SLUICE_PORT" bench bench)
grep -qx 'E 08P01 client_login_timeout' <<<"$out" || die "second client: $(tr '\n' '|' <<<"$out")"
(($(fake_conns) == 1)) || die "$(fake_conns) server connections opened for one live waiter at a time"
! grep -q 'pooler error: client gone' "$SLUICE_LOG" || die "a client that left was reported as a pooler error"
stop_sluice
pass
