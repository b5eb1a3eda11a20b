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

# A well-behaved client still logs in after all that.
[[ $(q "$SLUICE_PORT" 'select 1') == 1 ]] || die "a normal login failed afterwards"
stop_sluice
pass
