#!/usr/bin/env bash
# dns_max_ttl, dns_nxdomain_ttl: a server host name's addresses are looked up once and reused
# for new server connections for dns_max_ttl seconds; a failed lookup is reused for
# dns_nxdomain_ttl seconds; 0 looks the name up every time; RECONNECT forgets them.
#
# sluice runs in a mount namespace whose /etc/hosts is a file this test rewrites
# (with_hosts.sh): "pg.sluice.test" points at postgres (127.0.0.1) or at an address where
# nothing listens (127.0.0.2), or is missing.
source "$(dirname -- "$0")/lib.sh"
((IS_ROOT)) || die "needs root: /etc/hosts is replaced in a private mount namespace"

here=$(cd "$(dirname -- "$0")" && pwd)
hosts=$T/hosts
point() {  # ADDRESS, or "" for no entry; rewrites the file in place
  if [[ -n $1 ]]; then printf '127.0.0.1 localhost\n%s pg.sluice.test\n' "$1" >"$hosts"
  else printf '127.0.0.1 localhost\n' >"$hosts"; fi
}
point 127.0.0.1
chmod 644 "$hosts"
SLUICE_WRAP=("$here/with_hosts.sh" "$hosts")
export SLUICE_DATABASES="bench = host=pg.sluice.test port=$PGPORT dbname=bench"
# Plaintext passwords: each user is a pool of its own, so its first query needs a new server
# connection, and so a lookup or the cache (which all pools share).
printf '"bench" "bench"\n"md5user" "md5pw"\n"plainuser" "plainpw"\n' >"$T/userlist.txt"
export SLUICE_USERLIST=$T/userlist.txt
declare -A pw=([bench]=bench [md5user]=md5pw [plainuser]=plainpw)
try() { qu "$SLUICE_PORT" "$1" "${pw[$1]}" bench "select $2" 2>&1; }
# A server that cannot be reached keeps its pool's clients queued (until query_wait_timeout,
# 2 s below); why each try failed is in the log, per pool.
failed_for() {  # USER PATTERN
  grep -qE "bench/$1@pg.sluice.test:$PGPORT closing because: connect failed: .*$2" "$SLUICE_LOG"
}

# A long dns_max_ttl: after the name moves to a dead address, new server connections still
# go to the address first looked up.
start_sluice dns_max_ttl=3600 dns_nxdomain_ttl=3600 server_login_retry=0
[[ $(try bench 1) == 1 ]] || die "no query through pg.sluice.test"
point 127.0.0.2
out=$(try md5user 2)
[[ $out == 2 ]] || die "the cached address was not reused: $out"
stop_sluice

# RECONNECT forgets the cached addresses of the hosts it reconnects to: after a failover that
# moved the name, the new servers go where the name points now.
point 127.0.0.1
start_sluice dns_max_ttl=3600 dns_nxdomain_ttl=3600 server_login_retry=0 admin_users=bench \
  query_wait_timeout=1
[[ $(try bench 1) == 1 ]] || die "no query through pg.sluice.test"
point 127.0.0.2
out=$(qu "$SLUICE_PORT" bench bench pgbouncer 'RECONNECT bench' 2>&1) || die "RECONNECT failed: $out"
out=$(try bench 2)
[[ $out != 2 ]] || die "after RECONNECT the cached address was still used"
# The pool has logged in before, so its clients wait out query_wait_timeout while the new
# servers' connections to 127.0.0.2 are refused.
grep -q 'query_wait_timeout' <<<"$out" || die "expected query_wait_timeout: $out"
grep -q 'closing because: connect failed: Connection refused' "$SLUICE_LOG" ||
  die "no server connection was tried at the new address: $(tail -5 "$SLUICE_LOG")"
stop_sluice

# dns_max_ttl = 0: every new server connection looks the name up again.
point 127.0.0.1
start_sluice dns_max_ttl=0 dns_nxdomain_ttl=0 server_login_retry=0 query_wait_timeout=2
[[ $(try bench 3) == 3 ]] || die "no query through pg.sluice.test"
point 127.0.0.2
out=$(try md5user 4)
[[ $out != 4 ]] || die "with dns_max_ttl = 0 the old address was used"
grep -q "query_wait_timeout" <<<"$out" || die "expected the client to wait out query_wait_timeout: $out"
failed_for md5user refused || die "expected a refused connection to 127.0.0.2: $(tail -5 "$SLUICE_LOG")"
stop_sluice

# A failed lookup is reused for dns_nxdomain_ttl: the name added later is not seen...
point ''
start_sluice dns_max_ttl=3600 dns_nxdomain_ttl=3600 server_login_retry=0 query_wait_timeout=2
out=$(try bench 5)
[[ $out != 5 ]] || die "a query worked with pg.sluice.test missing from /etc/hosts"
failed_for bench 'Host not found' || die "expected a lookup failure: $out; $(tail -3 "$SLUICE_LOG")"
point 127.0.0.1
out=$(try md5user 6)
[[ $out != 6 ]] || die "the failed lookup was not reused for dns_nxdomain_ttl"
failed_for md5user 'Host not found' || die "expected the cached lookup failure: $out"
stop_sluice
# ...and with dns_nxdomain_ttl = 0 it is seen at once.
point ''
start_sluice dns_max_ttl=3600 dns_nxdomain_ttl=0 server_login_retry=0 query_wait_timeout=2
out=$(try bench 7)
[[ $out != 7 ]] || die "a query worked with pg.sluice.test missing from /etc/hosts"
point 127.0.0.1
out=$(try md5user 8)
[[ $out == 8 ]] || die "with dns_nxdomain_ttl = 0 the name added was not looked up: $out"
stop_sluice
pass
