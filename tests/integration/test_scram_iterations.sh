#!/usr/bin/env bash
# scram_iterations: a client doing SCRAM-SHA-256 against a plaintext auth_file entry gets a
# secret sluice built with that many iterations (i= in the server-first-message), and can log
# in with it. The default is 4096; a reload changes it for the next login.
source "$(dirname -- "$0")/lib.sh"

# bench's plaintext password: sluice builds the SCRAM secret itself.
printf '"bench" "bench"\n' >"$T/userlist.txt"
export SLUICE_USERLIST=$T/userlist.txt
login() { python3 "$(dirname -- "$0")/scram_login.py" "$SLUICE_PORT" bench bench bench; }

start_sluice auth_type=scram-sha-256
out=$(login) || die "SCRAM login with the default iterations failed: $out"
[[ $out == $'iterations 4096\nok' ]] || die "expected the default 4096 iterations: $out"
stop_sluice

start_sluice auth_type=scram-sha-256 scram_iterations=5000
out=$(login) || die "SCRAM login with scram_iterations=5000 failed: $out"
[[ $out == $'iterations 5000\nok' ]] || die "expected i=5000: $out"
[[ $(q "$SLUICE_PORT" 'select 1') == 1 ]] || die "psql cannot log in with scram_iterations=5000"

# changeable at run time, as in pgbouncer
sed -i 's/^scram_iterations = .*/scram_iterations = 6000/' "$SLUICE_INI"
kill -HUP "$SLUICE_PID" || die "sluice is gone"
wait_until 15 "the reload" grep -qF 'scram_iterations 5000 -> 6000' "$SLUICE_LOG" ||
  die "the reload did not log scram_iterations 5000 -> 6000"
out=$(login) || die "SCRAM login after the reload failed: $out"
[[ $out == $'iterations 6000\nok' ]] || die "expected i=6000 after the reload: $out"
stop_sluice
pass
