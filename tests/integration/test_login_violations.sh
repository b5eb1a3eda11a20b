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

# A SASLInitialResponse of 10,031 bytes: above the 10,000-byte cap of the startup phase.
out=$(raw "$SLUICE_PORT" bench bench big-auth:10031)
expect_line "$out" "R 10" "SASL request before the oversized response"
expect_line "$out" "E 08P01 invalid authentication message: message length exceeds the maximum" "oversized SASLInitialResponse"
grep -qF 'pooler error: invalid authentication message' "$SLUICE_LOG" || die "the oversized message was not logged"

# A well-behaved client still logs in after all that.
[[ $(q "$SLUICE_PORT" 'select 1') == 1 ]] || die "a normal login failed afterwards"
stop_sluice
pass
