#!/usr/bin/env bash
# so_reuseport: with it, a second sluice listens on the port of the first and the kernel
# spreads new connections over both; without it, a port another process listens on refuses
# to start with a bind error, as pgbouncer does. With a peer_id each and [peers] naming each
# other's Unix socket (the documented way to run several processes on one port), a cancel is
# honoured whichever process the kernel hands its connection to. A rolling restart (SIGTERM to
# one: it stops accepting and leaves once its clients have) loses no transaction.
source "$(dirname -- "$0")/lib.sh"

PORT=$(free_port) || die "free_port failed"
U1=$T/u1 U2=$T/u2
mkdir -p "$U1" "$U2" && chmod 777 "$U1" "$U2"
# Each process has a Unix socket directory of its own: that is how its peers reach it alone.
SLUICE_FIXED_PORT=$PORT SLUICE_EXTRA_INI=$'[peers]\n'"1 = host=$U1 port=$PORT"$'\n'"2 = host=$U2 port=$PORT" \
  start_sluice so_reuseport=1 sluice.workers=1 peer_id=1 unix_socket_dir="$U1" verbose=1
first_log=$SLUICE_LOG first_pid=$SLUICE_PID

# A second process on the same port, from a copy of the first one's configuration.
second() {  # NAME SO_REUSEPORT: writes $T/NAME.ini, runs sluice on it in the background
  sed -e "s|^logfile = .*|logfile = $T/$1.log|" -e "s|^pidfile = .*|pidfile = $T/$1.pid|" \
    -e "s|^so_reuseport = .*|so_reuseport = $2|" -e "s|^peer_id = .*|peer_id = 2|" \
    -e "s|^unix_socket_dir = .*|unix_socket_dir = $U2|" "$SLUICE_INI" >"$T/$1.ini"
  chmod 644 "$T/$1.ini"
  bg_to "$T/$1.out" "${AS_PG[@]}" "$SLUICE_BIN" "$T/$1.ini"
}

second exclusive 0
wait_gone "$BG_PID" 10 || die "a second sluice without so_reuseport started on a port in use"
grep -q "could not bind 127.0.0.1:$PORT: Address already in use" "$T/exclusive.out" "$T/exclusive.log" 2>/dev/null ||
  die "no bind error for the port in use: $(cat "$T/exclusive.out" "$T/exclusive.log" 2>/dev/null)"

second shared 1
shared_pid=$BG_PID
wait_until 10 "the second sluice to listen" grep -qs 'process up' "$T/shared.log" ||
  die "a second sluice with so_reuseport did not start: $(cat "$T/shared.out" "$T/shared.log" 2>/dev/null)"
proc_alive "$shared_pid" || die "the second sluice exited"

# The kernel hashes each new connection to one of the two: 40 logins all landing on the
# same process would happen once in 2^39 runs.
for i in $(seq 40); do
  [[ $(q "$PORT" "select $i") == "$i" ]] || die "query $i through the shared port failed"
done
a=$(grep -c 'login attempt' "$first_log")
b=$(grep -c 'login attempt' "$T/shared.log")
note "logins: first $a, second $b"
((a > 0 && b > 0 && a + b == 40)) || die "connections were not spread over both processes: $a + $b"

# Cancels through the shared port: each query's cancel lands on either process. 20 cancels
# that all land on the process holding their client would happen once in a million runs; the
# forwards are logged at verbose=1.
python3 "$(dirname -- "$0")/peer_cancel.py" same "$PORT" 20 || die "a cancel through the shared port failed"
fwd=$(grep -hc 'forwarding cancel request to peer' "$first_log" "$T/shared.log" | awk '{ n += $1 } END { print n + 0 }')
note "cancels forwarded between the two: $fwd of 20"
((fwd > 0)) || die "no cancel was forwarded between the processes"

# Rolling restart: pgbench's clients spread over both; the first gets SIGTERM mid-run.
echo "select 1;" >"$T/one.sql"
logins() { grep -hc 'login attempt' "$first_log" "$T/shared.log" | awk '{ n += $1 } END { print n + 0 }'; }
before=$(logins)
PGPASSWORD=bench pgbench -n -f "$T/one.sql" -c 8 -j 2 -T 6 -h 127.0.0.1 -p "$PORT" -U bench bench >"$T/pgbench.out" 2>&1 &
pgbench_pid=$!
pgbench_connected() { (($(logins) >= before + 8)); }
wait_until 20 "pgbench's 8 clients to log in" pgbench_connected || die "pgbench did not connect: $(tail -3 "$T/pgbench.out")"
kill -TERM "$first_pid"
wait_until 10 "the first process to take SIGTERM" grep -qs 'got SIGTERM, shutting down' "$first_log" ||
  die "no SIGTERM log line"
for i in $(seq 10); do  # new logins go to the process that stays
  [[ $(q "$PORT" "select $i") == "$i" ]] || die "a login during the rolling restart failed"
done
wait "$pgbench_pid" || die "pgbench failed during the rolling restart: $(grep -m3 -iE 'error|abort' "$T/pgbench.out")"
grep -q 'number of failed transactions: 0 ' "$T/pgbench.out" ||
  die "transactions failed during the rolling restart: $(grep -iE 'failed|error' "$T/pgbench.out" | head -3)"
wait_gone "$first_pid" 20 || die "the first process did not leave after its last client"
_kill_pid "$shared_pid"
pass "$a + $b logins over two processes; $fwd of 20 cancels forwarded; rolling restart with 0 failed"
