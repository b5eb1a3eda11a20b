#!/usr/bin/env bash
# The man pages: sluice(1) and sluice.ini(5) render with groff without a warning, and the
# generated sluice.ini(5) lists every key sluice reads (checked against SHOW CONFIG, which
# lists every [pgbouncer] key, and the [sluice] keys).
source "$(dirname -- "$0")/lib.sh"
command -v groff >/dev/null || die "groff is needed (tests/run_all installs groff-base)"
build=${SLUICE_BUILD_DIR:?the build folder (ctest sets it)}
src=$(cd "$(dirname -- "$0")/../.." && pwd)
page5=$build/man/sluice.ini.5
[[ -s $page5 ]] || die "the build did not write $page5"
for page in "$src/etc/man/sluice.1" "$page5"; do
  warnings=$(groff -man -ww -Tutf8 "$page" 2>&1 >/dev/null)
  [[ -z $warnings ]] || die "$(basename "$page") renders with warnings: $warnings"
done
start_sluice admin_users=bench
keys=$(qu "$SLUICE_PORT" bench bench pgbouncer 'SHOW CONFIG' | cut -d'|' -f1)
[[ $(wc -l <<<"$keys") -gt 100 ]] || die "SHOW CONFIG listed too few keys: $keys"
for k in $keys workers http_listen_addr http_listen_port http_auth_token_file; do
  grep -qx ".B ${k//_/_}" "$page5" || die "sluice.ini(5) does not list $k"
done
pass
