#!/usr/bin/env bash
# psycopg 3 and asyncpg through sluice in transaction mode with statement renaming (the
# default max_prepared_statements) and one server, so that every transaction of the session
# runs on the same server connection: a large parameter, a cancel, a pipeline, SET LOCAL not
# leaking into the next transaction, an error and recovery, in a row on one connection each
# (drivers.py).
source "$(dirname -- "$0")/lib.sh"
/usr/bin/python3 -c "import asyncpg, psycopg" 2>/dev/null || die "python3-asyncpg and python3-psycopg are needed"

start_sluice pool_mode=transaction default_pool_size=1 reserve_pool_size=0 query_wait_timeout=60
out=$(/usr/bin/python3 "$(dirname -- "${BASH_SOURCE[0]}")/drivers.py" "$SLUICE_PORT" "$PGPORT" 2>&1)
rc=$?
echo "$out"
((rc == 0)) || die "a driver step failed (above)"
pass "psycopg 3 and asyncpg: $(grep -c '^ok ' <<<"$out") steps in a row"
