#!/usr/bin/env bash
# TLS on both sides, with a CA and certificates made here:
# - clients: verify-full succeeds; a wrong CA and a wrong host name fail; plaintext is refused
#   under client_tls_sslmode = require; auth_type = cert maps the certificate's CN to the user;
#   hostssl / hostnossl rules of auth_hba_file; the admin console over TLS, SHOW CLIENTS' tls
#   column; bytes sent with the SSLRequest are refused;
# - servers: server_tls_sslmode = verify-full to PostgreSQL with ssl = on (pg_stat_ssl), a
#   wrong CA refused, SHOW SERVERS' tls column; a TLS server connection handed over between
#   two shards;
# - reload: a new certificate for new connections while a session goes on; the server
#   connections are kept, unless the server TLS settings changed.
source "$(dirname -- "$0")/lib.sh"

C=$T/certs
mkdir -p "$C"
mkcert() {  # NAME CN CA [SAN]: NAME.key + NAME.crt signed by CA
  openssl req -newkey rsa:2048 -nodes -keyout "$C/$1.key" -out "$C/$1.csr" -subj "/CN=$2" \
    2>/dev/null || die "openssl req $1"
  local ext=()
  if [[ -n ${4:-} ]]; then
    printf 'subjectAltName=%s\n' "$4" >"$C/$1.ext"
    ext=(-extfile "$C/$1.ext")
  fi
  openssl x509 -req -in "$C/$1.csr" -CA "$C/$3.crt" -CAkey "$C/$3.key" -CAcreateserial \
    -out "$C/$1.crt" -days 2 "${ext[@]}" 2>/dev/null || die "openssl x509 $1"
}
for ca in ca wrongca; do
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$C/$ca.key" -out "$C/$ca.crt" -days 2 \
    -subj "/CN=sluice test $ca" 2>/dev/null || die "openssl CA $ca"
done
mkcert pooler localhost ca "DNS:localhost,IP:127.0.0.1"
mkcert pooler2 localhost ca "DNS:localhost,IP:127.0.0.1"
mkcert pooler3 localhost wrongca "DNS:localhost,IP:127.0.0.1"
mkcert plainuser plainuser ca
mkcert intruder intruder ca
chmod 600 "$C"/*.key
((IS_ROOT)) && chown -R postgres "$C"
chmod 755 "$T" "$C"

# PostgreSQL with ssl = on, for this test only (ssl is reloadable; it is switched off again on
# exit). Its certificate and key are copies in the cluster's own directory.
pgcert=$PGSOCK/tls-test.crt pgkey=$PGSOCK/tls-test.key
mkcert pg localhost ca "DNS:localhost,IP:127.0.0.1"
install -m 600 "$C/pg.key" "$pgkey"
install -m 644 "$C/pg.crt" "$pgcert"
((IS_ROOT)) && chown postgres "$pgkey" "$pgcert"
pg_ssl_off() {
  pg_direct "alter system reset ssl; alter system reset ssl_cert_file; alter system reset ssl_key_file" &&
    pg_direct "select pg_reload_conf()" >/dev/null
}
pg_direct "alter system set ssl_cert_file = '$pgcert'" >/dev/null || die "ssl_cert_file"
pg_direct "alter system set ssl_key_file = '$pgkey'" >/dev/null || die "ssl_key_file"
pg_direct "alter system set ssl = on" >/dev/null || die "ssl = on"
pg_direct "select pg_reload_conf()" >/dev/null
_tls_exit() { pg_ssl_off >/dev/null 2>&1; }
_EXIT_HOOKS+=(_tls_exit)
pg_tls_up() {
  PGPASSWORD=bench psql -X -At "host=localhost port=$PGPORT user=bench dbname=bench sslmode=require" \
    -c "select ssl from pg_stat_ssl where pid = pg_backend_pid()" 2>/dev/null | grep -qx t
}
wait_until 15 "PostgreSQL to take TLS connections" pg_tls_up || die "ssl = on did not take effect"

cat >"$T/hba.conf" <<EOF
hostssl   bench     plainuser 127.0.0.1/32 cert
hostssl   bench     bench     127.0.0.1/32 scram-sha-256
hostssl   pgbouncer bench     127.0.0.1/32 scram-sha-256
hostnossl bench     md5user   127.0.0.1/32 md5
hostnossl all       all       127.0.0.1/32 reject
EOF
chmod 644 "$T/hba.conf"

SLUICE_DATABASES="bench = host=localhost port=$PGPORT dbname=bench"
start_sluice auth_type=hba auth_hba_file="$T/hba.conf" admin_users=bench \
  client_tls_sslmode=prefer client_tls_key_file="$C/pooler.key" \
  client_tls_cert_file="$C/pooler.crt" client_tls_ca_file="$C/ca.crt" \
  server_tls_sslmode=verify-full server_tls_ca_file="$C/ca.crt" \
  default_pool_size=1 reserve_pool_size=0 verbose=1 sluice.workers=2 tcp_socket_buffer=8192
P=$SLUICE_PORT
conn() {  # extra libpq keywords...: conninfo to sluice as bench
  echo "host=localhost port=$P user=bench dbname=bench $*"
}
tq() {  # CONNINFO SQL
  PGPASSWORD=${TQ_PASSWORD:-bench} psql -X -At -v ON_ERROR_STOP=1 "$1" -c "$2"
}

# ---- clients
out=$(tq "$(conn sslmode=verify-full sslrootcert="$C/ca.crt")" "select 11") ||
  die "verify-full through sluice failed: $out"
[[ $out == 11 ]] || die "verify-full: expected 11, got '$out'"
grep -q "login attempt: db=bench user=bench tls=TLSv1.[23]/" "$SLUICE_LOG" ||
  die "the login line does not show the TLS connection"

out=$(tq "$(conn sslmode=verify-full sslrootcert="$C/wrongca.crt")" "select 1" 2>&1) &&
  die "a client trusting another CA got in: $out"
[[ $out == *"certificate verify failed"* ]] || die "wrong CA: unexpected error: $out"

out=$(tq "host=other.invalid hostaddr=127.0.0.1 port=$P user=bench dbname=bench \
  sslmode=verify-full sslrootcert=$C/ca.crt" "select 1" 2>&1) && die "a host name mismatch got in: $out"
[[ $out == *"does not match host name"* ]] || die "host name mismatch: unexpected error: $out"

out=$(tq "$(conn sslmode=disable)" "select 1" 2>&1) && die "plaintext bench got past hostnossl reject"
[[ $out == *"rejects connection"* ]] || die "hostnossl reject: unexpected error: $out"
out=$(TQ_PASSWORD=md5pw tq "host=127.0.0.1 port=$P user=md5user dbname=bench sslmode=disable" \
  "select current_user") || die "hostnossl md5user in plaintext failed: $out"
[[ $out == md5user ]] || die "hostnossl md5user: got '$out'"
out=$(TQ_PASSWORD=md5pw tq "host=127.0.0.1 port=$P user=md5user dbname=bench sslmode=require" \
  "select 1" 2>&1) && die "md5user over TLS matched its hostnossl rule"
[[ $out == *"no pg_hba.conf entry"* ]] || die "md5user over TLS: unexpected error: $out"

# auth_type cert (through the hba rule): the CN is the user; the server login uses the
# userlist's plaintext password for plainuser.
out=$(tq "host=localhost port=$P user=plainuser dbname=bench sslmode=verify-full \
  sslrootcert=$C/ca.crt sslcert=$C/plainuser.crt sslkey=$C/plainuser.key" "select current_user") ||
  die "cert auth as plainuser failed: $out"
[[ $out == plainuser ]] || die "cert auth: got '$out'"
out=$(tq "host=localhost port=$P user=plainuser dbname=bench sslmode=verify-full \
  sslrootcert=$C/ca.crt sslcert=$C/intruder.crt sslkey=$C/intruder.key" "select 1" 2>&1) &&
  die "a certificate for CN=intruder logged in as plainuser"
[[ $out == *"certificate authentication failed"* ]] || die "cert auth CN mismatch: unexpected: $out"
out=$(tq "host=localhost port=$P user=plainuser dbname=bench sslmode=require" "select 1" 2>&1) &&
  die "cert auth without a certificate got in"
[[ $out == *"requires a valid client certificate"* ]] || die "cert auth, no cert: unexpected: $out"

# Bytes in the same packet as the SSLRequest: refused before any handshake.
out=$(python3 - "$P" <<'EOF'
import socket, struct, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(struct.pack("!ii", 8, 80877103) + b"Qselect 1")
data = b""
while True:
    b = s.recv(4096)
    if not b:
        break
    data += b
print(data[:1].decode(), "unencrypted data after SSL request" in data.decode("latin1"))
EOF
) || die "SSLRequest with trailing bytes: the client script failed"
[[ $out == "S True" ]] || die "bytes after an SSLRequest: expected 'S' then the error, got '$out'"

# The admin console over TLS: SHOW CLIENTS / SERVERS fill the tls column.
sess_open A "$P" "PGSSLMODE=require"
sess_expect A "select pg_backend_pid();"
pid_a=$SESS_OUT
console="$(conn sslmode=verify-full sslrootcert="$C/ca.crt" dbname=pgbouncer)"
out=$(tq "$console" "show clients") || die "SHOW CLIENTS over TLS failed: $out"
tls_rows=$(awk -F'|' '$2 == "bench" && $18 ~ /^TLSv1\.[23]\//' <<<"$out" | wc -l)
((tls_rows >= 2)) || die "SHOW CLIENTS: expected the session and the console with tls filled: $out"
out=$(tq "$console" "show servers") || die "SHOW SERVERS over TLS failed: $out"
awk -F'|' '$18 ~ /^TLSv1\.[23]\//' <<<"$out" | grep -q . || die "SHOW SERVERS: no tls: $out"

# ---- servers: all of bench's backends are encrypted
plain=$(pg_direct "select count(*) from pg_stat_ssl s join pg_stat_activity a using (pid)
                     where a.usename in ('bench', 'plainuser', 'md5user') and not s.ssl")
enc=$(pg_direct "select count(*) from pg_stat_ssl s join pg_stat_activity a using (pid)
                   where a.usename = 'bench' and s.ssl")
[[ $plain == 0 && $enc -ge 1 ]] || die "server connections: $enc encrypted, $plain in plaintext"

# A hand-off: a second session, accepted on the other shard, gets the same (only) server.
sess_open B "$P" "PGSSLMODE=require"
sess_expect B "select pg_backend_pid();"
[[ $SESS_OUT == "$pid_a" ]] || die "session B got backend $SESS_OUT, A had $pid_a (pool of one)"
sess_expect A "select pg_backend_pid(), count(*) from generate_series(1, 20000);"
[[ $SESS_OUT == "$pid_a|20000" ]] || die "session A after the hand-off: '$SESS_OUT'"
grep -q "handed over from shard" "$SLUICE_LOG" || die "no hand-off between shards was logged"

# Large transfers over TLS both ways, through small socket buffers (tcp_socket_buffer): a
# 25 MB result (partial writes to the client) and a 20 MB COPY in (partial writes to the
# server); both arrive whole.
big="select repeat(md5(i::text), 40) from generate_series(1, 20000) i"
want=$(pg_direct "$big" bench | md5sum)
got=$(tq "$(conn sslmode=require)" "$big" | md5sum)
[[ $got == "$want" ]] || die "a 25 MB result over TLS arrived different"
pg_direct "create table tls_copy (t text)" bench >/dev/null || die "create table tls_copy"
python3 -c 'import sys
for i in range(200000): sys.stdout.write("%08d%s\n" % (i, "y" * 92))' >"$T/copy.txt"
out=$(tq "$(conn sslmode=require)" "\copy tls_copy from '$T/copy.txt'") || die "COPY in over TLS: $out"
out=$(pg_direct "select count(*), sum(length(t)) from tls_copy" bench)
pg_direct "drop table tls_copy" bench >/dev/null
[[ $out == "200000|20000000" ]] || die "COPY in over TLS: the table holds $out"

# ---- reload: a new certificate for new connections; the session and its server go on
fingerprint() {
  openssl s_client -starttls postgres -connect "127.0.0.1:$P" </dev/null 2>/dev/null |
    openssl x509 -noout -fingerprint -sha256
}
before=$(fingerprint)
[[ $before == *Fingerprint* ]] || die "openssl s_client saw no certificate: '$before'"
cp "$C/pooler2.key" "$C/pooler.key"
cp "$C/pooler2.crt" "$C/pooler.crt"
kill -HUP "$SLUICE_PID"
wait_until 10 "the reload" grep -q "reload:" "$SLUICE_LOG" || die "no reload logged"
after=$(fingerprint)
[[ $after == *Fingerprint* && $after != "$before" ]] ||
  die "after the reload new connections still see the old certificate ($before)"
sess_expect A "select pg_backend_pid();"
[[ $SESS_OUT == "$pid_a" ]] || die "after a reload without server TLS changes: backend $SESS_OUT, was $pid_a"
out=$(tq "$(conn sslmode=verify-full sslrootcert="$C/ca.crt")" "select 12") || die "after reload: $out"

# A change of server TLS settings recycles the servers.
sed -i 's/^server_tls_sslmode = verify-full/server_tls_sslmode = verify-ca/' "$SLUICE_INI"
kill -HUP "$SLUICE_PID"
wait_until 10 "the second reload" grep -q "server_tls_sslmode verify-full -> verify-ca" "$SLUICE_LOG" ||
  die "the server_tls_sslmode change was not logged"
sess_expect A "select pg_backend_pid();"
[[ $SESS_OUT =~ ^[0-9]+$ && $SESS_OUT != "$pid_a" ]] ||
  die "after a server TLS change the old server ($pid_a) was reused: $SESS_OUT"
# A certificate that cannot be read fails the reload (and --check), naming the setting; the
# old certificate keeps serving.
sed -i "s#^client_tls_cert_file = .*#client_tls_cert_file = $C/missing.crt#" "$SLUICE_INI"
out=$("$SLUICE_BIN" --check "$SLUICE_INI" 2>&1) && die "--check accepted a missing client_tls_cert_file"
[[ $out == *"client_tls_cert_file $C/missing.crt"* ]] || die "--check: unexpected output: $out"
kill -HUP "$SLUICE_PID"
wait_until 10 "the failed reload" grep -q "reload failed, keeping the old config: .*client_tls_cert_file" \
  "$SLUICE_LOG" || die "the failed reload was not logged"
out=$(tq "$(conn sslmode=verify-full sslrootcert="$C/ca.crt")" "select 13") || die "after a failed reload: $out"
[[ $(fingerprint) == "$after" ]] || die "a failed reload changed the certificate"
grep -q "ERROR TLS setup failed: .*client_tls_cert_file" "$SLUICE_LOG" || die "no 'TLS setup failed' line"
# SET changes one TLS file at a time: a key without its certificate is taken with a notice,
# the old pair serving meanwhile; the certificate completes the pair.
out=$(tq "$console" "set client_tls_key_file = '$C/pooler3.key'" 2>&1) || die "SET client_tls_key_file: $out"
[[ $out == *"TLS settings could not be applied, still using old configuration"* ]] ||
  die "SET of a key that does not match the certificate: no notice: $out"
[[ $(fingerprint) == "$after" ]] || die "a key without its certificate changed the certificate served"
out=$(tq "$console" "set client_tls_cert_file = '$C/pooler3.crt'" 2>&1) || die "SET client_tls_cert_file: $out"
[[ $out != *"could not be applied"* ]] || die "SET of the matching certificate: $out"
out=$(tq "$(conn sslmode=verify-full sslrootcert="$C/wrongca.crt")" "select 14") ||
  die "the certificate SET installed is not served: $out"
sess_close A
sess_close B

# ---- require: plaintext refused; a server behind the wrong CA refused (the client stays
# queued, as for an unreachable server, until query_wait_timeout)
start_sluice client_tls_sslmode=require client_tls_key_file="$C/pooler.key" \
  client_tls_cert_file="$C/pooler.crt" server_tls_sslmode=verify-full \
  server_tls_ca_file="$C/wrongca.crt" query_wait_timeout=2
out=$(tq "host=127.0.0.1 port=$SLUICE_PORT user=bench dbname=bench sslmode=disable" "select 1" 2>&1) &&
  die "plaintext got in under client_tls_sslmode = require"
[[ $out == *"SSL required"* ]] || die "require: unexpected error: $out"
out=$(tq "host=localhost port=$SLUICE_PORT user=bench dbname=bench sslmode=require" "select 1" 2>&1) &&
  die "a server whose certificate the CA does not sign was used"
[[ $out == *query_wait_timeout* ]] || die "wrong server CA: the client saw '$out', not query_wait_timeout"
grep -q "certificate verify failed" "$SLUICE_LOG" || die "the server certificate failure was not logged: $out"

pass "verify-full, wrong CA, host mismatch, require, cert auth, hostssl, console, handoff, reload"
