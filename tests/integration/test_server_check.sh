#!/usr/bin/env bash
# server_check_query before an idle server is reused (server_check_delay = 0 here): by
# default "<empty>", an empty query; a query of the operator's own; or none when set empty.
source "$(dirname -- "$0")/lib.sh"

printf '"bench" "bench"\n' >"$T/userlist.txt"
export SLUICE_USERLIST=$T/userlist.txt
queries_seen() { cat "$FAKE_PORT_FILE.queries" 2>/dev/null | tr '\n' '|'; }

run_case() {  # EXPECTED-QUERIES [settings...]
  local expected=$1
  shift
  fake_pg_start ok
  FAKE_PORT_FILE=${FAKE_CONNS%.conns}
  SLUICE_DATABASES="bench = host=127.0.0.1 port=$FAKE_PORT dbname=bench" \
    start_sluice auth_type=trust pool_mode=transaction server_check_delay=0 sluice.workers=1 "$@"
  raw "$SLUICE_PORT" bench bench 'query:select 1' terminate >/dev/null
  raw "$SLUICE_PORT" bench bench 'query:select 2' terminate >/dev/null
  [[ $(queries_seen) == "$expected" ]] ||
    die "with '$*': the server got '$(queries_seen)', expected '$expected'"
  stop_sluice
}

# One shard, so that both clients reuse the server from its idle list. The first client's
# login opens the server (no check: it is new); each query then reuses it after a check.
run_case '<>|select 1|<>|select 2|'                              # the default: <empty>
run_case 'select 7|select 1|select 7|select 2|' 'server_check_query=select 7'
run_case 'select 1|select 2|' 'server_check_query='              # empty: no check
pass
