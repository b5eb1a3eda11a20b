#!/usr/bin/env bash
# auth_user + auth_query: a user that auth_file lacks is looked up in PostgreSQL as auth_user
# (whose own password is in auth_file), with the user name as a query parameter. An expired
# password (rolvaliduntil) or a role that cannot log in is no password; the query runs on
# servers of its own that no client is linked to, so a client's SET search_path cannot
# change which pg_authid it reads; auth_user and auth_dbname per database win over
# [pgbouncer]'s.
source "$(dirname -- "$0")/lib.sh"

cleanup_roles() {
  pg_direct "SET client_min_messages = warning; DROP ROLE IF EXISTS aq_alice; DROP ROLE IF EXISTS aq_expired;
             DROP ROLE IF EXISTS aq_nologin; DROP SCHEMA IF EXISTS aq_evil CASCADE" bench >/dev/null
}
cleanup_roles
trap 'cleanup_roles' EXIT
pg_direct "SET password_encryption = 'scram-sha-256';
           CREATE ROLE aq_alice LOGIN PASSWORD 'alicepw';
           CREATE ROLE aq_expired LOGIN PASSWORD 'exppw' VALID UNTIL '2000-01-01';
           CREATE ROLE aq_nologin NOLOGIN PASSWORD 'nopw';
           CREATE SCHEMA aq_evil;
           CREATE TABLE aq_evil.pg_authid (rolname name, rolpassword text,
                                           rolvaliduntil timestamptz, rolcanlogin bool);
           INSERT INTO aq_evil.pg_authid VALUES ('aq_alice', 'attackerpw', NULL, true);
           GRANT USAGE ON SCHEMA aq_evil TO PUBLIC; GRANT SELECT ON aq_evil.pg_authid TO PUBLIC" bench >/dev/null ||
  die "could not create the test roles"
# pg_hba lets every role in through TCP with SCRAM, and these have SCRAM passwords.

login_ok() {  # USER PASSWORD DB
  local out
  out=$(qu "$SLUICE_PORT" "$1" "$2" "$3" 'select current_user' 2>&1) || die "$CASE: $1 was refused: $out"
  [[ $out == "$1" ]] || die "$CASE: $1 logged in as '$out'"
}
login_refused() {  # USER PASSWORD DB TEXT
  local out rc=0
  out=$(qu "$SLUICE_PORT" "$1" "$2" "$3" 'select current_user' 2>&1) || rc=$?
  ((rc != 0)) || die "$CASE: $1 logged in with password '$2'"
  grep -qF -- "$4" <<<"$out" || die "$CASE: $1 refused without '$4': $out"
}

# Only bench is in auth_file; bench may read pg_authid (it is a superuser).
printf '"bench" "bench"\n' >"$T/userlist.txt"
export SLUICE_USERLIST=$T/userlist.txt

CASE="global auth_user"
start_sluice auth_user=bench default_pool_size=1
login_ok aq_alice alicepw bench
login_ok aq_alice alicepw bench  # again, on the pool created by the first login
login_refused aq_alice wrongpw bench 'SASL authentication failed'
login_refused aq_expired exppw bench 'SASL authentication failed'
grep -q 'login failed: auth_query found no valid password' "$SLUICE_LOG" ||
  die "$CASE: no log line for the expired password"
login_refused aq_nologin nopw bench 'SASL authentication failed'
login_refused aq_nobody x bench 'SASL authentication failed'
grep -q 'no such user: aq_nobody' "$SLUICE_LOG" ||
  die "$CASE: no log line for the unknown user"

# bench's only server (pool size 1, transaction mode) now has a search_path that puts a fake
# pg_authid first. The lookup must not run there: the fake password must not work.
q "$SLUICE_PORT" "SET search_path = aq_evil, pg_catalog" >/dev/null || die "$CASE: SET failed"
[[ $(q "$SLUICE_PORT" "select rolpassword from pg_authid where rolname = 'aq_alice'") == attackerpw ]] ||
  die "$CASE: the SET did not stick to bench's server; the next check would prove nothing"
login_refused aq_alice attackerpw bench 'SASL authentication failed'
# Refused by sluice itself, not by PostgreSQL after sluice had let the client in.
! grep -q 'server login failed' "$SLUICE_LOG" || die "$CASE: the fake password passed sluice"
login_ok aq_alice alicepw bench

# A password changed in PostgreSQL is seen by the next login.
pg_direct "SET password_encryption = 'scram-sha-256'; ALTER ROLE aq_alice PASSWORD 'alicepw2'" >/dev/null
login_refused aq_alice alicepw bench 'SASL authentication failed'
login_ok aq_alice alicepw2 bench
grep -qE 'alicepw|attackerpw' "$SLUICE_LOG" && die "$CASE: a password reached the log"
stop_sluice
pg_direct "ALTER ROLE aq_alice PASSWORD 'alicepw'" >/dev/null

CASE="auth_user per database, auth_dbname"
export SLUICE_DATABASES="bench = host=127.0.0.1 port=$PGPORT dbname=bench
viaq = host=127.0.0.1 port=$PGPORT dbname=bench auth_user=bench auth_query='SELECT rolname, rolpassword FROM pg_authid WHERE rolname = \$1 AND rolname <> ''aq_alice'''
viadb = host=127.0.0.1 port=$PGPORT dbname=bench auth_user=bench auth_dbname=bench
broken = host=127.0.0.1 port=$PGPORT dbname=bench auth_user=bench auth_dbname=absent
badquery = host=127.0.0.1 port=$PGPORT dbname=bench auth_user=bench auth_query='SELECT usename, passwd FROM no_such_shadow WHERE usename = \$1'"
start_sluice
# viaq's own auth_query finds nobody called aq_alice; viadb uses [pgbouncer]'s.
login_refused aq_alice alicepw viaq 'SASL authentication failed'
! grep -q 'auth_query as bench in viaq failed' "$SLUICE_LOG" || die "$CASE: viaq's auth_query failed to run"
login_ok aq_alice alicepw viadb
login_refused aq_alice alicepw bench 'SASL authentication failed'  # no auth_user there
login_refused aq_alice alicepw broken 'bouncer config error'
grep -q 'authentication database "absent" is not configured' "$SLUICE_LOG" ||
  die "$CASE: no log line for auth_dbname without an entry"
# An auth_query PostgreSQL refuses: the operator's error, logged with the server's words.
login_refused aq_alice alicepw badquery 'bouncer config error'
grep -q 'auth_query as bench in badquery failed: .*"no_such_shadow" does not exist' "$SLUICE_LOG" ||
  die "$CASE: the failing auth_query was not logged with the server's error"
stop_sluice

CASE="auth_type=md5 with an MD5 role"
unset SLUICE_DATABASES
start_sluice auth_type=md5 auth_user=bench
login_ok md5user md5pw bench  # the MD5 hash from pg_authid serves the client and the server
stop_sluice
pass
