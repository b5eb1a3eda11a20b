#!/usr/bin/env bash
# No secret reaches a log, a SHOW or the HTTP endpoint: the SCRAM secret of auth_file, a
# password in a [databases] connection string (also when the server refuses it), a client's
# wrong password and the HTTP token. Each is looked for, verbatim, in everything sluice said.
source "$(dirname -- "$0")/lib.sh"

db_pw=DbPw-7f3a9c41
wrong_pw=Wr0ng-pw-55e1
token=Tok-9b2d77e0c5
secret=$(pg_direct "select rolpassword from pg_authid where rolname = 'bench'")
[[ $secret == SCRAM-SHA-256* ]] || die "bench has no SCRAM secret: $secret"
stored_key=${secret#*\$}
stored_key=${stored_key#*\$}
stored_key=${stored_key%%:*}
server_key=${secret##*:}

echo "$token" >"$T/token"
chmod 644 "$T/token"
HTTP=$(free_port) || die "free_port failed"
SLUICE_DATABASES="bench = host=127.0.0.1 port=$PGPORT dbname=bench
refused = host=127.0.0.1 port=$PGPORT dbname=bench user=bench password=$db_pw"
start_sluice admin_users=bench stats_users=bench sluice.http_listen_port="$HTTP" \
  sluice.http_auth_token_file="$T/token" log_connections=1 log_disconnections=1 verbose=2

out=$T/said
: >"$out"
[[ $(q "$SLUICE_PORT" "select 1") == 1 ]] || die "a login with the right password failed"
PGPASSWORD=$wrong_pw psql -X -At -h 127.0.0.1 -p "$SLUICE_PORT" -U bench -d bench -c "select 1" >>"$out" 2>&1 &&
  die "a wrong password logged in"
qu "$SLUICE_PORT" bench bench refused "select 1" >>"$out" 2>&1 && die "a refused server password logged in"
for show in databases config users pools servers clients stats peers dns_hosts; do
  qu "$SLUICE_PORT" bench bench pgbouncer "show $show" >>"$out" 2>&1 || die "show $show failed"
done
curl -sf "http://127.0.0.1:$HTTP/stats" >>"$out" || die "GET /stats failed"
curl -sf "http://127.0.0.1:$HTTP/metrics" >>"$out" || die "GET /metrics failed"
curl -s -X POST -H "Authorization: Bearer wrong-$token" "http://127.0.0.1:$HTTP/reload" >>"$out"
curl -sf -X POST -H "Authorization: Bearer $token" "http://127.0.0.1:$HTTP/reload" >>"$out" ||
  die "POST /reload with the token failed"
grep -q "refused" "$out" || die "SHOW DATABASES did not list the database with a password"
stop_sluice

for f in "$out" "$SLUICE_LOG" "$SLUICE_DIR/stdout"; do
  for s in "$db_pw" "$wrong_pw" "$token" "$stored_key" "$server_key"; do
    if grep -qF -- "$s" "$f"; then
      die "$(basename "$f") shows a secret: $(grep -F -- "$s" "$f" | head -2)"
    fi
  done
done
grep -q "password authentication failed\|SASL authentication failed" "$out" ||
  die "the wrong password got no authentication error"
pass "no secret in $(wc -l <"$out") lines of answers and $(wc -l <"$SLUICE_LOG") log lines"
