#!/usr/bin/env bash
# Client authentication against auth_file (userlist.txt with bench's SCRAM secret, md5user's
# MD5 hash and plainuser's plaintext password), for each auth_type, and the server login
# sluice does afterwards with what it learnt.
source "$(dirname -- "$0")/lib.sh"

login_ok() {  # USER PASSWORD [DB]: select current_user must print USER
  local out
  out=$(qu "$SLUICE_PORT" "$1" "$2" "${3:-bench}" 'select current_user' 2>&1) ||
    die "auth_type=$AUTH: $1 with password '$2' was refused: $out"
  [[ $out == "$1" ]] || die "auth_type=$AUTH: $1 logged in, but current_user is '$out'"
  note "auth_type=$AUTH: $1 with password '$2': ok"
}

login_fails() {  # USER PASSWORD DB MESSAGE
  local out rc=0
  out=$(qu "$SLUICE_PORT" "$1" "$2" "$3" 'select current_user' 2>&1) || rc=$?
  [[ $rc -ne 0 ]] || die "auth_type=$AUTH: $1 with password '$2' on db $3 was accepted (output: $out)"
  grep -qF -- "$4" <<<"$out" ||
    die "auth_type=$AUTH: $1 with password '$2' on db $3 failed, but without '$4': $out"
  note "auth_type=$AUTH: $1 with password '$2' on db $3: refused as expected"
}

AUTH=scram-sha-256
start_sluice auth_type=$AUTH pool_mode=session
login_ok bench bench
login_fails bench wrong bench 'SASL authentication failed'  # pgbouncer's words for SCRAM
login_fails bench bench nosuchdb 'no such database: nosuchdb'
stop_sluice

AUTH=md5
start_sluice auth_type=$AUTH pool_mode=session
login_ok md5user md5pw
login_fails md5user wrong bench 'password authentication failed for user "md5user"'
# bench's entry is a SCRAM secret: under auth_type=md5 the client is asked for SCRAM instead,
# and the server login uses the keys from that exchange.
login_ok bench bench
login_fails bench wrong bench 'SASL authentication failed'
stop_sluice

AUTH=plain
start_sluice auth_type=$AUTH pool_mode=session
# The stored plaintext is what sluice logs in to the server with (SCRAM there).
login_ok plainuser plainpw
login_fails plainuser wrong bench 'password authentication failed for user "plainuser"'
# Passwords up to PostgreSQL's 65,535-byte message bound are read (pgbouncer's longest are
# 65,530 characters); one byte more is a failed authentication, not a protocol error. The
# role longpass exists in auth_file only: its client login passes, its server login fails.
long=$(head -c 65530 /dev/zero | tr '\0' a)
printf '"longpass" "%s"\n' "$long" >>"$SLUICE_DIR/userlist.txt"
kill -HUP "$SLUICE_PID"
wait_until 10 "the reload" grep -q "reload:" "$SLUICE_LOG" || die "no reload"
out=$(qu "$SLUICE_PORT" longpass "$long" bench 'select 1' 2>&1) && die "longpass has no role, yet logged in"
grep -q "bench/longpass@.* server login failed" "$SLUICE_LOG" ||
  die "a 65,530-character password did not pass the client login: ${out:0:200}"
out=$(qu "$SLUICE_PORT" longpass "x$long" bench 'select 1' 2>&1) && die "a too long password logged in"
[[ $out == *'password authentication failed for user "longpass"'* ]] ||
  die "a 65,531-character password: ${out:0:200}"
grep -q "login failed: the password message is too long" "$SLUICE_LOG" ||
  die "the too long password was not logged"
stop_sluice

AUTH=trust
start_sluice auth_type=$AUTH pool_mode=session
login_ok plainuser whatever
login_ok plainuser ''
login_fails plainuser whatever nosuchdb 'no such database: nosuchdb'
stop_sluice

pass
