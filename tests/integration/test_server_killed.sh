#!/usr/bin/env bash
# A server connection dies under a client in a transaction (pg_terminate_backend): the
# client's next statement gets an error (the server's FATAL or sluice's "server conn
# crashed?") instead of hanging or succeeding, and the pool serves new clients with a
# fresh server.
source "$(dirname -- "$0")/lib.sh"

start_sluice pool_mode=transaction default_pool_size=2

sess_open A "$SLUICE_PORT"
sess_expect A "begin;"
sess_expect A "select pg_backend_pid();"
victim=$SESS_OUT
[[ $victim =~ ^[0-9]+$ ]] || die "session A: expected a backend pid, got '$victim'"

out=$(pg_direct "select pg_terminate_backend($victim)") || die "pg_terminate_backend failed: $out"
[[ $out == t ]] || die "pg_terminate_backend($victim) returned '$out'"
gone() {
  local n
  n=$(pg_direct "select count(*) from pg_stat_activity where pid = $victim") && ((n == 0))
}
wait_until 15 "backend $victim to exit" gone || die "backend $victim did not exit"

rc=0
sess_run A "select 1 as after_kill;" 30 || rc=$?
note "session A after its server was terminated (sess_run status $rc): $SESS_OUT"
[[ $rc -ne 2 ]] || die "session A's statement got no answer within 30 s after its server was killed"
[[ $SESS_OUT != 1 ]] || die "session A's statement succeeded although its server was killed mid-transaction"
grep -qE 'FATAL|ERROR|server closed the connection|connection to server was lost|crashed' <<<"$SESS_OUT" ||
  die "session A's statement did not report an error; output: '$SESS_OUT'"
sess_close A

out=$(q "$SLUICE_PORT" 'select pg_backend_pid()' 2>&1) || die "a new client after the server was killed failed: $out"
[[ $out =~ ^[0-9]+$ ]] || die "new client: expected a pid, got '$out'"
[[ $out != "$victim" ]] || die "new client ran on the terminated backend $victim?"
# And again, now that sluice has certainly noticed: every pooled server is usable.
for i in 1 2 3; do
  out=$(q "$SLUICE_PORT" "select $i" 2>&1) || die "client $i after the server was killed failed: $out"
done

pass "the killed server ($victim) was replaced"
