#!/usr/bin/env bash
# so_reuseport: with it, a second sluice listens on the port of the first and the kernel
# spreads new connections over both; without it, a port another process listens on refuses
# to start with a bind error, as pgbouncer does.
source "$(dirname -- "$0")/lib.sh"

start_sluice so_reuseport=1 sluice.workers=1
first_log=$SLUICE_LOG

# A second process on the same port, from a copy of the first one's configuration.
second() {  # NAME SO_REUSEPORT: writes $T/NAME.ini, runs sluice on it in the background
  sed -e "s|^logfile = .*|logfile = $T/$1.log|" -e "s|^pidfile = .*|pidfile = $T/$1.pid|" \
    -e "s|^so_reuseport = .*|so_reuseport = $2|" "$SLUICE_INI" >"$T/$1.ini"
  chmod 644 "$T/$1.ini"
  bg_to "$T/$1.out" "${AS_PG[@]}" "$SLUICE_BIN" "$T/$1.ini"
}

second exclusive 0
wait_gone "$BG_PID" 10 || die "a second sluice without so_reuseport started on a port in use"
grep -q "could not bind 127.0.0.1:$SLUICE_PORT: Address already in use" "$T/exclusive.out" "$T/exclusive.log" 2>/dev/null ||
  die "no bind error for the port in use: $(cat "$T/exclusive.out" "$T/exclusive.log" 2>/dev/null)"

second shared 1
shared_pid=$BG_PID
wait_until 10 "the second sluice to listen" grep -qs 'process up' "$T/shared.log" ||
  die "a second sluice with so_reuseport did not start: $(cat "$T/shared.out" "$T/shared.log" 2>/dev/null)"
proc_alive "$shared_pid" || die "the second sluice exited"

# The kernel hashes each new connection to one of the two: 40 logins all landing on the
# same process would happen once in 2^39 runs.
for i in $(seq 40); do
  [[ $(q "$SLUICE_PORT" "select $i") == "$i" ]] || die "query $i through the shared port failed"
done
a=$(grep -c 'login attempt' "$first_log")
b=$(grep -c 'login attempt' "$T/shared.log")
note "logins: first $a, second $b"
((a > 0 && b > 0 && a + b == 40)) || die "connections were not spread over both processes: $a + $b"
_kill_pid "$shared_pid"
stop_sluice
pass "$a + $b logins over two processes"
