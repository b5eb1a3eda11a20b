#!/usr/bin/env bash
# syslog, syslog_ident, syslog_facility: with syslog = 1 every LOG, WARNING and ERROR line
# also goes to syslog(3) under that ident and facility, with the level's priority; a reload
# reopens syslog with a new ident and facility, and syslog = 0 stops it. The logfile keeps
# every line either way.
#
# syslog(3) writes to /dev/log: sluice runs in a mount namespace whose /dev/log is a socket
# this test reads (with_dev_log.sh), so no syslog daemon is needed and none is disturbed.
source "$(dirname -- "$0")/lib.sh"
((IS_ROOT)) || die "needs root: /dev/log is replaced in a private mount namespace"

here=$(cd "$(dirname -- "$0")" && pwd)
sock=$T/log.sock out=$T/syslog.out
bg python3 "$here/syslog_sink.py" "$sock" "$out"
wait_until 10 "the syslog sink" test -e "$out" || die "syslog_sink.py did not start"
SLUICE_WRAP=("$here/with_dev_log.sh" "$sock")

# <PRI> = facility * 8 + severity. local3 = 19, user = 1; info = 6, warning = 4.
seen() { grep -qF -- "$1" "$out"; }
# marker TEXT: sent after everything sluice has sent so far; once it is in $out, so is all
# that came before it (one socket, read in order).
marker() {
  logger --socket-errors=on -u "$sock" -d -t marker "$1" || die "logger failed"
  wait_until 10 "marker $1" seen "marker: $1" || die "the marker never reached the sink"
}

start_sluice syslog=1 syslog_ident=sluicetest syslog_facility=local3 job_name=other
pid=$SLUICE_PID
wait_until 10 "the listening line in syslog" seen "<158>" ||
  die "nothing at local3.info reached syslog: $(cat "$out")"
grep -qE "^<158>.* sluicetest\[$pid\]: listening on 127\.0\.0\.1:$SLUICE_PORT\$" "$out" ||
  die "no 'listening on' line from sluicetest[$pid] at local3.info: $(cat "$out")"
# a WARNING at warning priority, its text as in the logfile
grep -qE "^<156>.* sluicetest\[$pid\]: job_name \(.*\): has no effect on this platform" "$out" ||
  die "the job_name warning is not at local3.warning: $(cat "$out")"
grep -qF 'WARNING job_name (' "$SLUICE_LOG" || die "the logfile lost the warning"
# The message alone: syslog adds time, ident and pid; no second timestamp or level tag.
! grep -qE 'sluicetest\[[0-9]+\]: [0-9]{4}-|sluicetest\[[0-9]+\]: (LOG|WARNING) ' "$out" ||
  die "syslog lines carry the logfile prefix: $(cat "$out")"
[[ $(q "$SLUICE_PORT" 'select 1') == 1 ]] || die "no query with syslog on"

# Reload: a new ident and facility take effect for the lines that follow.
sed -i -e 's/^syslog_ident = .*/syslog_ident = sluice2/' -e 's/^syslog_facility = .*/syslog_facility = user/' "$SLUICE_INI"
kill -HUP "$pid" || die "sluice is gone"
wait_until 15 "the reload line in syslog" seen "sluice2[$pid]: reload: " ||
  die "no reload line from sluice2 in syslog: $(cat "$out")"
grep -qE "^<14>.* sluice2\[$pid\]: reload: .*syslog_ident sluicetest -> sluice2" "$out" ||
  die "the reload line is not at user.info under sluice2: $(cat "$out")"

# syslog = 0: nothing more reaches syslog, the logfile goes on.
sed -i 's/^syslog = .*/syslog = 0/' "$SLUICE_INI"
kill -HUP "$pid" || die "sluice is gone"
wait_until 15 "the third reload in the logfile" grep -qF 'syslog 1 -> 0' "$SLUICE_LOG" ||
  die "the reload to syslog = 0 was not logged"
[[ $(q "$SLUICE_PORT" 'select 2') == 2 ]] || die "no query after syslog = 0"
marker after-syslog-off
! grep -qF 'syslog 1 -> 0' "$out" || die "a line logged after syslog = 0 reached syslog"
stop_sluice

# Off by default: nothing from sluice at all.
start_sluice
[[ $(q "$SLUICE_PORT" 'select 3') == 3 ]] || die "no query"
marker default-off
! grep -qF "[$SLUICE_PID]:" "$out" || die "sluice logged to syslog without syslog = 1: $(cat "$out")"
stop_sluice
pass
