#!/usr/bin/env bash
# LISTEN/NOTIFY in transaction mode: psycopg 3 and asyncpg listeners, notifications sent
# through sluice and straight to PostgreSQL, rollback and errors, UNLISTEN, a client that
# stops reading, the pool's listening connection killed, 1,000 listeners on a pool of 20.
source "$(dirname -- "$0")/lib.sh"
/usr/bin/python3 -c "import asyncpg, psycopg" 2>/dev/null || die "python3-asyncpg and python3-psycopg are needed"
ulimit -n 8192 || die "cannot raise the open files limit"
HTTP=$(free_port) || die "free_port failed"
start_sluice pool_mode=transaction default_pool_size=20 max_client_conn=1200 sluice.workers=2 \
  admin_users=bench sluice.http_listen_port="$HTTP"
NC=("/usr/bin/python3" "$(dirname -- "$0")/notify_clients.py")

"${NC[@]}" drivers "$SLUICE_PORT" "$PGPORT" || die "drivers"

"${NC[@]}" deaf "$SLUICE_PORT" "$PGPORT" || die "a listener that does not read"
grep -q "bytes of notifications unread" "$SLUICE_LOG" || die "no log line for the client closed for not reading"

# 1,000 listeners: every one gets the notification; the pool's servers (20, the listening
# connection among them) plus the script's direct notifier are all that PostgreSQL sees.
start_conn_sampler "$T/conns"
"${NC[@]}" many "$SLUICE_PORT" "$PGPORT" 1000 || die "1000 listeners"
_kill_pid "$SAMPLER_PID"
peak=$(sort -n "$T/conns" | tail -1)
note "1000 listeners: server connections peak $peak"
((peak <= 21)) || die "server connections peaked at $peak with 1000 listeners (pool 20 + 1 direct)"

# The listening connection killed: sluice logs the gap, listens again, delivery resumes.
flag=$T/relistened
bg_to "$T/relisten.out" "${NC[@]}" relisten "$SLUICE_PORT" "$PGPORT" "$flag"
relisten_pid=$BG_PID
wait_until 30 "the first notification" grep -q "first notification" "$T/relisten.out" ||
  die "relisten: $(cat "$T/relisten.out")"
listener_pid() { pg_direct "select pid from pg_stat_activity where query = 'LISTEN \"re\";'"; }
# SHOW LISTENERS: the one channel, its one client, the one notification delivered.
out=$(qu "$SLUICE_PORT" bench bench pgbouncer "show listeners" -F' ') || die "SHOW LISTENERS failed"
[[ $out == "bench bench re 1 1" ]] || die "SHOW LISTENERS: $out"
old=$(listener_pid)
[[ $old =~ ^[0-9]+$ ]] || die "no listening connection in pg_stat_activity: '$old'"
pg_direct "select pg_terminate_backend($old)" >/dev/null
wait_until 15 "the loss to be logged" grep -q "listening connection lost" "$SLUICE_LOG" ||
  die "the lost listening connection was not logged"
relistening() { local p; p=$(listener_pid); [[ $p =~ ^[0-9]+$ && $p != "$old" ]]; }
wait_until 30 "a new listening connection" relistening || die "the listening connection was not re-established"
touch "$flag"
wait "$relisten_pid" || die "relisten: $(cat "$T/relisten.out")"
m=$(curl -sf "http://127.0.0.1:$HTTP/metrics") || die "GET /metrics failed"
grep -qx 'sluice_notify_clients_dropped_total{database="bench",user="bench"} 1' <<<"$m" &&
  grep -qx 'sluice_listen_reconnects_total{database="bench",user="bench"} 1' <<<"$m" &&
  grep -q '^sluice_notifications_received_total{database="bench",user="bench"} [1-9]' <<<"$m" ||
  die "/metrics: $(grep -E 'sluice_(notif|listen)' <<<"$m")"

stop_sluice
pass "psycopg + asyncpg listeners, rollback, UNLISTEN, a deaf client, 1000 listeners (peak $peak), listener re-established"
