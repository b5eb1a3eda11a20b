#!/usr/bin/env bash
# systemd's readiness protocol: with NOTIFY_SOCKET set, sluice sends READY=1 once it listens,
# RELOADING=1 (with MONOTONIC_USEC) and READY=1 around a SIGHUP reload, and STOPPING=1 when a
# shutdown begins. Without it nothing is sent (every other test runs that way).
source "$(dirname -- "$0")/lib.sh"

sock=$T/notify.sock
cat >"$T/listen.py" <<'PY'

import os, socket, sys
path, log = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
os.chmod(path, 0o777)
open(log + ".ready", "w").close()
with open(log, "a", buffering=1) as out:
    while True:
        m = s.recv(4096).decode()
        out.write(m.replace("\n", " ") + "\n")
        if m.startswith("STOPPING=1"):
            break
PY
bg python3 "$T/listen.py" "$sock" "$T/notify.log"
listener=$BG_PID
wait_until 10 "the notify socket" test -e "$T/notify.log.ready" || die "no notify socket"
SLUICE_WRAP=(env "NOTIFY_SOCKET=$sock")
start_sluice
got() { grep -c -- "$1" "$T/notify.log" 2>/dev/null || echo 0; }
wait_until 10 "READY=1" eval '(($(got "^READY=1") >= 1))' || die "no READY=1: $(cat "$T/notify.log")"
port_open "$SLUICE_PORT" || die "READY=1 came, but nothing listens"
kill -HUP "$SLUICE_PID"
wait_until 10 "RELOADING=1 then READY=1" eval '(($(got "^READY=1") >= 2))' ||
  die "no READY=1 after the reload: $(cat "$T/notify.log")"
grep -qE '^RELOADING=1 MONOTONIC_USEC=[0-9]+$' "$T/notify.log" || die "no RELOADING=1 with MONOTONIC_USEC: $(cat "$T/notify.log")"
[[ $(sed -n 2p "$T/notify.log") == RELOADING=1* && $(sed -n 3p "$T/notify.log") == READY=1 ]] ||
  die "RELOADING=1 and READY=1 out of order: $(cat "$T/notify.log")"
kill -INT "$SLUICE_PID"
wait_gone "$listener" 10 || die "no STOPPING=1 on SIGINT: $(cat "$T/notify.log")"
pass
