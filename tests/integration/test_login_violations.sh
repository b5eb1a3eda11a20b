#!/usr/bin/env bash
# Protocol violations during a client's login get FATAL 08P01 with the reason (and a log
# line), never a silent close or a login: bytes pipelined after an SSLRequest or
# GSSENCRequest (the CVE-2021-23214 class), an authentication message above the startup cap.
source "$(dirname -- "$0")/lib.sh"

expect_line() {  # TRANSCRIPT LINE WHAT
  grep -qxF -- "$2" <<<"$1" || die "$3: expected a line '$2', got: $(tr '\n' '|' <<<"$1")"
}

start_sluice auth_type=scram-sha-256
out=$(raw "$SLUICE_PORT" bench bench ssl-pipelined)
expect_line "$out" "N" "SSLRequest + startup in one write"
expect_line "$out" "E 08P01 received unencrypted data after SSL request" "SSLRequest + startup in one write"
! grep -q '^R' <<<"$out" || die "the pipelined startup packet was taken: $(tr '\n' '|' <<<"$out")"
out=$(raw "$SLUICE_PORT" bench bench gss-pipelined)
expect_line "$out" "E 08P01 received unencrypted data after GSSAPI encryption request" "GSSENCRequest + startup"
! grep -q '^R' <<<"$out" || die "the pipelined startup packet was taken: $(tr '\n' '|' <<<"$out")"

# A SASLInitialResponse of 65,540 bytes: above the 65,535-byte cap of an authentication
# message (PostgreSQL's); refused unread, as a failed authentication.
out=$(raw "$SLUICE_PORT" bench bench big-auth:65540)
expect_line "$out" "R 10" "SASL request before the oversized response"
expect_line "$out" "E 28P01 SASL authentication failed" "oversized SASLInitialResponse"
grep -qF 'login failed: the password message is too long' "$SLUICE_LOG" || die "the oversized message was not logged"

# A second StartupMessage during a SCRAM exchange (the CVE-2026-107350 class), after the
# SASL request and after the server-first-message, for a database that exists and one that
# does not: the connection ends with 08P01, and nobody is logged in as the second user.
for db in bench no_such_db; do
  out=$(raw "$SLUICE_PORT" bench "$db" startup-as:postgres:bench)
  expect_line "$out" "R 10" "second startup after the SASL request ($db)"
  grep -q '^E 08P01 ' <<<"$out" || die "second startup after the SASL request ($db): no 08P01: $(tr '\n' '|' <<<"$out")"
  ! grep -qx 'R 0' <<<"$out" || die "second startup after the SASL request ($db) logged in: $(tr '\n' '|' <<<"$out")"
  out=$(raw "$SLUICE_PORT" bench "$db" scram-first startup-as:postgres:bench)
  expect_line "$out" "R 11" "server-first-message ($db)"
  grep -q '^E 08P01 ' <<<"$out" || die "second startup during SCRAM ($db): no 08P01: $(tr '\n' '|' <<<"$out")"
  ! grep -qx 'R 0' <<<"$out" || die "second startup during SCRAM ($db) logged in: $(tr '\n' '|' <<<"$out")"
done
stop_sluice

# An empty option name in the startup `options` (-c=, the CVE-2026-107349 class) with
# ignore_startup_parameters set but not naming options: refused at once, for every shape.
start_sluice auth_type=scram-sha-256 ignore_startup_parameters=extra_float_digits
for opt in '-c=' '-c =' '--=' '-c=x' '-c a=1 -c='; do
  out=$(timeout 10 python3 "$(dirname -- "$0")/pgclient.py" "$SLUICE_PORT" bench bench "options:$opt") ||
    die "options '$opt': no answer within 10 s"
  grep -q '^E 08P01 ' <<<"$out" || die "options '$opt': expected 08P01, got: $(tr '\n' '|' <<<"$out")"
done

# A well-behaved client still logs in after all that.
[[ $(q "$SLUICE_PORT" 'select 1') == 1 ]] || die "a normal login failed afterwards"
stop_sluice
pass
