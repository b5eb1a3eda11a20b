#!/usr/bin/env bash
# Transaction pooling moves a client between servers; the parameters it set (SET timezone)
# or sent at startup (application_name) must follow it: sluice replays them on the new
# server before the client's next statement.
#
# With default_pool_size=2 the servers a client lands on are forced by holding the other one
# in an open transaction:
#   1. C: begin; select pg_backend_pid()          C holds S1
#   2. A: set timezone; select pg_backend_pid()   A can only get S2 (pid_a)
#   3. D: begin; select pg_backend_pid()          D can only get S2 (must be pid_a); holds it
#   4. C: commit                                  S1 is free again
#   5. A: select pid, TimeZone, application_name  A can only get S1: another server, where
#                                                 neither its SET nor its name were ever sent
source "$(dirname -- "$0")/lib.sh"

start_sluice pool_mode=transaction default_pool_size=2 reserve_pool_size=0

TZ_SET='America/New_York'
APP='sluice_replay_test'

# C and D are plain psql sessions (application_name "psql", default TimeZone).
sess_open C "$SLUICE_PORT"
sess_open A "$SLUICE_PORT" PGAPPNAME="$APP"
sess_open D "$SLUICE_PORT"

sess_expect C "begin;"
sess_expect C "select pg_backend_pid();"
pid_c=$SESS_OUT
[[ $pid_c =~ ^[0-9]+$ ]] || die "session C: expected a pid, got '$pid_c'"

sess_expect A "set timezone to '$TZ_SET';"
sess_expect A "select pg_backend_pid(), current_setting('TimeZone'), current_setting('application_name');"
IFS='|' read -r pid_a tz_a app_a <<<"$SESS_OUT"
[[ $pid_a =~ ^[0-9]+$ ]] || die "session A: expected pid|tz|app, got '$SESS_OUT'"
[[ $pid_a != "$pid_c" ]] || die "session A ran on server $pid_a, which session C holds in a transaction"
[[ $tz_a == "$TZ_SET" ]] || die "session A: TimeZone right after SET is '$tz_a'"
[[ $app_a == "$APP" ]] || die "session A: application_name is '$app_a', expected '$APP' (PGAPPNAME)"

sess_expect D "begin;"
sess_expect D "select pg_backend_pid();"
pid_d=$SESS_OUT
[[ $pid_d =~ ^[0-9]+$ ]] || die "session D: expected a pid, got '$pid_d'"
[[ $pid_d == "$pid_a" ]] ||
  die "with default_pool_size=2 and C holding $pid_c, D should have got A's server $pid_a, got $pid_d (pool limit broken?)"

sess_expect C "commit;"
[[ $SESS_OUT == COMMIT ]] || die "session C's commit printed '$SESS_OUT'"

sess_expect A "select pg_backend_pid(), current_setting('TimeZone'), current_setting('application_name');"
IFS='|' read -r pid_a2 tz_a2 app_a2 <<<"$SESS_OUT"
note "A: set on $pid_a, now on $pid_a2: TimeZone=$tz_a2 application_name=$app_a2"
[[ $pid_a2 =~ ^[0-9]+$ ]] || die "session A: expected pid|tz|app, got '$SESS_OUT'"
[[ $pid_a2 != "$pid_a" ]] || die "session A stayed on server $pid_a although D holds it in a transaction"
[[ $pid_a2 == "$pid_c" ]] || note "(A landed on $pid_a2, not on C's former server $pid_c)"
[[ $tz_a2 == "$TZ_SET" ]] ||
  die "after moving from server $pid_a to $pid_a2, session A's TimeZone is '$tz_a2', expected '$TZ_SET' (SET not replayed)"
[[ $app_a2 == "$APP" ]] ||
  die "after moving from server $pid_a to $pid_a2, session A's application_name is '$app_a2', expected '$APP' (not replayed)"

# The other clients must not have inherited A's settings: D is still on A's old server.
sess_expect D "select current_setting('TimeZone'), current_setting('application_name');"
IFS='|' read -r tz_d app_d <<<"$SESS_OUT"
[[ $tz_d != "$TZ_SET" ]] || die "session D, on A's former server, sees A's TimeZone '$tz_d'"
[[ $app_d != "$APP" ]] || die "session D, on A's former server, sees A's application_name '$app_d'"
sess_expect D "commit;"

for s in A C D; do sess_close "$s"; done

# Tracked parameters from the startup packet's options ("-c name=value", escapes included)
# reach the server like any other startup value; an untracked one is refused, as pgbouncer does.
out=$(PGOPTIONS='-c timezone=Europe/Lisbon  -c    datestyle=German,\ YMD' \
  q "$SLUICE_PORT" "select current_setting('TimeZone') || '/' || current_setting('DateStyle')")
[[ $out == "Europe/Lisbon/German, YMD" ]] || die "options -c timezone/datestyle gave '$out'"
out=$(PGOPTIONS='-c work_mem=1MB' q "$SLUICE_PORT" "select 1" 2>&1) && die "an untracked option got in: $out"
grep -qF 'unsupported startup parameter in options: work_mem' <<<"$out" || die "wrong error: $out"
out=$(PGOPTIONS='-c' q "$SLUICE_PORT" "select 1" 2>&1) && die "a bare -c got in: $out"
grep -qF "only '-c config=val' and '--config=val' are allowed" <<<"$out" || die "wrong error: $out"

# search_path (track_extra_parameters) is a list: replayed element by element, not as one
# quoted name. The replay is logged as pgbouncer logs it ("varcache_apply", then
# "varcache_set_canonical" for the server's spelling) once `verbose` is raised at run time.
stop_sluice
start_sluice pool_mode=transaction default_pool_size=1 reserve_pool_size=0 admin_users=bench \
  track_extra_parameters=search_path
q "$SLUICE_PORT" "select 1" >/dev/null  # the one server, with the default search_path
grep -q varcache_apply "$SLUICE_LOG" && die "debug lines logged with verbose = 0"
qu "$SLUICE_PORT" bench bench pgbouncer "SET verbose = 2" >/dev/null
out=$(PGOPTIONS='-c search_path=Sales,public' q "$SLUICE_PORT" "show search_path")
[[ $out == "sales, public" ]] || die "search_path -c Sales,public replayed as '$out'"
out=$(PGOPTIONS='-c search_path="$user",Q' q "$SLUICE_PORT" "show search_path")
[[ $out == '"$user", q' ]] || die "search_path -c \"\$user\",Q replayed as '$out'"
out=$(PGOPTIONS='-c DateStyle=ISO' q "$SLUICE_PORT" "show DateStyle; show DateStyle")
[[ $out == $'ISO, MDY\nISO, MDY' ]] || die "DateStyle=ISO gave '$out'"
n=$(grep -c "varcache_apply: SET DateStyle='ISO';" "$SLUICE_LOG" || true)
((n == 1)) || die "DateStyle=ISO was set $n times for two statements (expected once)"
grep -q "varcache_set_canonical: setting DateStyle to its canonical version ISO -> ISO, MDY" \
  "$SLUICE_LOG" || die "no varcache_set_canonical line for DateStyle"
pass "TimeZone and application_name followed A from $pid_a to $pid_a2; options -c applied; search_path as a list"
