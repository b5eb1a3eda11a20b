#!/usr/bin/env bash
# The admin console (`pgbouncer` database): who may log in (admin_users, stats_users, user
# pgbouncer over the Unix socket from sluice's own OS user), what stats users may not do,
# statements split at semicolons, SELECT x as SHOW x, pgbouncer's errors, the extended
# protocol (psycopg 3 with its defaults), and the columns of every SHOW it answers equal to
# current pgbouncer's, in order.
source "$(dirname -- "$0")/lib.sh"

REF=$(dirname -- "$0")/data/pgbouncer-show-columns.txt
[[ -f $REF ]] || die "missing $REF"

printf '"bench" "bench"\n"watcher" "watcherpw"\n"plain" "plainpw"\n' >"$T/userlist.txt"
export SLUICE_USERLIST=$T/userlist.txt
SOCK=$T/sock
mkdir -p "$SOCK"
((IS_ROOT)) && chown postgres:postgres "$SOCK"
start_sluice auth_type=plain admin_users=bench stats_users=watcher "unix_socket_dir=$SOCK"

adm() {  # USER PASSWORD SQL [psql args]: through TCP
  PGPASSWORD=$2 psql -X -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$SLUICE_PORT" -U "$1" -d pgbouncer -c "$3" "${@:4}" 2>&1
}

# ---- who may log in
out=$(adm bench bench 'SHOW VERSION') || die "admin user refused: $out"
[[ $out == "$("$SLUICE_BIN" -V | head -1)" ]] || die "SHOW VERSION says '$out'"
[[ $(adm bench bench 'select version') == "$out" ]] || die "SELECT VERSION differs from SHOW VERSION"
adm watcher watcherpw 'SHOW POOLS' >/dev/null || die "stats user cannot SHOW"
out=$(adm watcher watcherpw 'RELOAD') && die "stats user ran RELOAD: $out"
grep -q 'admin access needed' <<<"$out" || die "stats user RELOAD refused without pgbouncer's text: $out"
# Every command that changes something is refused to a stats user, and changes nothing.
for cmd in 'RELOAD' 'PAUSE' 'PAUSE bench' 'RESUME' 'SUSPEND' 'DISABLE bench' 'ENABLE bench' \
  'RECONNECT' 'KILL bench' 'KILL_CLIENT 1' 'WAIT_CLOSE' 'SHUTDOWN' 'SHUTDOWN WAIT_FOR_CLIENTS' \
  'SET default_pool_size = 1' 'SET admin_users = watcher' 'SHOW FDS'; do
  out=$(adm watcher watcherpw "$cmd") && die "stats user ran $cmd: $out"
  grep -q 'admin access needed' <<<"$out" || die "stats user's $cmd refused without 'admin access needed': $out"
done
out=$(adm watcher watcherpw 'SET client_encoding = UTF8') || die "a driver's SET refused to a stats user: $out"
proc_alive "$SLUICE_PID" || die "sluice stopped after a stats user's SHUTDOWN"
adm bench bench 'SHOW STATE' | grep -qx 'paused|no' || die "paused after a stats user's PAUSE"
out=$(adm bench bench "SHOW DATABASES" | awk -F"|" '$1=="bench" {print $16 $17}')
[[ $out == 00 ]] || die "bench paused or disabled after a stats user's commands: $out"
adm bench bench 'SHOW CONFIG' | grep -qx 'default_pool_size|5|20|yes' || die "a stats user's SET took effect"
q "$SLUICE_PORT" 'select 1' >/dev/null || die "bench cannot query after a stats user's commands"
out=$(adm plain plainpw 'SHOW POOLS') && die "a user in neither list got in: $out"
grep -q 'not allowed' <<<"$out" || die "non-admin refused without 'not allowed': $out"
out=$(adm bench wrong 'SHOW POOLS') && die "a wrong password got in"
grep -q 'password authentication failed' <<<"$out" || die "wrong password: $out"
# user pgbouncer over the socket, from sluice's own OS user, needs no password; over TCP it
# is just a user that auth_file does not know.
out=$("${AS_PG[@]}" psql -X -At -h "$SOCK" -p "$SLUICE_PORT" -U pgbouncer -d pgbouncer -c 'SHOW STATE' 2>&1) ||
  die "pgbouncer over the socket refused: $out"
grep -qx 'paused|no' <<<"$out" || die "SHOW STATE over the socket: $out"
grep -q 'pgbouncer access from unix socket' "$SLUICE_LOG" || die "no log line for the socket login"
out=$(adm pgbouncer x 'SHOW STATE') && die "pgbouncer over TCP got in without a password"

# ---- statements, errors
out=$(adm bench bench 'SHOW STATE; SHOW VERSION') || die "two statements: $out"
grep -qx 'active|yes' <<<"$out" && grep -qx "$("$SLUICE_BIN" -V | head -1)" <<<"$out" ||
  die "two statements did not both answer: $out"
out=$(adm bench bench 'SHOW NOSUCH') && die "SHOW NOSUCH succeeded"
grep -qF "invalid command 'SHOW NOSUCH', use SHOW HELP;" <<<"$out" || die "unknown SHOW: $out"
out=$(adm bench bench 'PAUSE(') && die "PAUSE( succeeded"
[[ $(adm bench bench 'RELOAD') == RELOAD ]] || die "RELOAD did not answer with its tag"
out=$(PGPASSWORD=bench psql -X -h 127.0.0.1 -p "$SLUICE_PORT" -U bench -d pgbouncer -c 'SHOW HELP' 2>&1)
grep -q 'SHOW HELP|CONFIG|DATABASES' <<<"$out" || die "SHOW HELP: $out"
adm bench bench 'SHOW CONFIG' | grep -qx 'admin_users|bench||yes' || die "SHOW CONFIG lacks admin_users"
adm bench bench 'SHOW CONFIG' | grep -qx 'auth_type|plain|md5|yes' || die "SHOW CONFIG lacks auth_type"
q "$SLUICE_PORT" 'select 1' >/dev/null || die "bench cannot query"
adm bench bench 'SHOW POOLS' | grep -q '^bench|bench|' || die "SHOW POOLS lacks bench/bench"
adm bench bench 'SHOW DATABASES' | grep -q "^bench|127.0.0.1|$PGPORT|bench|" || die "SHOW DATABASES lacks bench"
adm bench bench 'SHOW USERS' | grep -q '^watcher|' || die "SHOW USERS lacks watcher"

# ---- columns, in pgbouncer's order, for every SHOW the console answers
while IFS=: read -r cmd want; do
  [[ -z $cmd || $cmd == \#* ]] && continue
  got=$(PGPASSWORD=bench psql -X -A -F, -h 127.0.0.1 -p "$SLUICE_PORT" -U bench -d pgbouncer -c "SHOW $cmd" 2>&1)
  header=$(sed -n 1p <<<"$got")
  [[ $header == "${want// /}" || $header == "${want// /},"* ]] ||
    die "SHOW $cmd columns: got '$header', want '${want// /}'"
done <"$REF"

# ---- the extended protocol: psycopg 3 with its defaults (server-side Parse/Bind/Execute)
/usr/bin/python3 - "$SLUICE_PORT" <<'PY' || die "psycopg on the console failed"
import sys, psycopg
c = psycopg.connect(f"host=127.0.0.1 port={sys.argv[1]} user=bench password=bench dbname=pgbouncer",
                    autocommit=True)
rows = c.execute("SHOW POOLS").fetchall()
assert any(r[0] == "bench" and r[1] == "bench" for r in rows), rows
cur = c.execute("SHOW VERSION")
assert [d.name for d in cur.description] == ["version"], cur.description
assert cur.fetchone()[0].startswith("sluice "), "version"
assert c.execute("RELOAD").statusmessage == "RELOAD"
try:
    c.execute("SHOW NOSUCH")
    raise SystemExit("SHOW NOSUCH succeeded")
except psycopg.Error as e:
    assert "invalid command" in str(e), e
assert c.execute("SHOW STATE").fetchall()[0] == ("active", "yes")  # usable after an error
# a prepared statement, described then executed twice
with c.cursor() as cur:
    cur.execute("SHOW LISTS", prepare=True)
    cur.execute("SHOW LISTS", prepare=True)
    assert any(r[0] == "pools" for r in cur.fetchall())
PY
stop_sluice
pass
