#!/usr/bin/env bash
# Protocol violations end the guilty side's connection and are never relayed: a message type
# the frontend protocol does not have (client), a ReadyForQuery with a status other than
# I/T/E and a message longer than max_packet_size (server).
source "$(dirname -- "$0")/lib.sh"

expect_line() {  # TRANSCRIPT LINE WHAT
  grep -qxF -- "$2" <<<"$1" || die "$3: expected a line '$2', got: $(tr '\n' '|' <<<"$1")"
}
printf '"bench" "bench"\n' >"$T/userlist.txt"
export SLUICE_USERLIST=$T/userlist.txt

# ---- an unknown message type from a logged-in client, against the real server
start_sluice auth_type=trust pool_mode=transaction default_pool_size=1
pid_before=$(q "$SLUICE_PORT" 'select pg_backend_pid()') || die "no backend pid: $pid_before"
out=$(raw "$SLUICE_PORT" bench bench 'query:select 1' garbage:y)
expect_line "$out" "E 08P01 unknown pkt" "unknown message type"
expect_line "$(tail -n1 <<<"$out")" "EOF" "the connection after an unknown message type"
grep -qF 'unknown pkt from client: 121/0x79' "$SLUICE_LOG" || die "no 'unknown pkt from client' in the log"
# PostgreSQL kills a backend that gets an unknown message: the same backend still serving
# shows the message never reached it.
pid_after=$(q "$SLUICE_PORT" 'select pg_backend_pid()') || die "query after the bad client failed: $pid_after"
[[ $pid_after == "$pid_before" ]] || die "the server connection was replaced ($pid_before -> $pid_after): the bad message reached it?"
stop_sluice

# ---- ReadyForQuery with status 'X'
fake_pg_start bad_rfq
SLUICE_DATABASES="bench = host=127.0.0.1 port=$FAKE_PORT dbname=bench" \
  start_sluice auth_type=trust pool_mode=transaction
out=$(raw "$SLUICE_PORT" bench bench 'query:select 1')
expect_line "$out" "E 08P01 server sent ReadyForQuery with an invalid status" "bad ReadyForQuery"
! grep -qx 'Z X' <<<"$out" || die "the bad ReadyForQuery was relayed: $(tr '\n' '|' <<<"$out")"
raw "$SLUICE_PORT" bench bench 'query:select 1' >/dev/null
(($(fake_conns) == 2)) || die "the broken server connection was reused ($(fake_conns) connections for 2 clients)"
stop_sluice

# ---- a message header declaring more than max_packet_size, in one piece and split over two
# reads (whose first bytes must not reach the client before the length is known)
for mode in huge_message huge_split; do
  fake_pg_start $mode
  SLUICE_DATABASES="bench = host=127.0.0.1 port=$FAKE_PORT dbname=bench" \
    start_sluice auth_type=trust pool_mode=transaction max_packet_size=1048576
  out=$(raw "$SLUICE_PORT" bench bench 'query:select 1')
  expect_line "$out" "E 08P01 server sent a malformed message: message length exceeds the maximum" "$mode"
  ! grep -q '^D' <<<"$out" || die "$mode: part of the oversized message was relayed: $(tr '\n' '|' <<<"$out")"
  raw "$SLUICE_PORT" bench bench 'query:select 1' >/dev/null
  (($(fake_conns) == 2)) || die "$mode: the broken server connection was reused ($(fake_conns) connections for 2 clients)"
  stop_sluice
done

pass
