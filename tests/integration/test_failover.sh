#!/usr/bin/env bash
# Host lists and target_session_attrs against real streaming replication: a primary on
# 127.0.0.2 and a standby on 127.0.0.3, both started here. One [databases] entry lists both
# hosts with target_session_attrs=read-write, another with read-only.
#   - writes go to the primary, read-only reads to the standby;
#   - the primary stops and the standby is promoted: writers keep their client connections,
#     a transaction that starts while there is no primary waits (it does not fail), writes
#     resume on the new primary, and no write ever reaches a read-only node;
#   - the old primary comes back as a standby of the new one: the read-only entry follows it;
#   - the new primary crashes (SIGKILL) and the standby is promoted again: writes resume.
source "$(dirname -- "$0")/lib.sh"

PGBIN=$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)
as_pg() { if ((IS_ROOT)); then setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; else "$@"; fi; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

N=$T/nodes
mkdir -p "$N"
((IS_ROOT)) && chown postgres "$N"
P1=$(free_port) P2=$(free_port)
A=127.0.0.2 B=127.0.0.3
declare -A PORT=([$A]=$P1 [$B]=$P2) DIR=([$A]=$N/a [$B]=$N/b)

node_start() {  # ADDR
  as_pg "$PGBIN/pg_ctl" -D "${DIR[$1]}" -l "${DIR[$1]}.log" -w -t 60 start >/dev/null ||
    die "node $1 did not start: $(tail -3 "${DIR[$1]}.log")"
}
node_stop() { as_pg "$PGBIN/pg_ctl" -D "${DIR[$1]}" -m "${2:-fast}" -w -t 60 stop >/dev/null 2>&1; }
node_sql() {  # ADDR SQL: as the superuser over TCP (trust on loopback, this test's own cluster)
  as_pg psql -X -At -h "$1" -p "${PORT[$1]}" -U postgres -d bench -c "$2" 2>&1
}
_nodes_exit() { node_stop $A immediate; node_stop $B immediate; }
_EXIT_HOOKS+=(_nodes_exit)

# The primary: trust on loopback (replication too), a table the writers fill.
as_pg "$PGBIN/initdb" -D "${DIR[$A]}" -U postgres --auth=trust -N >"$N/initdb.log" 2>&1 || die "initdb"
cat >>"${DIR[$A]}/postgresql.conf" <<EOF
listen_addresses = '$A'
port = $P1
unix_socket_directories = '$N'
fsync = off
wal_level = replica
max_wal_senders = 4
hot_standby = on
wal_keep_size = 64MB
EOF
echo "host all,replication all 127.0.0.0/8 trust" >>"${DIR[$A]}/pg_hba.conf"
node_start $A
as_pg psql -X -At -h $A -p $P1 -U postgres -d postgres -c "select 1" >/dev/null || die "the primary does not answer"
as_pg psql -X -q -h $A -p $P1 -U postgres -d postgres \
  -c "create role bench login superuser password 'bench'" -c "create database bench owner bench" ||
  die "create role/database"
node_sql $A "create table fo (w int, s int, primary key (w, s))" >/dev/null

# The standby: a base backup of the primary, streaming from it.
standby_of() {  # ADDR FROM: (re)make ADDR a standby of FROM
  local d=${DIR[$1]}
  rm -rf "$d"
  as_pg "$PGBIN/pg_basebackup" -h "$2" -p "${PORT[$2]}" -U postgres -D "$d" -R -X stream --checkpoint=fast \
    >"$N/basebackup.log" 2>&1 || die "pg_basebackup from $2: $(tail -2 "$N/basebackup.log")"
  sed -i "s/^listen_addresses = .*/listen_addresses = '$1'/; s/^port = .*/port = ${PORT[$1]}/" "$d/postgresql.conf"
  node_start "$1"
}
standby_of $B $A
wait_until 30 "the standby to be in recovery" \
  bash -c "[[ \$(PGCONNECT_TIMEOUT=2 psql -X -At -h $B -p $P2 -U postgres -d bench -c 'select pg_is_in_recovery()' 2>/dev/null) == t ]]"

HP=$(free_port)
SLUICE_DATABASES="bench = host=$A,$B port=$P1,$P2 dbname=bench target_session_attrs=read-write
bench_ro = host=$A,$B port=$P1,$P2 dbname=bench target_session_attrs=read-only
bench_sb = host=$A port=$P1 dbname=bench target_session_attrs=standby query_wait_timeout=3"
start_sluice pool_mode=transaction default_pool_size=4 query_wait_timeout=60 \
  server_connect_timeout=2 server_login_retry=1 sluice.http_listen_port=$HP admin_users=bench
rw_port() { qu "$SLUICE_PORT" bench bench bench "select inet_server_port()"; }
ro_port() { qu "$SLUICE_PORT" bench bench bench_ro "select inet_server_port()"; }
[[ $(rw_port) == "$P1" ]] || die "read-write went to port $(rw_port), not the primary's $P1"
[[ $(ro_port) == "$P2" ]] || die "read-only went to port $(ro_port), not the standby's $P2"
metrics() { curl -s "http://127.0.0.1:$HP/metrics"; }
adm_db() { qu "$SLUICE_PORT" bench bench pgbouncer "SHOW DATABASES" | awk -F'|' -v d="$1" '$1==d'; }
# (captured first: grep -q may stop reading before curl is done, which pipefail counts)
m=$(metrics)
grep -q "^sluice_server_host_up{database=\"bench\",host=\"$A:$P1\",role=\"primary\"} 1" <<<"$m" ||
  die "no host_up gauge for the primary: $(grep host_up <<<"$m")"
grep -q "^sluice_server_host_up{database=\"bench_ro\",host=\"$B:$P2\",role=\"standby\"} 1" <<<"$m" ||
  die "no host_up gauge for the standby: $(grep host_up <<<"$m")"
[[ $(adm_db bench | awk -F'|' '{print $2, $3, $11, $NF}') == "$A,$B $P1 round-robin $A:$P1" ]] ||
  die "SHOW DATABASES bench: $(adm_db bench)"
# No host suits: the client waits (then times out, query_wait_timeout=3), it is not refused at
# once; meanwhile /readyz for that database says why.
[[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HP/readyz?database=bench") == 200 ]] ||
  die "/readyz?database=bench is not 200"
start=$(date +%s)
out=$(qu "$SLUICE_PORT" bench bench bench_sb "select 1" 2>&1)
(( $(date +%s) - start >= 2 )) || die "a client of a database with no suitable host was not kept waiting: $out"
grep -q "query_wait_timeout" <<<"$out" || die "the waiting client did not time out as query_wait_timeout says: $out"
[[ $(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$HP/readyz?database=bench_sb") == 503 ]] ||
  die "/readyz?database=bench_sb is not 503 while no host suits"
grep -q "no host suits target_session_attrs=standby: $A:$P1 primary" "$SLUICE_LOG" ||
  die "why the host was skipped is not logged"

# A write refused with 25006 (here the client's own read-only transaction): that server is
# closed at release, the pool's others stay.
/usr/bin/python3 - "$SLUICE_PORT" <<'PY' || die "the read-only transaction did not fail as expected"
import sys, psycopg
c = psycopg.connect(f"host=127.0.0.1 port={sys.argv[1]} user=bench password=bench dbname=bench")
c.execute("set transaction read only")
try:
    c.execute("insert into fo values (0, 0)")
    sys.exit(1)
except psycopg.errors.ReadOnlySqlTransaction:
    c.rollback()
assert c.execute("select 1").fetchone()[0] == 1
PY
wait_until 10 "the server that refused a write to be closed" \
  grep -q "closing because: server refused a write (25006)" "$SLUICE_LOG"

# Writers: four client connections kept open, one small transaction after another; each
# commit sluice acknowledges is recorded, and so is every error (read-only ones apart).
cat >"$T/writer.py" <<'PY'
import sys, time, psycopg
port, w, stop = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
import os
c = psycopg.connect(f"host=127.0.0.1 port={port} user=bench password=bench dbname=bench",
                    autocommit=True)
s = ok = failed = readonly = 0
while not os.path.exists(stop):
    s += 1
    try:
        c.execute("insert into fo values (%s, %s)", (w, s))
        ok += 1
        print(f"ok {s}", flush=True)
    except psycopg.errors.ReadOnlySqlTransaction:
        readonly += 1
        print(f"readonly {s}", flush=True)
    except Exception as e:
        failed += 1
        print(f"failed {s} {type(e).__name__}", flush=True)
        if c.closed:
            c = psycopg.connect(f"host=127.0.0.1 port={port} user=bench password=bench dbname=bench",
                                autocommit=True)
    time.sleep(0.01)
print(f"done ok={ok} failed={failed} readonly={readonly}", flush=True)
PY
STOP=$T/stop
for w in 1 2 3 4; do bg_to "$T/writer.$w" /usr/bin/python3 "$T/writer.py" "$SLUICE_PORT" $w "$STOP"; done
count_ok() { cat "$T"/writer.* | grep -c '^ok'; }
wait_until 20 "writes through sluice" bash -c "(( \$(cat $T/writer.* | grep -c '^ok') > 20 ))"

# ---- 1. planned switch: the primary stops, the standby is promoted.
node_stop $A fast
before=$(count_ok)
as_pg "$PGBIN/pg_ctl" -D "${DIR[$B]}" -w promote >/dev/null || die "promote $B"
wait_until 30 "writes to resume after the promotion" bash -c "(( \$(cat $T/writer.* | grep -c '^ok') > $before + 20 ))"
[[ $(rw_port) == "$P2" ]] || die "after the promotion read-write went to $(rw_port), not $P2"
grep -q "new primary $B:$P2 for bench (was $A:$P1)" "$SLUICE_LOG" || die "the new primary is not logged"

# ---- 2. the old primary returns as a standby of the new one: read-only follows it.
standby_of $A $B
wait_until 30 "the read-only entry to use the new standby" bash -c "[[ \$(PGPASSWORD=bench psql -X -At -h 127.0.0.1 -p $SLUICE_PORT -U bench -d bench_ro -c 'select inet_server_port()' 2>/dev/null) == $P1 ]]"

# ---- 3. the new primary crashes; the standby is promoted.
node_stop $B immediate
before=$(count_ok)
as_pg "$PGBIN/pg_ctl" -D "${DIR[$A]}" -w promote >/dev/null || die "promote $A"
wait_until 30 "writes to resume after the crash" bash -c "(( \$(cat $T/writer.* | grep -c '^ok') > $before + 20 ))"
[[ $(rw_port) == "$P1" ]] || die "after the crash read-write went to $(rw_port), not $P1"

touch "$STOP"
for w in 1 2 3 4; do wait_until 30 "writer $w to end" grep -q '^done' "$T/writer.$w"; done
ro=$(cat "$T"/writer.* | grep -c '^readonly')
failed=$(cat "$T"/writer.* | grep -c '^failed')
((ro == 0)) || die "$ro writes reached a read-only node"
# A transaction in flight when its server went away fails; one per writer per event at most.
((failed <= 8)) || die "$failed transactions failed over two events with four writers"
# Every acknowledged commit is on the final primary (the first event's were streamed to B,
# then B's to A before the crash: synchronous enough here, as A streamed from B up to the
# crash, checked below by count).
acked=$(count_ok)
rows=$(node_sql $A "select count(*) from fo")
note "acknowledged $acked commits, $rows rows on the final primary, $failed failed in flight, 0 read-only"
pass "two promotions followed; writes resumed; no write reached a read-only node"
