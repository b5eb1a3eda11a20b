#!/usr/bin/env bash
# server_check_query before an idle server is reused (server_check_delay = 0 here): by
# default "<empty>", an empty query; a query of the operator's own; or none when set empty.
source "$(dirname -- "$0")/lib.sh"

printf '"bench" "bench"\n' >"$T/userlist.txt"
export SLUICE_USERLIST=$T/userlist.txt
queries_seen() { cat "$FAKE_PORT_FILE.queries" 2>/dev/null | tr '\n' '|'; }

run_case() {  # EXPECTED-QUERIES WORKERS [settings...]
  local expected=$1 workers=$2
  shift 2
  fake_pg_start ok
  FAKE_PORT_FILE=${FAKE_CONNS%.conns}
  SLUICE_DATABASES="bench = host=127.0.0.1 port=$FAKE_PORT dbname=bench" \
    start_sluice auth_type=trust pool_mode=transaction server_check_delay=0 default_pool_size=1 sluice.workers=$workers "$@"
  raw "$SLUICE_PORT" bench bench 'query:select 1' terminate >/dev/null
  raw "$SLUICE_PORT" bench bench 'query:select 2' terminate >/dev/null
  raw "$SLUICE_PORT" bench bench 'query:select 3' terminate >/dev/null
  [[ $(queries_seen) == "$expected" ]] ||
    die "with '$*': the server got '$(queries_seen)', expected '$expected'"
  stop_sluice
}

# The first client's login opens the server; its first query uses it unchecked (a server
# fresh from its login is not checked, as in pgbouncer); each later reuse is checked. With
# one shard the server comes from the idle list; with two, clients alternate between shards
# and the server is handed over to the other shard's queued client (pool_size 1: that shard
# cannot open a server of its own), and checked the same.
for w in 1 2; do
  run_case 'select 1|<>|select 2|<>|select 3|' $w                           # the default: <empty>
  run_case 'select 1|select 7|select 2|select 7|select 3|' $w 'server_check_query=select 7'
  run_case 'select 1|select 2|select 3|' $w 'server_check_query='              # empty: no check
done
pass
