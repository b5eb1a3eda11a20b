#!/usr/bin/env bash
# disable_pqexec refuses the simple query protocol ("PQexec disallowed") while the extended
# protocol keeps working; server_round_robin reuses idle servers oldest first, so that
# consecutive transactions rotate over them instead of staying on the newest.
source "$(dirname -- "$0")/lib.sh"

# ---- disable_pqexec
start_sluice pool_mode=transaction disable_pqexec=1
out=$(q "$SLUICE_PORT" 'select 1' 2>&1) && die "a simple Query was served with disable_pqexec=1: $out"
grep -qF 'PQexec disallowed' <<<"$out" || die "wrong error for a simple Query: $out"
# pgbench -M extended sends Parse/Bind/Execute only
printf 'select 1;\n' >"$T/one.sql"
env PGPASSWORD=bench pgbench -n -M extended -t 5 -h 127.0.0.1 -p "$SLUICE_PORT" -U bench -f "$T/one.sql" bench \
  >"$T/ext.log" 2>&1 || die "the extended protocol failed with disable_pqexec=1: $(tail -3 "$T/ext.log")"
grep -q 'number of failed transactions: 0 ' "$T/ext.log" || die "extended-protocol failures: $(cat "$T/ext.log")"
stop_sluice

# ---- server_round_robin: two idle servers on one shard; each query reports its backend
pids_of_4() {  # 4 sequential queries: their backend pids, space-separated
  local i out=""
  for i in 1 2 3 4; do out+="$(q "$SLUICE_PORT" 'select pg_backend_pid()') "; done
  echo "$out"
}
two_servers() { (($(server_conns) == 2)); }
open_two() {  # make the pool open 2 servers: 2 clients at once
  local a b
  bg q "$SLUICE_PORT" 'select pg_sleep(0.3)'; a=$BG_PID
  bg q "$SLUICE_PORT" 'select pg_sleep(0.3)'; b=$BG_PID
  wait "$a" && wait "$b" || die "the warm-up clients failed"
  # (backends of an earlier sluice may take a moment to go)
  wait_until 15 "2 server connections" two_servers || die "expected 2 server connections, have $(server_conns)"
}
start_sluice pool_mode=transaction sluice.workers=1 server_round_robin=1
open_two
read -r -a p <<<"$(pids_of_4)"
[[ ${p[0]} != "${p[1]}" && ${p[0]} == "${p[2]}" && ${p[1]} == "${p[3]}" ]] ||
  die "server_round_robin=1 did not rotate over the 2 idle servers: ${p[*]}"
stop_sluice
start_sluice pool_mode=transaction sluice.workers=1 server_round_robin=0
open_two
read -r -a p <<<"$(pids_of_4)"
[[ ${p[0]} == "${p[1]}" && ${p[1]} == "${p[2]}" && ${p[2]} == "${p[3]}" ]] ||
  die "server_round_robin=0 did not keep reusing the newest idle server: ${p[*]}"
stop_sluice
pass
