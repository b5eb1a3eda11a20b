#!/usr/bin/env bash
# cmake --install into a DESTDIR: everything lands under it (relative destinations), with the
# binary, both man pages, the examples, the hooks and a unit whose ExecStart is the installed
# binary; the installed example configuration passes --check once its auth_file exists.
source "$(dirname -- "$0")/lib.sh"
build=${SLUICE_BUILD_DIR:?the build folder (ctest sets it)}
# The prefix the build was configured with (the unit's ExecStart is made from it).
prefix=$(sed -n 's/^CMAKE_INSTALL_PREFIX:PATH=//p' "$build/CMakeCache.txt")
[[ $prefix == /* ]] || die "no CMAKE_INSTALL_PREFIX in $build/CMakeCache.txt"
D=$T/destdir
DESTDIR=$D cmake --install "$build" --prefix "$prefix" >"$T/install.log" 2>&1 || die "install failed: $(tail -5 "$T/install.log")"
outside=$(cd "$D" && find . -mindepth 1 -type f | grep -v "^\.$prefix/" || true)
[[ -z $outside ]] || die "installed outside the prefix: $outside"
for f in bin/sluice share/man/man1/sluice.1 share/man/man5/sluice.ini.5 \
  share/doc/sluice/pgbouncer.ini share/doc/sluice/sluice.toml share/doc/sluice/userlist.txt \
  share/sluice/pgbouncer.ini share/sluice/hooks/sluice-reconnect \
  share/sluice/hooks/pg_auto_failover-watch lib/systemd/system/sluice.service; do
  [[ -e $D$prefix/$f ]] || die "not installed: $prefix/$f"
done
[[ -x $D$prefix/bin/sluice && -x $D$prefix/share/sluice/hooks/sluice-reconnect ]] || die "not executable"
unit=$D$prefix/lib/systemd/system/sluice.service
grep -qx "ExecStart=$prefix/bin/sluice /etc/sluice/pgbouncer.ini" "$unit" || die "ExecStart: $(grep ExecStart "$unit")"
grep -qx 'Type=notify' "$unit" || die "the unit is not Type=notify"
"$D$prefix/bin/sluice" -V | grep -qE '^sluice [0-9]+\.[0-9]+' || die "the installed binary does not run"
# The TOML example is the ini example converted: both check the same once the userlist exists.
sed "s#/etc/sluice/userlist.txt#$D$prefix/share/doc/sluice/userlist.txt#" "$D$prefix/share/doc/sluice/pgbouncer.ini" >"$T/ex.ini"
sed "s#/etc/sluice/userlist.txt#$D$prefix/share/doc/sluice/userlist.txt#" "$D$prefix/share/doc/sluice/sluice.toml" >"$T/ex.toml"
"$D$prefix/bin/sluice" --check "$T/ex.ini" >/dev/null || die "the example pgbouncer.ini does not pass --check"
"$D$prefix/bin/sluice" --check "$T/ex.toml" >/dev/null || die "the example sluice.toml does not pass --check"
pass
