#!/usr/bin/env bash
# Faults a network and a server bring, with real processes: PostgreSQL, sluice and the
# clients run in a network namespace of this test's own (ip netns, its own lo), where
# iptables drops and cuts packets without touching the machine's network (this kernel has no
# netem). Needs root (exits 77, skipped, without it).
#   - 3% of packets dropped at random under load: TCP retransmits, 0 failed transactions;
#   - every packet to PostgreSQL dropped for 4 s under load (a stalled link): 0 failed;
#   - a server that stops answering mid-query: query_timeout gives that client an error,
#     and once the link is back the pool serves again;
#   - the link cut (TCP resets) under a busy client: that client gets an error, the next
#     one is served once the link is back;
#   - PostgreSQL restarted under load: sluice keeps running and serves as soon as it is
#     back;
#   - the link cut while the server is idle: the next query fails at once, not a hang;
#   - tcp_keepalive closes an idle server behind a silent link before a client needs it;
#   - server_connect_timeout gives up on a connect nobody answers.
if [[ -z ${SLUICE_NETNS:-} ]]; then
  [[ $(id -u) -eq 0 ]] || { echo "SKIP [test_faults]: network namespaces need root"; exit 77; }
  command -v iptables >/dev/null || { echo "FAIL [test_faults]: iptables is not installed" >&2; exit 1; }
  ns=sluice-faults-$$
  ip netns add "$ns" || { echo "FAIL [test_faults]: ip netns add failed" >&2; exit 1; }
  ip netns exec "$ns" ip link set lo up
  SLUICE_NETNS=$ns ip netns exec "$ns" "$0" "$@"
  rc=$?
  ip netns del "$ns"
  exit $rc
fi
source "$(dirname -- "$0")/lib.sh"

# ---- PostgreSQL in the namespace, on its loopback (TCP is what the faults act on).
PGBIN=$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)
NP=$(free_port)
N=$T/pg
"${AS_PG[@]}" "$PGBIN/initdb" -D "$N" -U postgres --auth=trust -N >"$T/initdb.log" 2>&1 ||
  die "initdb: $(tail -3 "$T/initdb.log")"
cat >>"$N/postgresql.conf" <<EOF
listen_addresses = '127.0.0.1'
port = $NP
unix_socket_directories = '$T'
fsync = off
max_connections = 60
EOF
ns_pg() { "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$N" -l "$T/pg.log" -w -t 60 "$@" >/dev/null; }
ns_pg start || die "postgres in the namespace did not start: $(tail -3 "$T/pg.log")"
_ns_pg_stop() { "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$N" -m immediate -w stop >/dev/null 2>&1; }
_EXIT_HOOKS+=(_ns_pg_stop)
psql -X -q -h "$T" -p "$NP" -U postgres -d postgres \
  -c "create role bench login password 'bench'" -c "create database bench owner bench" ||
  die "create role and database"
export PGPASSWORD=bench
pgbench -i -s 1 -q -h "$T" -p "$NP" -U bench bench >"$T/init.log" 2>&1 || die "pgbench -i"

echo '"bench" "bench"' >"$T/users.txt"
SLUICE_USERLIST=$T/users.txt
SLUICE_DATABASES="bench = host=127.0.0.1 port=$NP dbname=bench"
drop_pg() { iptables -"$1" INPUT -p tcp --dport "$NP" -j "${2:-DROP}" ${3:+--reject-with "$3"}; }
fails_of() { grep -oE 'number of failed transactions: [0-9]+' "$1" | grep -oE '[0-9]+$'; }
done_of() { grep -oE 'number of transactions actually processed: [0-9]+' "$1" | grep -oE '[0-9]+$'; }
load() {  # OUT SECS: select-only pgbench through sluice
  pgbench -n -S -h 127.0.0.1 -p "$SLUICE_PORT" -U bench -c 8 -j 2 -T "$2" bench >"$1" 2>&1
}

start_sluice pool_mode=transaction default_pool_size=8 server_login_retry=1
main_port=$SLUICE_PORT main_pid=$SLUICE_PID

# ---- random loss
iptables -A INPUT -m statistic --mode random --probability 0.03 -j DROP || die "iptables (loss)"
load "$T/loss.out" 8
iptables -D INPUT -m statistic --mode random --probability 0.03 -j DROP
[[ $(fails_of "$T/loss.out") == 0 ]] && ! grep -qiE 'abort|error' "$T/loss.out" ||
  die "3% loss: $(tail -5 "$T/loss.out")"
loss_tx=$(done_of "$T/loss.out")
((loss_tx > 50)) || die "3% loss: only $loss_tx transactions"

# ---- a stalled link: nothing reaches PostgreSQL for 4 s in the middle of the load
(sleep 3 && drop_pg A && sleep 4 && drop_pg D) &
stall=$!
load "$T/stall.out" 12
wait "$stall"
[[ $(fails_of "$T/stall.out") == 0 ]] && ! grep -qiE 'abort|error' "$T/stall.out" ||
  die "stalled link: $(tail -5 "$T/stall.out")"
stall_tx=$(done_of "$T/stall.out")

# ---- PostgreSQL restarted under load: sluice stays, and serves once PostgreSQL is back
pgbench -n -S -h 127.0.0.1 -p "$SLUICE_PORT" -U bench -c 4 -j 2 -T 8 bench >"$T/restart.out" 2>&1 &
restart_load=$!
sleep 2
ns_pg -m fast restart || die "postgres did not restart: $(tail -3 "$T/pg.log")"
wait "$restart_load"  # clients whose transaction was in flight are aborted; none hangs
proc_alive "$main_pid" || die "sluice exited when PostgreSQL restarted"
served() { [[ $(q "$main_port" "select 7") == 7 ]]; }
wait_until 30 "a query served after the restart" served || die "nothing served after the restart"

# ---- a server that stops answering mid-query: query_timeout ends that client's wait
start_sluice pool_mode=transaction default_pool_size=2 query_timeout=2 server_login_retry=1
[[ $(q "$SLUICE_PORT" "select 1") == 1 ]] || die "query_timeout pooler: select 1"
drop_pg A
out=$(q "$SLUICE_PORT" "select 42" 2>&1)
drop_pg D
[[ $out != 42 ]] && grep -qiE "query.timeout" <<<"$out" ||
  die "a query to a silent server: '$out' (expected a query_timeout error)"
wait_until 30 "the pool to serve again" bash -c "[[ \$(PGPASSWORD=bench psql -X -At -h 127.0.0.1 -p $SLUICE_PORT -U bench -d bench -c 'select 43' 2>/dev/null) == 43 ]]" ||
  die "the pool did not serve after the silent server"

# ---- the link cut (resets) under a busy client
sess_open A "$SLUICE_PORT"
sess_expect A "begin;"
drop_pg A REJECT tcp-reset
rc=0
sess_run A "select 44;" 30 || rc=$?
drop_pg D REJECT tcp-reset
[[ $rc -ne 2 && $SESS_OUT != 44 ]] || die "a cut link gave the busy client '$SESS_OUT' (status $rc)"
sess_close A
wait_until 30 "a new client served after the cut" bash -c "[[ \$(PGPASSWORD=bench psql -X -At -h 127.0.0.1 -p $SLUICE_PORT -U bench -d bench -c 'select 45' 2>/dev/null) == 45 ]]" ||
  die "nothing served after the cut"

# ---- the link cut (resets) while the server is idle: the next client's query fails at
# once (no hang), and the one after the link is back is served
start_sluice pool_mode=transaction default_pool_size=1 server_login_retry=1
[[ $(q "$SLUICE_PORT" "select 1") == 1 ]] || die "idle-cut pooler: select 1"
drop_pg A REJECT tcp-reset
out=$(timeout 20 psql -X -At -h 127.0.0.1 -p "$SLUICE_PORT" -U bench -d bench -c 'select 46' 2>&1)
rc=$?
drop_pg D REJECT tcp-reset
[[ $rc -ne 124 && $out != 46 ]] || die "a query on a server cut while idle: '$out' (status $rc)"
wait_until 30 "a client served after the idle cut" bash -c "[[ \$(PGPASSWORD=bench psql -X -At -h 127.0.0.1 -p $SLUICE_PORT -U bench -d bench -c 'select 47' 2>/dev/null) == 47 ]]" ||
  die "nothing served after the idle cut"

# ---- tcp_keepalive: an idle server whose link went silent is found dead by the kernel's
# probes (1 s idle, 2 probes 1 s apart) and closed, before any client needs it
start_sluice pool_mode=transaction default_pool_size=1 server_login_retry=1 tcp_keepalive=1 \
  tcp_keepidle=1 tcp_keepintvl=1 tcp_keepcnt=2
[[ $(q "$SLUICE_PORT" "select 1") == 1 ]] || die "keepalive pooler: select 1"
drop_pg A
crashed() { grep -q 'closing because: server conn crashed?' "$SLUICE_LOG"; }
wait_until 30 "keepalive to find the silent idle server dead" crashed ||
  { drop_pg D; die "an idle server behind a silent link was not closed (tcp_keepalive)"; }
drop_pg D
[[ $(q "$SLUICE_PORT" "select 48") == 48 ]] || die "no query served after keepalive closed the server"

# ---- server_connect_timeout: a server that never answers the connect is given up on, and
# the client, queued meanwhile, gets query_wait_timeout's error
start_sluice pool_mode=transaction default_pool_size=1 server_login_retry=1 \
  server_connect_timeout=1 query_wait_timeout=4
drop_pg A
out=$(timeout 30 psql -X -At -h 127.0.0.1 -p "$SLUICE_PORT" -U bench -d bench -c 'select 49' 2>&1)
drop_pg D
grep -q 'closing because: connect timeout' "$SLUICE_LOG" ||
  die "no server_connect_timeout within query_wait_timeout (client got '$out')"
grep -q 'query_wait_timeout' <<<"$out" || die "a client queued behind a silent connect got '$out'"
served50() { [[ $(q "$SLUICE_PORT" "select 50") == 50 ]]; }
wait_until 30 "a query served once the server answers again" served50 ||
  die "nothing served after the connect timeouts"

pass "3% loss ($loss_tx tx) and a 4 s stall ($stall_tx tx) with 0 failed; restart, silent server, cut links (busy, idle), keepalive and connect timeout recovered"
