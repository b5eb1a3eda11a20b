#!/usr/bin/env bash
# The harness itself: a failure must be seen. (1) The test's stderr survives closing an
# interactive session (it once went to /dev/null for good). (2) In an ASan build, a sluice
# started in the background and stopped by stop_sluice runs LeakSanitizer's exit check, and
# a report it writes fails its test, is printed, and is copied next to the caller's
# log_path. The canary for (2): LeakSanitizer told not to take globals and thread-locals as
# roots reports what they hold (OpenSSL's tables, the shards) as leaked, so a script that
# runs sluice that way must fail; the same run with the usual roots is clean.
source "$(dirname -- "$0")/lib.sh"

stderr0=$(readlink "/proc/$$/fd/2")
start_sluice
sess_open A "$SLUICE_PORT"
sess_expect A "select 1;"
sess_close A
# (if it is gone, die's message is lost with it, but the status still fails the test)
[[ $(readlink "/proc/$$/fd/2") == "$stderr0" ]] ||
  die "stderr is $(readlink "/proc/$$/fd/2") after sess_close, was $stderr0"
stop_sluice
note "stderr intact after sess_close"

if [[ $SLUICE_SANITIZE != *address* ]]; then
  pass "no ASan in this build (SLUICE_SANITIZE='$SLUICE_SANITIZE'): leak-report chain not checked"
  exit 0
fi

LIB=$(cd "$(dirname -- "$0")" && pwd)/lib.sh
run_inner() {  # NAME ROOTS(0|1): a test script of its own; sets INNER_RC INNER_OUT
  cat >"$T/$1.sh" <<INNER
source "$LIB"
((${2})) || export LSAN_OPTIONS="\$LSAN_OPTIONS:use_globals=0:use_tls=0"  # roots taken away
start_sluice
out=\$(q "\$SLUICE_PORT" 'select 1' 2>&1) || die "select through sluice failed: \$out"
stop_sluice
pass
INNER
  mkdir -p "$T/caller-$1"
  INNER_RC=0
  INNER_OUT=$(ASAN_OPTIONS="$ASAN_OPTIONS:log_path=$T/caller-$1/asan" bash "$T/$1.sh" 2>&1) || INNER_RC=$?
}

run_inner canary 0
if ((INNER_RC == 0)); then
  echo "$INNER_OUT" >&2
  die "a sluice leak report (LeakSanitizer without its roots) did not fail its test"
fi
grep -q 'LeakSanitizer: detected memory leaks' <<<"$INNER_OUT" ||
  die "the failing test did not print the LeakSanitizer report: $INNER_OUT"
copies=$(find "$T/caller-canary" -name 'asan.canary.*' | wc -l)
((copies >= 1)) || die "the report was not copied next to the caller's log_path ($T/caller-canary/asan)"
note "without roots: test failed (status $INNER_RC), report printed and copied ($copies)"

run_inner clean 1
((INNER_RC == 0)) || die "with LeakSanitizer's usual roots the same run failed: $INNER_OUT"
[[ -z $(ls -A "$T/caller-clean") ]] || die "reports in a clean run: $(ls "$T/caller-clean")"
pass "leak check ran at exit, its report failed the test; clean with the usual roots"
