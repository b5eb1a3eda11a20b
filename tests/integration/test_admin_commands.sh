#!/usr/bin/env bash
# The console's process controlling commands, as pgbouncer's: PAUSE holds queries until
# RESUME and waits for running transactions; RECONNECT and KILL close servers (and KILL the
# clients); KILL_CLIENT is for admin_users only; DISABLE refuses new logins; SET changes a
# changeable setting and refuses the others; SUSPEND is refused (-R takes no sockets over);
# SIGUSR1/SIGUSR2 pause and resume.
source "$(dirname -- "$0")/lib.sh"

start_sluice admin_users=bench stats_users=plainuser pool_mode=transaction default_pool_size=5
port=$SLUICE_PORT

adm() { PGPASSWORD=bench psql -X -At -F'|' -h 127.0.0.1 -p "$port" -U bench -d pgbouncer -c "$1" 2>&1; }
stats_adm() { PGPASSWORD=plainpw psql -X -At -h 127.0.0.1 -p "$port" -U plainuser -d pgbouncer -c "$1" 2>&1; }
expect_tag() {  # SQL TAG
  local out
  out=$(adm "$1")
  [[ $out == "$2" ]] || die "'$1' answered '$out', expected '$2'"
}
expect_error() {  # SQL TEXT
  local out
  out=$(adm "$1")
  [[ $out == *"$2"* ]] || die "'$1' answered '$out', expected an error with '$2'"
}
# SHOW POOLS cl_waiting (column 4) / SHOW DATABASES paused, disabled (columns 16, 17) of bench
cl_waiting() { adm "SHOW POOLS" | awk -F'|' '$1=="bench" && $2=="bench" {print $4}'; }
db_col() { adm "SHOW DATABASES" | awk -F'|' -v c="$1" '$1=="bench" {print $c}'; }
state() { adm "SHOW STATE" | awk -F'|' -v k="$1" '$1==k {print $2}'; }
waiting_is() { [[ $(cl_waiting) == "$1" ]]; }
# SHOW POOLS sv_active + sv_idle + sv_used + sv_tested + sv_login (columns 7, 10-13) of bench
sv_open() { adm "SHOW POOLS" | awk -F'|' '$1=="bench" && $2=="bench" {print $7+$10+$11+$12+$13}'; }
# For bg_to, which execs its command: psql as bench on db bench, and on the console.
PSQL=(env PGPASSWORD=bench psql -X -At -h 127.0.0.1 -p "$port" -U bench)
bench_pids() { pg_direct "select pid from pg_stat_activity where usename = 'bench' and datname = 'bench' and backend_type = 'client backend' order by pid"; }

p0=$(q "$port" "select pg_backend_pid()") || die "sluice does not serve bench"

# ---- PAUSE bench holds a new query until RESUME bench; the servers are closed meanwhile
expect_tag "PAUSE bench" PAUSE
[[ $(db_col 16) == 1 ]] || die "SHOW DATABASES paused is '$(db_col 16)' after PAUSE bench"
gone() { [[ -z $(pg_direct "select pid from pg_stat_activity where pid = $1") ]]; }
wait_until 10 "the paused pool's server to exit" gone "$p0" || die "backend $p0 still there while bench is paused"
[[ $(sv_open) == 0 ]] || die "SHOW POOLS counts $(sv_open) servers while bench is paused"
bg_to "$T/paused.out" "${PSQL[@]}" -d bench -c "select 42"
held=$BG_PID
wait_until 10 "the query to queue" waiting_is 1 || die "no client waiting while paused (cl_waiting=$(cl_waiting))"
proc_alive "$held" || die "the query finished while bench was paused: $(cat "$T/paused.out")"
[[ ! -s $T/paused.out ]] || die "the query answered while paused: $(cat "$T/paused.out")"
expect_tag "RESUME bench" RESUME
wait_gone "$held" 10 || die "the held query did not finish after RESUME"
[[ $(cat "$T/paused.out") == 42 ]] || die "the held query printed '$(cat "$T/paused.out")'"
[[ $(db_col 16) == 0 ]] || die "SHOW DATABASES paused is '$(db_col 16)' after RESUME"
grep -q "PAUSE 'bench' command issued" "$SLUICE_LOG" || die "no 'PAUSE 'bench' command issued' log line"

# ---- errors as pgbouncer's
expect_error "RESUME bench" "database bench is not paused"
expect_error "RESUME" "pooler is not paused/suspended"
expect_error "PAUSE nosuch" "no such database: nosuch"
expect_error "PAUSE pgbouncer" "cannot pause admin db: pgbouncer"
expect_error "KILL pgbouncer" "cannot kill admin db: pgbouncer"
expect_error "DISABLE" "a database is required"
expect_error "RECONNECT nosuch" "no such database: nosuch"
stats_out=$(stats_adm "PAUSE")
[[ $stats_out == *"admin access needed"* ]] || die "a stats user's PAUSE answered '$stats_out'"

# ---- PAUSE waits for a running transaction; global PAUSE shows in SHOW STATE
sess_open A "$port"
sess_expect A "begin;"
sess_expect A "select 1;"
bg_to "$T/pause2.out" "${PSQL[@]}" -d pgbouncer -c "PAUSE"
pauser=$BG_PID
paused_yes() { [[ $(state paused) == yes ]]; }
wait_until 10 "SHOW STATE to say paused" paused_yes || die "SHOW STATE paused is '$(state paused)'"
sess_expect A "select 2;"  # the linked server still serves the open transaction
[[ $SESS_OUT == 2 ]] || die "the open transaction printed '$SESS_OUT' while pausing"
proc_alive "$pauser" || die "PAUSE returned with a transaction still open: $(cat "$T/pause2.out")"
expect_error "PAUSE" "already suspended/paused"
sess_expect A "commit;"
wait_gone "$pauser" 10 || die "PAUSE did not return after the transaction committed"
[[ $(cat "$T/pause2.out") == PAUSE ]] || die "PAUSE printed '$(cat "$T/pause2.out")'"
expect_tag "RESUME" RESUME
[[ $(state paused) == no ]] || die "SHOW STATE paused is '$(state paused)' after RESUME"
sess_expect A "select 3;"
[[ $SESS_OUT == 3 ]] || die "session A after RESUME printed '$SESS_OUT'"

# ---- RECONNECT: the next query runs on a new backend; the old ones go
p1=$(q "$port" "select pg_backend_pid()") || die "select pg_backend_pid() failed"
old=" $(bench_pids | tr '\n' ' ') "
[[ $old == *" $p1 "* ]] || die "backend $p1 not in pg_stat_activity ($old)"
expect_tag "RECONNECT bench" RECONNECT
wait_until 10 "backend $p1 to exit after RECONNECT" gone "$p1" || die "backend $p1 still there after RECONNECT"
p2=$(q "$port" "select pg_backend_pid()") || die "select after RECONNECT failed"
[[ $old != *" $p2 "* ]] || die "after RECONNECT the query ran on old backend $p2 ($old)"

# ---- WAIT_CLOSE returns once the servers RECONNECT marked are gone
sess_expect A "begin;"
sess_expect A "select pg_backend_pid();"
busy=$SESS_OUT
expect_tag "RECONNECT" RECONNECT
bg_to "$T/waitclose.out" "${PSQL[@]}" -d pgbouncer -c "WAIT_CLOSE bench"
waiter=$BG_PID
sess_expect A "select 4;"
proc_alive "$waiter" || die "WAIT_CLOSE returned while server $busy was still in use: $(cat "$T/waitclose.out")"
sess_expect A "commit;"
wait_gone "$waiter" 10 || die "WAIT_CLOSE did not return after the marked server was released"
[[ $(cat "$T/waitclose.out") == WAIT_CLOSE ]] || die "WAIT_CLOSE printed '$(cat "$T/waitclose.out")'"
wait_until 10 "backend $busy to exit" gone "$busy" || die "backend $busy outlived WAIT_CLOSE"
sess_close A

# ---- KILL bench: a running query gets an error, the database stays paused until RESUME
bg_to "$T/killed.out" "${PSQL[@]}" -d bench -c "select pg_sleep(30)"
victim=$BG_PID
sleeping() { [[ -n $(pg_direct "select pid from pg_stat_activity where query = 'select pg_sleep(30)' and state = 'active'") ]]; }
wait_until 10 "pg_sleep to run" sleeping || die "the pg_sleep query never ran"
expect_tag "KILL bench" KILL
wait_gone "$victim" 10 || die "the client running pg_sleep survived KILL bench"
grep -q "database removed" "$T/killed.out" || die "the killed client got: $(cat "$T/killed.out")"
[[ $(db_col 16) == 1 ]] || die "bench is not paused after KILL (paused=$(db_col 16))"
# PostgreSQL notices a closed socket only when pg_sleep ends: end the backend now.
pg_direct "select pg_terminate_backend(pid) from pg_stat_activity where query = 'select pg_sleep(30)'" >/dev/null
expect_tag "RESUME bench" RESUME
[[ $(q "$port" "select 5") == 5 ]] || die "no query after KILL + RESUME"

# ---- KILL_CLIENT: an admin may, a stats user may not
sess_open V "$port"
sess_expect V "select 1;"
expect_error "KILL_CLIENT 999999999" "client not found"
expect_error "KILL_CLIENT abc" "invalid client pointer supplied"
stats_out=$(stats_adm "KILL_CLIENT 1")
[[ $stats_out == *"admin access needed"* ]] || die "a stats user's KILL_CLIENT answered '$stats_out'"
if [[ $(adm "SHOW CLIENTS") != *"invalid command"* ]]; then
  id=$(adm "SHOW CLIENTS" | awk -F'|' '$2=="bench" && $3=="bench" {print $21; exit}')
  [[ $id =~ ^[0-9]+$ ]] || die "no id for the victim in SHOW CLIENTS: '$id'"
  stats_out=$(stats_adm "KILL_CLIENT $id")
  [[ $stats_out == *"admin access needed"* ]] || die "a stats user's KILL_CLIENT $id answered '$stats_out'"
  sess_expect V "select 'alive';"
  [[ $SESS_OUT == alive ]] || die "the victim after a refused KILL_CLIENT printed '$SESS_OUT'"
  expect_tag "KILL_CLIENT $id" KILL_CLIENT
  wait_gone "$(sess_pid V)" 10 || sess_run V "select 6;" 10
  [[ $SESS_OUT != 6 ]] || die "client $id still answers after KILL_CLIENT"
else
  note "SHOW CLIENTS is not answered by this build: KILL_CLIENT by id not exercised"
fi
sess_close V

# ---- DISABLE refuses new logins, existing clients keep working; ENABLE admits again
sess_open D "$port"
sess_expect D "select 1;"
expect_tag "DISABLE bench" DISABLE
[[ $(db_col 17) == 1 ]] || die "SHOW DATABASES disabled is '$(db_col 17)' after DISABLE"
out=$(q "$port" "select 1" 2>&1) && die "a new login to a disabled database worked: $out"
[[ $out == *'database "bench" is disabled'* ]] || die "a login to a disabled database got: $out"
sess_expect D "select 7;"
[[ $SESS_OUT == 7 ]] || die "an existing client of the disabled database printed '$SESS_OUT'"
expect_tag "ENABLE bench" ENABLE
[[ $(q "$port" "select 8") == 8 ]] || die "no login after ENABLE"
sess_close D

# ---- SET: a changeable setting changes (and acts), the others are refused
expect_tag "SET default_pool_size = 3" "SET default_pool_size=3"
cfg_val() { adm "SHOW CONFIG" | awk -F'|' -v k="$1" '$1==k {print $2}'; }
[[ $(cfg_val default_pool_size) == 3 ]] || die "SHOW CONFIG default_pool_size is '$(cfg_val default_pool_size)'"
for s in 1 2 3; do
  sess_open "P$s" "$port"
  sess_expect "P$s" "begin;"
  sess_expect "P$s" "select $s;"
done
bg_to "$T/fourth.out" "${PSQL[@]}" -d bench -c "select 44"
fourth=$BG_PID
wait_until 10 "a fourth client to queue at pool size 3" waiting_is 1 ||
  die "no client waits with 3 transactions open at pool size 3 (cl_waiting=$(cl_waiting))"
[[ $(sv_open) -le 3 ]] || die "SHOW POOLS counts $(sv_open) servers at pool size 3"
sess_expect P1 "commit;"
wait_gone "$fourth" 10 || die "the fourth client was not served after a commit"
[[ $(cat "$T/fourth.out") == 44 ]] || die "the fourth client printed '$(cat "$T/fourth.out")'"
for s in 1 2 3; do sess_close "P$s"; done
expect_error "SET listen_port = 1" "SET failed"
expect_error "SET no_such_setting = 1" "SET failed"
out=$(adm "SET client_encoding = 'UTF8'")
[[ $out == *"SET ignored"* && $(tail -n1 <<<"$out") == SET ]] || die "SET client_encoding answered '$out'"
stats_out=$(stats_adm "SET default_pool_size = 4")
[[ $stats_out == *"admin access needed"* ]] || die "a stats user's SET answered '$stats_out'"
expect_tag "SET server_check_query = 'select 2'" "SET server_check_query=select 2"
[[ $(cfg_val server_check_query) == "select 2" ]] || die "SHOW CONFIG server_check_query is '$(cfg_val server_check_query)'"

# ---- SUSPEND is refused (sluice's -R takes no sockets over for it to prepare); serving goes on
stats_out=$(stats_adm "SUSPEND")
[[ $stats_out == *"admin access needed"* ]] || die "a stats user's SUSPEND answered '$stats_out'"
out=$(PGPASSWORD=bench psql -X -At -v VERBOSITY=verbose -h 127.0.0.1 -p "$port" -U bench -d pgbouncer -c "SUSPEND" 2>&1)
[[ $out == *"ERROR:  0A000: SUSPEND is not supported: sluice's -R takes no sockets over"* ]] ||
  die "SUSPEND answered '$out', expected a 0A000 refusal"
[[ $(q "$port" "select 9") == 9 ]] || die "a query right after the refused SUSPEND did not answer 9"
[[ $(adm "SHOW STATE") == $'active|yes\npaused|no\nsuspended|no' ]] ||
  die "SHOW STATE after SUSPEND is '$(adm "SHOW STATE")'"
expect_error "RESUME" "pooler is not paused/suspended"
! grep -q "SUSPEND" "$SLUICE_LOG" || die "the refused SUSPEND was logged: $(grep SUSPEND "$SLUICE_LOG")"

# ---- SIGUSR1 pauses, SIGUSR2 resumes
kill -USR1 "$SLUICE_PID" || die "cannot signal sluice"
wait_until 10 "SIGUSR1 to pause" paused_yes || die "SHOW STATE paused is '$(state paused)' after SIGUSR1"
bg_to "$T/usr.out" "${PSQL[@]}" -d bench -c "select 55"
held=$BG_PID
wait_until 10 "the query to queue while paused by SIGUSR1" waiting_is 1 || die "no client waiting after SIGUSR1"
proc_alive "$held" || die "the query ran while paused by SIGUSR1: $(cat "$T/usr.out")"
kill -USR2 "$SLUICE_PID" || die "cannot signal sluice"
wait_gone "$held" 10 || die "the query did not finish after SIGUSR2"
[[ $(cat "$T/usr.out") == 55 ]] || die "the query after SIGUSR2 printed '$(cat "$T/usr.out")'"
[[ $(state paused) == no ]] || die "SHOW STATE paused is '$(state paused)' after SIGUSR2"
grep -q "got SIGUSR1, pausing all activity" "$SLUICE_LOG" || die "no SIGUSR1 log line"
grep -q "got SIGUSR2, continuing from PAUSE" "$SLUICE_LOG" || die "no SIGUSR2 log line"

pass
