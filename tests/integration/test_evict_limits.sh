#!/usr/bin/env bash
# max_db_connections and max_user_connections across pools, as pgbouncer: a client of one pool
# that the limit keeps from a server gets the slot of another pool's idle server, which is
# closed ("evicted"); the limit still holds. min_pool_size of an entry with a forced user is
# filled before any client comes, and such a pool is not reaped by pool_idle_timeout.
source "$(dirname -- "$0")/lib.sh"

printf '"bench" "bench"\n"md5user" "md5pw"\n' >"$T/userlist.txt"
export SLUICE_USERLIST=$T/userlist.txt
backends() {  # the server connections of bench and md5user to database bench
  pg_direct "select count(*) from pg_stat_activity where datname = 'bench'
               and usename in ('bench', 'md5user') and backend_type = 'client backend'"
}
evictions() { grep -c 'closing because: evicted' "$SLUICE_LOG"; }
backends_are() { [[ $(backends) -eq $1 ]]; }
conns_are() { [[ $(server_conns) -eq $1 ]]; }

# ---- max_db_connections: two pools (users) of one entry, one slot
export SLUICE_DATABASES="lim = host=127.0.0.1 port=$PGPORT dbname=bench max_db_connections=1"
start_sluice auth_type=trust pool_mode=transaction query_wait_timeout=5
[[ $(qu "$SLUICE_PORT" bench bench lim 'select 1') == 1 ]] || die "bench's first query failed"
# bench's server now idles: md5user's client is served by evicting it, not after 5 s of wait.
out=$(qu "$SLUICE_PORT" md5user md5pw lim 'select 2' 2>&1) || die "md5user was not served: $out"
(($(evictions) == 1)) || die "expected one eviction, log says $(evictions)"
wait_until 10 "the evicted backend to exit" backends_are 1 ||
  die "max_db_connections=1 but $(backends) server connections"
# Both pools' clients at once, each pool's queued behind the other's: all served.
for i in 1 2 3; do
  bg qu "$SLUICE_PORT" bench bench lim 'select pg_sleep(0.3)'
  pids+=("$BG_PID")
  bg qu "$SLUICE_PORT" md5user md5pw lim 'select pg_sleep(0.3)'
  pids+=("$BG_PID")
done
for p in "${pids[@]}"; do wait "$p" || die "a client waiting for an evicted slot failed"; done
(($(backends) <= 1)) || die "max_db_connections=1 exceeded: $(backends)"
stop_sluice

# ---- max_user_connections: two entries (pools) of one user, one slot
export SLUICE_DATABASES="u1 = host=127.0.0.1 port=$PGPORT dbname=bench
u2 = host=127.0.0.1 port=$PGPORT dbname=bench
[users]
bench = max_user_connections=1"
start_sluice auth_type=trust pool_mode=transaction query_wait_timeout=5
[[ $(qu "$SLUICE_PORT" bench bench u1 'select 1') == 1 ]] || die "u1's query failed"
out=$(qu "$SLUICE_PORT" bench bench u2 'select 2' 2>&1) || die "u2 was not served: $out"
(($(evictions) == 1)) || die "expected one eviction, log says $(evictions)"
wait_until 10 "the evicted backend to exit" conns_are 1 ||
  die "max_user_connections=1 but $(server_conns) server connections"
stop_sluice

# ---- min_pool_size with a forced user: no client needed; never evicts; never reaped
export SLUICE_DATABASES="forced = host=127.0.0.1 port=$PGPORT dbname=bench user=bench password=bench min_pool_size=2
dead = host=127.0.0.1 port=$PGPORT dbname=no_such_db user=bench password=bench min_pool_size=2"
start_sluice auth_type=trust pool_idle_timeout=1
wait_until 10 "min_pool_size=2 servers of the forced pool" conns_are 2 ||
  die "a forced user's min_pool_size was not filled without clients: $(server_conns)"
sleep 3
grep -q 'cleaning up idle pool.*dead' "$SLUICE_LOG" && die "pool_idle_timeout reaped a min_pool_size pool"
(($(evictions) == 0)) || die "min_pool_size evicted a server"
stop_sluice
pass
