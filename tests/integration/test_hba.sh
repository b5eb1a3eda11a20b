#!/usr/bin/env bash
# auth_type = hba: the first matching rule of auth_hba_file decides, before authentication:
# its method (scram-sha-256, password, trust, ...), or a refusal (reject, no matching rule).
# A bad rule is a config error with file:line.
source "$(dirname -- "$0")/lib.sh"

cat >"$T/hba.conf" <<HBA
# type  database  user       address        method
host    postgres  bench      127.0.0.1/32   reject
host    all       bench      127.0.0.1/32   scram-sha-256
host    bench     plainuser  10.0.0.0/8     trust
host    bench     plainuser  127.0.0.0/8    password
host    bench     md5user    127.0.0.1      trust
HBA
chmod 644 "$T/hba.conf"
export SLUICE_DATABASES="bench = host=127.0.0.1 port=$PGPORT dbname=bench
postgres = host=127.0.0.1 port=$PGPORT dbname=postgres"
start_sluice auth_type=hba auth_hba_file="$T/hba.conf"

[[ $(q "$SLUICE_PORT" 'select current_user') == bench ]] || die "bench (scram-sha-256 rule) could not log in"
out=$(qu "$SLUICE_PORT" bench wrong bench 'select 1' 2>&1) && die "bench logged in with a wrong password"
grep -qF 'SASL authentication failed' <<<"$out" || die "wrong error for a bad password: $out"
# 10.0.0.0/8 does not match 127.0.0.1; the password rule after it does
[[ $(qu "$SLUICE_PORT" plainuser plainpw bench 'select current_user') == plainuser ]] ||
  die "plainuser (password rule) could not log in"
out=$(qu "$SLUICE_PORT" plainuser wrong bench 'select 1' 2>&1) && die "plainuser logged in with a wrong password"
# trust for a single host address
[[ $(qu "$SLUICE_PORT" md5user anything bench 'select current_user') == md5user ]] ||
  die "md5user (trust rule) could not log in"
# reject, and no rule at all
out=$(qu "$SLUICE_PORT" bench bench postgres 'select 1' 2>&1) && die "a reject rule let bench into postgres"
grep -qF 'pg_hba.conf rejects connection for host "127.0.0.1", user "bench", database "postgres"' <<<"$out" ||
  die "wrong error for a reject rule: $out"
out=$(qu "$SLUICE_PORT" md5user md5pw postgres 'select 1' 2>&1) && die "md5user got into postgres without a rule"
grep -qF 'no pg_hba.conf entry for host "127.0.0.1", user "md5user", database "postgres"' <<<"$out" ||
  die "wrong error without a matching rule: $out"
stop_sluice

# peer, over the Unix socket: the OS user of the client must be the user it logs in as.
# sluice runs as the postgres OS user; psql runs as that same OS user.
SOCK=$T/sock
mkdir -p "$SOCK"
((IS_ROOT)) && chown postgres:postgres "$SOCK"
printf 'local all postgres peer\nlocal all bench peer\n' >"$T/peer.conf"
chmod 644 "$T/peer.conf"
os_user=$("${AS_PG[@]}" id -un)
export SLUICE_DATABASES="bench = host=127.0.0.1 port=$PGPORT dbname=bench user=bench password=bench"
start_sluice auth_type=hba auth_hba_file="$T/peer.conf" "unix_socket_dir=$SOCK"
sock_q() {  # USER
  "${AS_PG[@]}" env PGPASSWORD=x psql -X -At -h "$SOCK" -p "$SLUICE_PORT" -U "$1" -d bench -c 'select current_user' 2>&1
}
[[ $os_user == postgres ]] || die "this check needs sluice and psql to run as the postgres OS user"
[[ $(sock_q postgres) == bench ]] || die "peer: the OS user postgres was refused as postgres: $(sock_q postgres)"
out=$(sock_q bench) && die "peer: the OS user postgres got in as bench"
grep -qF 'peer authentication failed for user "bench"' <<<"$out" || die "peer refusal without pgbouncer's text: $out"
stop_sluice
unset SLUICE_DATABASES

printf 'host all all 127.0.0.1/33 trust\nhost all all 127.0.0.1/32 magic\n' >"$T/bad.conf"
cp "$SLUICE_INI" "$T/bad.ini"
sed -i "s|^auth_hba_file = .*|auth_hba_file = $T/bad.conf|" "$T/bad.ini"
rc=0
out=$("$SLUICE_BIN" --check "$T/bad.ini" 2>&1) || rc=$?
((rc == 1)) || die "--check accepted a bad auth_hba_file: $out"
grep -qF "$T/bad.conf:1: invalid address \"127.0.0.1/33\"" <<<"$out" || die "no error for line 1: $out"
grep -qF "$T/bad.conf:2: unsupported authentication method \"magic\"" <<<"$out" || die "no error for line 2: $out"
pass
