# Install layout and the Debian package. Every destination is relative to the prefix
# (GNUInstallDirs), so `DESTDIR=... cmake --install build --prefix /usr` stays in DESTDIR.
include(GNUInstallDirs)

option(SLUICE_INSTALL_PGBOUNCER_NAME "Also install the binary as bin/pgbouncer (a symlink)" OFF)

install(TARGETS sluice RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
if(SLUICE_INSTALL_PGBOUNCER_NAME)
  install(CODE "file(CREATE_LINK sluice \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/pgbouncer\" SYMBOLIC)")
endif()

install(FILES etc/man/sluice.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${PROJECT_BINARY_DIR}/man/sluice.ini.5 DESTINATION ${CMAKE_INSTALL_MANDIR}/man5)

# Examples: the documentation's copy, and the one postinst puts in /etc/sluice when missing.
foreach(dir ${CMAKE_INSTALL_DOCDIR} ${CMAKE_INSTALL_DATADIR}/sluice)
  install(FILES etc/sluice.ini.example DESTINATION ${dir} RENAME pgbouncer.ini)
  install(FILES etc/userlist.txt.example DESTINATION ${dir} RENAME userlist.txt)
  install(FILES ${PROJECT_BINARY_DIR}/examples/sluice.toml DESTINATION ${dir})
endforeach()
install(PROGRAMS etc/hooks/sluice-reconnect etc/hooks/pg_auto_failover-watch
        DESTINATION ${CMAKE_INSTALL_DATADIR}/sluice/hooks)

configure_file(etc/systemd/sluice.service.in ${PROJECT_BINARY_DIR}/systemd/sluice.service @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/systemd/sluice.service DESTINATION lib/systemd/system)

# ---- cpack -G DEB: sluice_<version>_amd64.deb
set(CPACK_PACKAGE_NAME sluice)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "sluice")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "PostgreSQL connection pooler, a drop-in for pgbouncer")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "sluice maintainers <sluice@localhost>")
set(CPACK_DEBIAN_PACKAGE_SECTION database)
set(CPACK_PACKAGE_DESCRIPTION
  "sluice reads pgbouncer.ini and userlist.txt unchanged, answers pgbouncer's admin console\nand signals, and runs one event loop per core in one process with exact pool limits.\nIt adds an HTTP endpoint for health, Prometheus metrics and control.")
# Runtime dependencies from the binary's shared libraries (dpkg-shlibdeps), plus the tools the
# maintainer scripts and the unit use (useradd; kill for ExecReload).
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_DEPENDS "passwd, procps")
set(CPACK_DEBIAN_PACKAGE_SUGGESTS "curl, postgresql-client")
configure_file(etc/debian/postinst ${PROJECT_BINARY_DIR}/debian/postinst COPYONLY)
configure_file(etc/debian/postrm ${PROJECT_BINARY_DIR}/debian/postrm COPYONLY)
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA ${PROJECT_BINARY_DIR}/debian/postinst
                                       ${PROJECT_BINARY_DIR}/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
include(CPack)
