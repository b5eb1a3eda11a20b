#!/usr/bin/env bash
# login_notify_message: every client gets it as a NOTICE once logged in, before its first
# ReadyForQuery; without it, no notice.
source "$(dirname -- "$0")/lib.sh"

printf '"bench" "bench"\n' >"$T/userlist.txt"
export SLUICE_USERLIST=$T/userlist.txt
start_sluice auth_type=trust "login_notify_message=Queries here are pooled by sluice"
out=$(raw "$SLUICE_PORT" bench bench terminate)
grep -qx 'N 00000 Queries here are pooled by sluice' <<<"$out" || die "no login notice: $(tr '\n' '|' <<<"$out")"
[[ $(grep -n '^N 00000' <<<"$out" | cut -d: -f1) -lt $(grep -n '^Z I' <<<"$out" | cut -d: -f1) ]] ||
  die "the notice came after ReadyForQuery: $(tr '\n' '|' <<<"$out")"
stop_sluice
start_sluice auth_type=trust
out=$(raw "$SLUICE_PORT" bench bench terminate)
! grep -q '^N ' <<<"$out" || die "a notice without login_notify_message: $(tr '\n' '|' <<<"$out")"
stop_sluice
pass
