#!/usr/bin/env bash
# server_fast_close: in session mode, a server made obsolete by a reload that changes its
# database's connection settings is closed at the end of the current transaction (not the
# session's), and its client with it ("database configuration changed"), so that the client
# notices. The transaction itself is not interrupted.
source "$(dirname -- "$0")/lib.sh"

start_sluice pool_mode=session server_fast_close=1

hup() { kill -HUP "$SLUICE_PID" || die "sluice is gone"; }
reloaded() { (($(grep -cE 'reload: |reload failed' "$SLUICE_LOG") >= $1)); }
closed_lines() { grep -c 'closing because: database configuration changed' "$SLUICE_LOG"; }

sess_open A "$SLUICE_PORT"
sess_expect A "select pg_backend_pid();"
pid_a=$SESS_OUT
[[ $pid_a =~ ^[0-9]+$ ]] || die "session A: expected a backend pid, got '$pid_a'"
sess_expect A "begin;"

# The target changes (a startup parameter for the server): a new generation of servers.
sed -i "s|^bench = .*|bench = host=127.0.0.1 port=$PGPORT dbname=bench application_name=fastclose|" \
  "$SLUICE_INI"
hup
wait_until 15 "the reload" reloaded 1 || die "the reload was not logged"
grep -qF 'database bench changed' "$SLUICE_LOG" || die "the reload did not see the database change"

# Inside the transaction the server stays.
sess_expect A "select pg_backend_pid();"
[[ $SESS_OUT == "$pid_a" ]] || die "session A lost its server inside a transaction ($pid_a -> $SESS_OUT)"
sess_expect A "commit;"

# At its end, the server and the client are closed.
two_closed() { (($(closed_lines) >= 2)); }
wait_until 15 "the server and its client to be closed" two_closed ||
  die "server_fast_close did not close the session after its transaction"
grep -qE 'C-0x[0-9a-f]+: bench/bench@.* closing because: database configuration changed' "$SLUICE_LOG" ||
  die "no client line 'closing because: database configuration changed'"
grep -qE 'S-0x[0-9a-f]+: bench/bench@.* closing because: database configuration changed' "$SLUICE_LOG" ||
  die "no server line 'closing because: database configuration changed'"
rc=0
sess_run A "select 1;" || rc=$?
grep -qE 'database configuration changed|server closed the connection|connection to server' <<<"$SESS_OUT" ||
  die "session A did not notice it was closed (rc $rc): $SESS_OUT"
sess_close A

# New clients are served by the new generation.
out=$(q "$SLUICE_PORT" 'select 5') || die "a new client after the fast close failed: $out"
[[ $out == 5 ]] || die "select 5 returned '$out'"

pass
