#!/usr/bin/env bash
# SHOW STATS, STATS_TOTALS, STATS_AVERAGES and TOTALS: pgbouncer's columns in its order, and
# counters that move by what known traffic makes them move (queries, transactions, Parse and
# Bind, logins, a wait for a server); with stats_period = 1 and log_stats = 1 the averages
# roll and the "stats: ..." line is logged.
source "$(dirname -- "$0")/lib.sh"

# pgbouncer 1.25's columns (its admin.c and stats.c), in order.
declare -A WANT=(
  [STATS]=database,total_server_assignment_count,total_xact_count,total_query_count,total_received,total_sent,total_xact_time,total_query_time,total_wait_time,total_client_parse_count,total_server_parse_count,total_bind_count,total_client_login_count,avg_server_assignment_count,avg_xact_count,avg_query_count,avg_recv,avg_sent,avg_xact_time,avg_query_time,avg_wait_time,avg_client_parse_count,avg_server_parse_count,avg_bind_count,avg_client_login_count
  [STATS_TOTALS]=database,server_assignment_count,xact_count,query_count,bytes_received,bytes_sent,xact_time,query_time,wait_time,client_parse_count,server_parse_count,bind_count,client_login_count
  [STATS_AVERAGES]=database,server_assignment_count,xact_count,query_count,bytes_received,bytes_sent,xact_time,query_time,wait_time,avg_client_parse_count,avg_server_parse_count,avg_bind_count,avg_client_login_count
  [TOTALS]=name,value
)

export SLUICE_DATABASES="bench = host=127.0.0.1 port=$PGPORT dbname=bench pool_size=1"
start_sluice admin_users=bench stats_period=1 log_stats=1 sluice.workers=2

adm() { PGPASSWORD=bench psql -X -h 127.0.0.1 -p "$SLUICE_PORT" -U bench -d pgbouncer "$@"; }
# The value of column $2 in the row whose first column is $3 of SHOW $1.
col() {
  adm -A -F'|' -c "SHOW $1" | awk -F'|' -v c="$2" -v key="$3" '
    NR == 1 { for (i = 1; i <= NF; i++) if ($i == c) n = i; next }
    $1 == key && n { print $n }'
}

# ---- columns, in pgbouncer's order, and their types (numeric for every counter)
for what in STATS STATS_TOTALS STATS_AVERAGES TOTALS; do
  want=${WANT[$what]}
  got=$(adm -A -F, -c "SHOW $what" | sed -n 1p)
  [[ $got == "$want" ]] || die "SHOW $what columns: got '$got', want '$want'"
done
types=$(/usr/bin/python3 - "$SLUICE_PORT" <<'PY'
import sys, psycopg
with psycopg.connect(host="127.0.0.1", port=sys.argv[1], user="bench", password="bench",
                     dbname="pgbouncer", autocommit=True) as c:
    cur = c.execute("SHOW STATS_TOTALS", prepare=False)
    print(",".join(str(d.type_code) for d in cur.description))
PY
) || die "psycopg could not run SHOW STATS_TOTALS"
[[ $types == "25$(printf ',1700%.0s' {1..12})" ]] || die "SHOW STATS_TOTALS column types: $types"

# ---- the console's own row is there before any pool exists
[[ $(col STATS_TOTALS client_login_count pgbouncer) -ge 2 ]] ||
  die "the pgbouncer row does not count console logins: $(adm -c 'SHOW STATS_TOTALS')"
[[ -z $(col STATS_TOTALS xact_count bench) ]] || die "a bench row before bench had a pool"

# ---- known traffic
# 1 login: 60 single-statement transactions and one of three statements.
args=()
for i in $(seq 60); do args+=(-c "select $i"); done
q "$SLUICE_PORT" 'select 0' "${args[@]}" -c 'begin' -c 'select 1' -c 'commit' >/dev/null ||
  die "the psql traffic failed"
# 1 login: 7 extended-protocol executions of one named prepared statement (one Parse, then
# Bind, Describe, Execute, Sync each), and 3 unnamed ones, which the prepared-statement
# counters do not count (as pgbouncer).
/usr/bin/python3 - "$SLUICE_PORT" <<'PY' || die "the extended-protocol traffic failed"
import sys, psycopg
with psycopg.connect(host="127.0.0.1", port=sys.argv[1], user="bench", password="bench",
                     dbname="bench", autocommit=True) as c:
    for i in range(7):
        assert c.execute("select %s::int", (i,), prepare=True).fetchone()[0] == i
    for i in range(3):
        assert c.execute("select %s::text", (str(i),), prepare=False).fetchone()[0] == str(i)
PY
# 2 logins: a client waits for the only server, held by an open transaction.
sess_open holder "$SLUICE_PORT"
sess_run holder 'begin; select 1;' >/dev/null || die "the holder's transaction did not start"
queued_client() { q "$SLUICE_PORT" 'select 42' >"$T/waiter.out" 2>&1; }
bg queued_client
waiter=$BG_PID
wait_until 30 "a queued client" bash -c "[[ \$(PGPASSWORD=bench psql -X -At -F'|' -h 127.0.0.1 \
  -p $SLUICE_PORT -U bench -d pgbouncer -c 'SHOW POOLS' | awk -F'|' '\$1==\"bench\"{print \$4}') == 1 ]]" ||
  die "the second client was not queued"
sess_run holder 'commit;' >/dev/null || die "the holder's commit failed"
wait "$waiter" || die "the queued client failed"
[[ $(cat "$T/waiter.out") == 42 ]] || die "the queued client got: $(cat "$T/waiter.out")"
sess_close holder

# ---- the totals moved by at least that much; logins exactly
ge() {  # COLUMN MIN
  local v
  v=$(col STATS_TOTALS "$1" bench)
  [[ $v =~ ^[0-9]+$ ]] && ((v >= $2)) || die "bench $1 = '$v', want >= $2: $(adm -c 'SHOW STATS_TOTALS')"
}
ge xact_count $((61 + 1 + 7 + 2))
ge query_count $((61 + 3 + 7 + 3))
ge server_assignment_count $((61 + 1 + 7 + 2))
ge bytes_received 1
ge bytes_sent 1
ge xact_time 1
ge query_time 1
ge wait_time 1
exactly() {  # COLUMN VALUE
  [[ $(col STATS_TOTALS "$1" bench) == "$2" ]] || die "bench $1, want $2: $(adm -c 'SHOW STATS_TOTALS')"
}
exactly client_parse_count 1
exactly server_parse_count 1
exactly bind_count 7
[[ $(col STATS_TOTALS client_login_count bench) == 4 ]] ||
  die "bench client_login_count, want 4 logins: $(adm -c 'SHOW STATS_TOTALS')"
# SHOW STATS carries the same totals; SHOW TOTALS sums every database (the console's too).
x=$(col STATS total_xact_count bench)
((x >= 71)) || die "SHOW STATS total_xact_count = '$x'"
[[ $(col STATS total_client_login_count bench) == 4 ]] || die "SHOW STATS total_client_login_count"
t=$(col TOTALS value total_xact_count)
((t >= x)) || die "SHOW TOTALS total_xact_count = '$t', below bench's $x"
[[ $(adm -At -c 'SHOW TOTALS' | cut -d'|' -f1 | tr '\n' ' ') == \
  "total_server_assignment_count total_xact_count total_query_count total_client_bytes total_server_bytes total_xact_time total_query_time total_wait_time total_ps_client_parse_count total_ps_server_parse_count total_ps_bind_count total_client_login_count avg_server_assignment_count avg_xact_count avg_query_count avg_client_bytes avg_server_bytes avg_xact_time avg_query_time avg_wait_time avg_ps_client_parse_count avg_ps_server_parse_count avg_ps_bind_count avg_client_login_count " ]] ||
  die "SHOW TOTALS rows: $(adm -c 'SHOW TOTALS')"

# ---- query_count counts exchanges, as pgbouncer: each run of client messages answered by
# ReadyForQuery is one query, whatever it holds (a Parse and Sync alone, a Query of two
# statements, a Bind/Execute/Sync).
before=$(col STATS_TOTALS query_count bench)
/usr/bin/python3 - "$SLUICE_PORT" <<'PY' || die "the query_count traffic failed"
import sys, psycopg
from psycopg import pq
with psycopg.connect(host="127.0.0.1", port=sys.argv[1], user="bench", password="bench",
                     dbname="bench", autocommit=True) as c:
    pg = c.pgconn
    def drain():
        while (r := pg.get_result()) is not None:
            assert r.status in (pq.ExecStatus.COMMAND_OK, pq.ExecStatus.TUPLES_OK), r.error_message
    pg.send_prepare(b"counted", b"select 1")        # Parse, Sync
    drain()
    for _ in range(2):
        pg.send_query_prepared(b"counted", None)    # Bind, Describe, Execute, Sync
        drain()
    pg.send_query(b"select 1; select 2")            # one Query, two statements
    drain()
PY
after=$(col STATS_TOTALS query_count bench)
(( after - before == 4 )) || die "4 exchanges counted as $((after - before)) queries"

# ---- log_stats: a period that saw the traffic logs non-zero rates, in pgbouncer's words
line_re='LOG stats: [0-9]+ xacts/s, [0-9]+ queries/s, [0-9]+ client parses/s, [0-9]+ server parses/s, [0-9]+ binds/s, [0-9]+ client logins/s, in [0-9]+ B/s, out [0-9]+ B/s, xact [0-9]+ us, query [0-9]+ us, wait [0-9]+ us$'
wait_until 30 "a stats line" grep -qE "$line_re" "$SLUICE_LOG" || die "no stats line logged"
wait_until 30 "a stats line with transactions" grep -qE 'LOG stats: [1-9][0-9]* xacts/s' "$SLUICE_LOG" ||
  die "no stats line counted the traffic: $(grep 'stats:' "$SLUICE_LOG")"

# ---- averages roll: with no more traffic to bench, its rates fall to zero within two periods
wait_until 30 "bench's averages to fall to 0" \
  bash -c "[[ \$(PGPASSWORD=bench psql -X -At -F'|' -h 127.0.0.1 -p $SLUICE_PORT -U bench \
    -d pgbouncer -c 'SHOW STATS_AVERAGES' | awk -F'|' '\$1==\"bench\"{print \$3 \"/\" \$4 \"/\" \$6}') == 0/0/0 ]]" ||
  die "bench's averages did not roll: $(adm -c 'SHOW STATS_AVERAGES')"
# ...while the totals stay.
ge xact_count 71

stop_sluice
pass
