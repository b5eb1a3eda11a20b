#!/usr/bin/env bash
# The HTTP endpoint: every path and status code; the bearer token (401 without or wrong, 403
# with no token file, never logged); /metrics in the text format with pool labels and a
# counter and a histogram that move under pgbench; /stats as JSON; a reload that adds a
# database and one that is refused while the old config serves; pause holding a query until
# resume; reconnect, disable/enable, kill; the request limits; readiness during a shutdown.
source "$(dirname -- "$0")/lib.sh"

HTTPC="python3 $(dirname -- "$0")/httpc.py"
HP=$(free_port)
TOKEN="tok-$RANDOM-$RANDOM-secret"
printf '%s\n' "$TOKEN" >"$T/token"
((IS_ROOT)) && chown postgres "$T/token"
chmod 600 "$T/token"
start_sluice sluice.http_listen_port=$HP "sluice.http_auth_token_file=$T/token" admin_users=bench
H=http://127.0.0.1:$HP
wait_until 10 "the HTTP listener" port_open "$HP" || die "nothing listens on HTTP port $HP"
grep -qF "listening on HTTP 127.0.0.1:$HP" "$SLUICE_LOG" || die "the HTTP listener is not logged"

status() { $HTTPC status "$@"; }
body() { $HTTPC req "$@" | tail -n +2; }
expect_status() {  # WANT METHOD URL [TOKEN]
  local want=$1 got
  shift
  got=$(status "$@") || die "no answer to $*"
  [[ $got == "$want" ]] || die "$* answered $got, expected $want: $(body "$@")"
}

# ---- health, readiness, unknown paths, wrong methods
expect_status 200 GET "$H/healthz"
expect_status 200 GET "$H/readyz"
expect_status 404 GET "$H/nope"
expect_status 404 GET "$H/readyz?database=nosuchdb"
[[ $($HTTPC head POST "$H/healthz" Allow) == "405 GET" ]] || die "POST /healthz is not 405 with Allow: GET"
[[ $($HTTPC head GET "$H/reload" Allow) == "405 POST" ]] || die "GET /reload is not 405 with Allow: POST"
expect_status 400 GET "$H/metrics?x=1"
[[ $($HTTPC keepalive "$H/healthz" 3 | tr '\n' ' ') == "200 200 200 " ]] || die "keep-alive requests failed"

# ---- the token
for p in reload pause resume reconnect disable enable kill; do
  expect_status 401 POST "$H/$p"
  expect_status 401 POST "$H/$p" wrong-token
done
[[ $($HTTPC head POST "$H/reload" WWW-Authenticate) == "401 Bearer" ]] || die "401 without WWW-Authenticate: Bearer"

# ---- metrics: format, labels, a counter and a histogram that move under load
[[ $(q "$SLUICE_PORT" 'select 1') == 1 ]] || die "no query through sluice"  # the pool exists
$HTTPC metrics "$H/metrics" >"$T/m1" || die "/metrics is not valid exposition format: $(cat "$T/m1")"
metric() {  # FILE NAME LABELS-SUBSTRING: the value of the first matching sample
  awk -v n="$2{" -v l="$3" 'index($0, n) == 1 && index($0, l) { print $NF; exit }' "$1"
}
for name in sluice_build_info sluice_shards sluice_client_connections sluice_shard_client_connections \
  sluice_pool_server_connections sluice_database_pool_size sluice_queries_total \
  sluice_transaction_duration_seconds_bucket sluice_client_wait_duration_seconds_count; do
  grep -q "^$name{" "$T/m1" || die "/metrics has no $name: $(head -c 2000 "$T/m1")"
done
[[ $(metric "$T/m1" sluice_database_pool_size 'database="bench"') == 5 ]] ||
  die "sluice_database_pool_size for bench is not 5"
q0=$(metric "$T/m1" sluice_queries_total 'database="bench",pool_mode="transaction",user="bench"')
x0=$(metric "$T/m1" sluice_transaction_duration_seconds_count 'database="bench",pool_mode="transaction",user="bench"')
[[ -n $q0 && -n $x0 ]] || die "no bench pool series in /metrics: $(grep bench "$T/m1" | head)"
printf 'select 1;\n' >"$T/select.sql"
PGPASSWORD=bench pgbench -n -f "$T/select.sql" -h 127.0.0.1 -p "$SLUICE_PORT" -U bench -c 4 -j 2 -t 50 bench \
  >"$T/pgbench.log" 2>&1 || die "pgbench failed: $(tail -5 "$T/pgbench.log")"
$HTTPC metrics "$H/metrics" >"$T/m2" || die "/metrics after load is not valid: $(cat "$T/m2")"
q1=$(metric "$T/m2" sluice_queries_total 'database="bench",pool_mode="transaction",user="bench"')
x1=$(metric "$T/m2" sluice_transaction_duration_seconds_count 'database="bench",pool_mode="transaction",user="bench"')
python3 -c "import sys; sys.exit(0 if float('$q1') >= float('$q0') + 200 else 1)" ||
  die "sluice_queries_total moved $q0 -> $q1 over 200 pgbench queries"
python3 -c "import sys; sys.exit(0 if float('$x1') >= float('$x0') + 200 else 1)" ||
  die "the transaction histogram count moved $x0 -> $x1 over 200 transactions"
if command -v promtool >/dev/null; then
  curl_metrics=$($HTTPC req GET "$H/metrics" | tail -n +2)
  promtool check metrics <<<"$curl_metrics" || die "promtool rejects /metrics"
fi

# ---- stats as JSON
SESS_DB=bench sess_open s1 "$SLUICE_PORT"
sess_expect s1 "select 1;"
body GET "$H/stats" | python3 -c '
import json, sys
d = json.load(sys.stdin)
for k in ("pools", "stats", "databases", "clients", "servers"):
    assert isinstance(d[k], list), k
assert any(p["database"] == "bench" and p["user"] == "bench" for p in d["pools"]), d["pools"]
assert any(s["database"] == "bench" and s["totals"]["query_count"] > 0 for s in d["stats"]), d["stats"]
assert any(x["name"] == "bench" and x["pool_size"] == 5 for x in d["databases"]), d["databases"]
assert any(c["database"] == "bench" and c["type"] == "C" for c in d["clients"]), d["clients"]
assert any(s["database"] == "bench" and s["type"] == "S" for s in d["servers"]), d["servers"]
' || die "/stats lacks what SHOW shows: $(body GET "$H/stats" | head -c 1500)"

# ---- reload: a database added; then a bad file refused while the old config serves
sed -i "/^\[databases\]/a bench2 = host=127.0.0.1 port=$PGPORT dbname=postgres" "$SLUICE_INI"
$HTTPC req POST "$H/reload" "$TOKEN" >"$T/reload1"
[[ $(head -1 "$T/reload1") == 200 ]] || die "POST /reload: $(cat "$T/reload1")"
grep -qF 'database bench2 added' "$T/reload1" || die "the reload answer does not name bench2: $(cat "$T/reload1")"
[[ $(qu "$SLUICE_PORT" bench bench bench2 'select current_database()') == postgres ]] ||
  die "bench2 is not usable after POST /reload"
cp "$SLUICE_INI" "$T/good.ini"
sed -i 's/^max_client_conn = .*/max_client_conn = -5x/' "$SLUICE_INI"
$HTTPC req POST "$H/reload" "$TOKEN" >"$T/reload2"
[[ $(head -1 "$T/reload2") == 400 ]] || die "a bad config was not refused with 400: $(cat "$T/reload2")"
grep -qE "pgbouncer.ini:[0-9]+: invalid value" "$T/reload2" || die "the 400 does not give file:line: $(cat "$T/reload2")"
[[ $(q "$SLUICE_PORT" 'select 4') == 4 ]] || die "the old config does not serve after a refused reload"
cp "$T/good.ini" "$SLUICE_INI"

# ---- pause holds a query until resume
expect_status 200 POST "$H/pause?database=bench" "$TOKEN"
expect_status 503 GET "$H/readyz?database=bench"
bg_to "$T/paused.out" env PGPASSWORD=bench psql -X -At -h 127.0.0.1 -p "$SLUICE_PORT" -U bench -d bench -c 'select 5'
held=$BG_PID
waiting() { body GET "$H/stats" | python3 -c '
import json, sys
sys.exit(0 if any(p["database"] == "bench" and p["cl_waiting"] > 0 for p in json.load(sys.stdin)["pools"]) else 1)'; }
wait_until 10 "the query to queue while paused" waiting || die "no client waits while bench is paused"
proc_alive "$held" || die "the query did not wait while paused: $(cat "$T/paused.out")"
expect_status 200 POST "$H/resume?database=bench" "$TOKEN"
wait_gone "$held" 10 || die "the held query did not finish after resume"
[[ $(cat "$T/paused.out") == 5 ]] || die "the held query's answer: $(cat "$T/paused.out")"
expect_status 409 POST "$H/resume?database=bench" "$TOKEN"  # not paused any more
expect_status 200 GET "$H/readyz?database=bench"

# ---- reconnect: idle servers close at once, the next query gets a new one
sess_expect s1 'select pg_backend_pid();'
before=$SESS_OUT
expect_status 200 POST "$H/reconnect?database=bench" "$TOKEN"
sess_expect s1 'select pg_backend_pid();'
[[ -n $before && $SESS_OUT != "$before" ]] || die "after RECONNECT the same server ($before) is used"
expect_status 404 POST "$H/reconnect?database=nosuchdb" "$TOKEN"

# ---- disable / enable
expect_status 400 POST "$H/disable" "$TOKEN"
expect_status 200 POST "$H/disable?database=bench2" "$TOKEN"
expect_status 503 GET "$H/readyz?database=bench2"
out=$(qu "$SLUICE_PORT" bench bench bench2 'select 1' 2>&1) && die "a login to a disabled database worked"
expect_status 200 POST "$H/enable?database=bench2" "$TOKEN"
[[ $(qu "$SLUICE_PORT" bench bench bench2 'select 1') == 1 ]] || die "bench2 refuses logins after enable"

# ---- kill: the database's clients are closed and it stays paused
SESS_DB=bench2 sess_open s2 "$SLUICE_PORT"
sess_expect s2 "select 2;"
expect_status 200 POST "$H/kill?database=bench2" "$TOKEN"
sess_run s2 "select 2;" || true
grep -qiE 'closed|terminat|FATAL|no connection' <<<"$SESS_OUT" || die "the bench2 session survived POST /kill: $SESS_OUT"
sess_close s2
expect_status 200 POST "$H/resume?database=bench2" "$TOKEN"
[[ $(qu "$SLUICE_PORT" bench bench bench2 'select 3') == 3 ]] || die "bench2 does not serve after kill + resume"
expect_status 400 POST "$H/kill?database=pgbouncer" "$TOKEN"

# ---- the commands are logged, the token never is
grep -qF "PAUSE 'bench' command issued over HTTP by 127.0.0.1" "$SLUICE_LOG" || die "POST /pause is not logged"
grep -qF "$TOKEN" "$SLUICE_LOG" "$SLUICE_DIR/stdout" && die "the token reached the log"

# ---- limits: oversized headers, malformed requests, the connection cap
big=$(head -c 9000 /dev/zero | tr '\0' a)
[[ $(printf 'GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: %s\r\n\r\n' "$big" | $HTTPC raw 127.0.0.1 "$HP") == *" 431 "* ]] ||
  die "oversized headers are not refused with 431"
[[ $(printf 'POST /reload HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n' | $HTTPC raw 127.0.0.1 "$HP") == *" 413 "* ]] ||
  die "an oversized body is not refused with 413"
[[ $(printf 'GARBAGE\r\n\r\n' | $HTTPC raw 127.0.0.1 "$HP") == *" 400 "* ]] || die "a malformed request is not 400"
[[ $($HTTPC hold 127.0.0.1 "$HP" 64) == *" 503 "* ]] || die "the 65th concurrent connection is not refused with 503"
expect_status 200 GET "$H/healthz"
proc_alive "$SLUICE_PID" || die "sluice died"

# ---- without a token file, control is off
sess_close s1
start_sluice sluice.http_listen_port=$(free_port) admin_users=bench
H2=http://127.0.0.1:$(sed -n 's/^http_listen_port = //p' "$SLUICE_INI")
wait_until 10 "the second HTTP listener" port_open "${H2##*:}" || die "no HTTP listener on the second sluice"
expect_status 403 POST "$H2/reload" "$TOKEN"
expect_status 200 GET "$H2/metrics"

# ---- a shutdown: readyz says so while a transaction finishes, healthz still answers
sess_open s3 "$SLUICE_PORT"
sess_expect s3 "begin; select 1;"
kill -INT "$SLUICE_PID"
wait_until 10 "readyz to report the shutdown" eval '[[ $(status GET "$H2/readyz") == 503 ]]' ||
  die "readyz does not say 503 during SHUTDOWN WAIT_FOR_SERVERS"
[[ $(body GET "$H2/readyz") == "shutting down" ]] || die "readyz's reason: $(body GET "$H2/readyz")"
expect_status 200 GET "$H2/healthz"
sess_expect s3 "commit;"
wait_gone "$SLUICE_PID" 15 || die "sluice did not exit once the transaction ended"
pass "endpoints, token, metrics, stats, reload, pause/resume, reconnect, disable, kill, limits"
