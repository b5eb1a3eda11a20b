#!/usr/bin/env bash
# Protocol-level prepared statements in transaction mode, message by message
# (prepared_cases.py): pipelines with several Syncs, Flush, Describe, Close, the unnamed
# statement, errors in every position, DEALLOCATE ALL / DISCARD ALL, each answered as
# PostgreSQL answers it straight; then the cases that need a pool in a given state: server
# switches, a Parse sluice sends that fails, a client leaving mid-pipeline, a duplicate name,
# eviction with max_prepared_statements = 2, a hand-off between shards, max_prepared_statements
# set to 0 at run time, and SHOW CLIENTS /
# SERVERS prepared_statements.
source "$(dirname -- "$0")/lib.sh"

cases() { /usr/bin/python3 "$(dirname -- "${BASH_SOURCE[0]}")/prepared_cases.py" "$@"; }
export PYTHONPATH=$(dirname -- "${BASH_SOURCE[0]}")

start_sluice pool_mode=transaction default_pool_size=3 query_wait_timeout=20
cases compare "$SLUICE_PORT" "$PGPORT" || die "a case differs from PostgreSQL's answers"
cases duplicate "$SLUICE_PORT" || die "duplicate"
cases unknown_names "$SLUICE_PORT" || die "unknown_names"
grep -q "closing because: prepared statement did not exist" "$SLUICE_LOG" || die "the unknown name is not logged"
cases failed_names "$SLUICE_PORT" || die "failed_names"
grep -q 'prepared statement "dup" already exists' "$SLUICE_LOG" || die "the duplicate name is not logged"
stop_sluice

# One shard, two servers: released servers are taken last-in first-out, so a client holding
# one in a transaction sends the other client to the other server (where sluice sends the
# Parse first; in replay_fails that Parse fails).
start_sluice pool_mode=transaction default_pool_size=2 query_wait_timeout=20 sluice.workers=1
cases switch "$SLUICE_PORT" || die "switch"
cases replay_fails "$SLUICE_PORT" "$PGPORT" || die "replay_fails"
cases libpq "$SLUICE_PORT" || die "libpq"
cases foreign "$SLUICE_PORT" || die "foreign"
stop_sluice

start_sluice pool_mode=transaction default_pool_size=1 reserve_pool_size=0 query_wait_timeout=20 \
  max_prepared_statements=2 log_disconnections=1
cases eviction "$SLUICE_PORT" || die "eviction"
cases known "$SLUICE_PORT" || die "known"
cases vanish "$SLUICE_PORT" || die "vanish"
grep -q "closing because: client disconnect while server was not ready" "$SLUICE_LOG" ||
  die "the server of the client that left mid-pipeline was not closed"
stop_sluice

# Two shards, one server: two clients accepted one after the other are on different shards.
start_sluice pool_mode=transaction default_pool_size=1 reserve_pool_size=0 query_wait_timeout=20 \
  verbose=1 sluice.workers=2 admin_users=bench
cases handoff "$SLUICE_PORT" || die "handoff"
n=$(grep -c "handed over from shard" "$SLUICE_LOG" || true)
((n >= 2)) || die "expected hand-offs between shards, found $n"
adm() { qu "$SLUICE_PORT" bench bench pgbouncer "$1" -F'|'; }
stats=$(adm "SHOW STATS" | grep '^bench|')
IFS='|' read -r -a f <<<"$stats"
# Two client Parses of one text, parsed once by the one server as it moved between shards.
[[ ${f[9]} == 2 && ${f[10]} == 1 ]] ||
  die "client/server parse counts ${f[9]}/${f[10]} after $n hand-offs, want 2/1: the statement cache did not travel"

# SHOW CLIENTS / SERVERS prepared_statements: a client's names, a server's statements.
cat >"$T/names.py" <<'PY'
import sys, time
from wire_client import Conn
c = Conn(int(sys.argv[1]), "bench", "bench", "bench")
c.parse("p1", "select 1").parse("p2", "select 2").parse("p3", "select 1").sync().run()
print("ready", flush=True)
time.sleep(60)
PY
bg_to "$T/names.out" /usr/bin/python3 "$T/names.py" "$SLUICE_PORT"
wait_until 10 "the client with three names" grep -q ready "$T/names.out" || die "names.py: $(cat "$T/names.out")"
col() {  # SHOW what, column name: the values of bench's rows
  qu "$SLUICE_PORT" bench bench pgbouncer "SHOW $1" -F'|' -P tuples_only=off | awk -F'|' -v c="$2" 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == c) k = i; next }
                                         $3 == "bench" { print $k }' | sort -n | tr '\n' ' '
}
[[ $(col CLIENTS prepared_statements) == *3* ]] || die "SHOW CLIENTS prepared_statements: $(col CLIENTS prepared_statements)"
# The one server has three: the hand-off's, "select 1" (p1 and p3 share it), "select 2".
[[ $(col SERVERS prepared_statements) == "3 " ]] || die "SHOW SERVERS prepared_statements: $(col SERVERS prepared_statements)"
cases untracked "$SLUICE_PORT" || die "untracked"
pass "as PostgreSQL answers, and $n hand-offs with one server-side Parse"
