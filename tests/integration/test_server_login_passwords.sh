#!/usr/bin/env bash
# The server login from each kind of auth_file entry (plaintext, md5 hash, SCRAM secret)
# against MD5 and SCRAM roles of the real cluster: sluice computes the SCRAM proof (or MD5
# answer) from a plaintext password with the server's own salt and iteration count, whatever
# the client authenticated with; the two pairs that cannot work fail with a reason.
source "$(dirname -- "$0")/lib.sh"

# A SCRAM secret for md5user's password: SCRAM secrets do not depend on the role name.
pg_direct "SET password_encryption = 'scram-sha-256'; CREATE ROLE sluice_tmp_scram PASSWORD 'md5pw'" >/dev/null ||
  die "could not create a helper role"
md5pw_scram=$(pg_direct "select rolpassword from pg_authid where rolname = 'sluice_tmp_scram'")
pg_direct "DROP ROLE sluice_tmp_scram" >/dev/null
[[ $md5pw_scram == SCRAM-SHA-256\$* ]] || die "no SCRAM secret: $md5pw_scram"
bench_scram=$(pg_direct "select rolpassword from pg_authid where rolname = 'bench'")
plainuser_md5="md5$(printf '%s' plainpwplainuser | md5sum | cut -d' ' -f1)"

login_ok() {  # USER PASSWORD
  local out
  out=$(qu "$SLUICE_PORT" "$1" "$2" bench 'select current_user' 2>&1) ||
    die "$CASE: $1 was refused: $out"
  [[ $out == "$1" ]] || die "$CASE: $1 logged in as '$out'"
  note "$CASE: $1 logged in"
}
login_fails() {  # USER PASSWORD TEXT
  local out rc=0
  out=$(qu "$SLUICE_PORT" "$1" "$2" bench 'select current_user' 2>&1) || rc=$?
  ((rc != 0)) || die "$CASE: $1 logged in, but its server login cannot work"
  grep -qF -- "$3" <<<"$out" || die "$CASE: $1 failed without '$3': $out"
  grep -qF -- "server login failed: $3" "$SLUICE_LOG" ||
    die "$CASE: no 'server login failed: $3' in the log"
  ! grep -q 'server login failed: server login failed' "$SLUICE_LOG" ||
    die "$CASE: the log says 'server login failed' twice in one line"
  note "$CASE: $1 refused: $3"
}

SLUICE_USERLIST=$T/userlist-a.txt
printf '"plainuser" "plainpw"\n"md5user" "%s"\n"bench" "%s"\n' "$md5pw_scram" "$bench_scram" >"$SLUICE_USERLIST"
CASE="auth_type=scram-sha-256"
start_sluice auth_type=scram-sha-256 pool_mode=session
login_ok plainuser plainpw  # plaintext entry, SCRAM role: the proof uses the server's salt
login_ok bench bench        # SCRAM secret, SCRAM role: the client's keys (pass-through)
login_fails md5user md5pw 'wrong password type: the password in auth_file is a SCRAM secret'  # SCRAM secret, MD5 role
stop_sluice

SLUICE_USERLIST=$T/userlist-b.txt
printf '"plainuser" "%s"\n"md5user" "md5pw"\n' "$plainuser_md5" >"$SLUICE_USERLIST"
CASE="auth_type=md5"
start_sluice auth_type=md5 pool_mode=session
login_ok md5user md5pw  # plaintext entry, MD5 role
login_fails plainuser plainpw 'wrong password type: the password in auth_file is an MD5 hash'  # md5 hash, SCRAM role
stop_sluice

SLUICE_USERLIST=$T/userlist-c.txt
printf '"md5user" "md5pw"\n"plainuser" "plainpw"\n' >"$SLUICE_USERLIST"
CASE="auth_type=scram-sha-256, plaintext entries"
start_sluice auth_type=scram-sha-256 pool_mode=transaction
login_ok md5user md5pw      # plaintext entry, MD5 role, client verified with SCRAM
login_ok plainuser plainpw  # and again on a pool that has learnt the client's keys
login_ok plainuser plainpw
stop_sluice

pass
