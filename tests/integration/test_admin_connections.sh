#!/usr/bin/env bash
# SHOW CLIENTS, SERVERS, SOCKETS, ACTIVE_SOCKETS, FDS, MEM on the admin console: a client in a
# transaction is listed as active with a link to the server SHOW SERVERS lists under that
# ptr (with the backend's pid); the console's own session is listed; ids are stable; the
# columns are pgbouncer's, in order; FDS never shows a password; with two shards every
# server of both is listed exactly once, and a queued client is "waiting".
source "$(dirname -- "$0")/lib.sh"

# pgbouncer 1.25's columns (read from the running binary), in order.
declare -A want=(
  [CLIENTS]=type,user,database,replication,state,addr,port,local_addr,local_port,connect_time,request_time,wait,wait_us,close_needed,ptr,link,remote_pid,tls,application_name,prepared_statements,id
  [SERVERS]=type,user,database,replication,state,addr,port,local_addr,local_port,connect_time,request_time,wait,wait_us,close_needed,ptr,link,remote_pid,tls,application_name,prepared_statements,id
  [SOCKETS]=type,user,database,replication,state,addr,port,local_addr,local_port,connect_time,request_time,wait,wait_us,close_needed,ptr,link,remote_pid,tls,application_name,prepared_statements,id,recv_pos,pkt_pos,pkt_remain,send_pos,send_remain,pkt_avail,send_avail
  [ACTIVE_SOCKETS]=type,user,database,replication,state,addr,port,local_addr,local_port,connect_time,request_time,wait,wait_us,close_needed,ptr,link,remote_pid,tls,application_name,prepared_statements,id,recv_pos,pkt_pos,pkt_remain,send_pos,send_remain,pkt_avail,send_avail
  [FDS]=fd,task,user,database,addr,port,cancel,link,client_encoding,std_strings,datestyle,timezone,password,scram_client_key,scram_server_key
  [MEM]=name,size,used,free,memtotal
)

adm() {  # SQL [psql args]: the console, as bench, rows as a|b|c
  PGPASSWORD=bench psql -X -tA -F'|' -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$SLUICE_PORT" -U bench \
    -d pgbouncer -c "$1" "${@:2}"
}
# field N of the row whose type/user/database/state are given (C|bench|bench|active)
field() {  # ROWS N AWK-CONDITION
  awk -F'|' "$3 { print \$$2 }" <<<"$1"
}

# ---------------------------------------------------------------- one shard
start_sluice admin_users=bench stats_users=plainuser sluice.workers=1 default_pool_size=5

for cmd in "${!want[@]}"; do
  got=$(PGPASSWORD=bench psql -X -A -F, -h 127.0.0.1 -p "$SLUICE_PORT" -U bench -d pgbouncer \
    -c "SHOW $cmd" | sed -n 1p) || die "SHOW $cmd failed"
  [[ $got == "${want[$cmd]}" ]] || die "SHOW $cmd columns: got '$got', want '${want[$cmd]}'"
done

sess_open A "$SLUICE_PORT"
sess_expect A "begin;"
sess_expect A "select pg_backend_pid();"
pid_a=$SESS_OUT
[[ $pid_a =~ ^[0-9]+$ ]] || die "expected a backend pid, got '$pid_a'"

clients=$(adm "SHOW CLIENTS") || die "SHOW CLIENTS failed"
servers=$(adm "SHOW SERVERS") || die "SHOW SERVERS failed"
row=$(field "$clients" 0 '$1=="C" && $2=="bench" && $3=="bench"')
(($(grep -c . <<<"$row") == 1)) || die "expected one bench/bench client, got: $clients"
[[ $(field "$clients" 5 '$3=="bench"') == active ]] || die "the client in a transaction is not active: $row"
c_ptr=$(field "$clients" 15 '$3=="bench"')
c_link=$(field "$clients" 16 '$3=="bench"')
c_id=$(field "$clients" 21 '$3=="bench"')
[[ $c_ptr == 0x* && $c_link == 0x* ]] || die "client ptr/link not pointers: $row"
[[ $(field "$clients" 10 '$3=="bench"') =~ ^[0-9]{4}-[0-9]{2}-[0-9]{2}\ [0-9]{2}:[0-9]{2}:[0-9]{2}\ [A-Z+0-9-]+$ ]] ||
  die "connect_time not in pgbouncer's format: $row"
srow=$(field "$servers" 0 "\$15==\"$c_link\"")
[[ -n $srow ]] || die "no server with ptr $c_link in SHOW SERVERS: $servers"
[[ $(field "$servers" 1 "\$15==\"$c_link\"") == S ]] || die "not a server row: $srow"
[[ $(field "$servers" 5 "\$15==\"$c_link\"") == active ]] || die "linked server not active: $srow"
[[ $(field "$servers" 16 "\$15==\"$c_link\"") == "$c_ptr" ]] || die "server's link is not the client: $srow"
[[ $(field "$servers" 17 "\$15==\"$c_link\"") == "$pid_a" ]] ||
  die "server remote_pid is not the session's backend pid $pid_a: $srow"
s_id=$(field "$servers" 21 "\$15==\"$c_link\"")

# The console's own session.
grep -q '^C|bench|pgbouncer|' <<<"$clients" || die "the console session is not listed: $clients"

# Stable ids between two SHOWs.
clients2=$(adm "SHOW CLIENTS") || die "SHOW CLIENTS failed"
servers2=$(adm "SHOW SERVERS") || die "SHOW SERVERS failed"
[[ $(field "$clients2" 21 '$3=="bench"') == "$c_id" && -n $c_id ]] || die "client id changed: $c_id vs $clients2"
[[ $(field "$servers2" 21 "\$15==\"$c_link\"") == "$s_id" && -n $s_id ]] || die "server id changed: $s_id vs $servers2"

# SOCKETS lists both ends; ACTIVE_SOCKETS lists the link in flight.
for cmd in SOCKETS ACTIVE_SOCKETS; do
  out=$(adm "SHOW $cmd") || die "SHOW $cmd failed"
  [[ -n $(field "$out" 0 "\$1==\"C\" && \$15==\"$c_ptr\" && \$5==\"cl_active\"") ]] || die "SHOW $cmd lacks the client: $out"
  [[ -n $(field "$out" 0 "\$1==\"S\" && \$15==\"$c_link\" && \$5==\"sv_active\"") ]] || die "SHOW $cmd lacks the server: $out"
done

# FDS: one row per fd, the client's link is its server's fd, and no secret anywhere.
fds=$(adm "SHOW FDS") || die "SHOW FDS failed"
c_fd_link=$(field "$fds" 8 '$2=="client" && $4=="bench"')
s_fd=$(field "$fds" 1 '$2=="server" && $4=="bench"')
[[ -n $s_fd && $c_fd_link == "$s_fd" ]] || die "FDS: client link '$c_fd_link' is not the server fd '$s_fd': $fds"
while IFS= read -r line; do
  secret=$(sed -E 's/^"[^"]*" "(.*)"$/\1/' <<<"$line")
  [[ -n $secret ]] || continue
  ! grep -qF -- "$secret" <<<"$fds" || die "SHOW FDS shows a password from the userlist"
  ! grep -qF -- "$secret" <<<"$(adm 'SHOW SOCKETS')" || die "SHOW SOCKETS shows a password"
done <"$SLUICE_DIR/userlist.txt"
grep -q 'SCRAM-SHA-256\|md5[0-9a-f]\{32\}' <<<"$fds" && die "SHOW FDS shows a password hash"

# A stats user may SHOW the connections, but not FDS (cancel keys), as in pgbouncer.
PGPASSWORD=plainpw psql -X -tA -h 127.0.0.1 -p "$SLUICE_PORT" -U plainuser -d pgbouncer \
  -c "SHOW CLIENTS" | grep -q '^C|bench|bench|' || die "a stats user cannot SHOW CLIENTS"
out=$(PGPASSWORD=plainpw psql -X -tA -h 127.0.0.1 -p "$SLUICE_PORT" -U plainuser -d pgbouncer \
  -c "SHOW FDS" 2>&1) && die "a stats user ran SHOW FDS: $out"
grep -q "admin access needed" <<<"$out" || die "SHOW FDS as a stats user: $out"

mem=$(adm "SHOW MEM") || die "SHOW MEM failed"
(($(field "$mem" 3 '$1=="client_session"') >= 2)) || die "SHOW MEM: client_session used < 2: $mem"
(($(field "$mem" 3 '$1=="server_conn"') >= 1)) || die "SHOW MEM: no server_conn: $mem"

# After the transaction the server is idle and unlinked, the client idle.
sess_expect A "commit;"
clients=$(adm "SHOW CLIENTS")
servers=$(adm "SHOW SERVERS")
[[ $(field "$clients" 5 '$3=="bench"') == idle ]] || die "client not idle after commit: $clients"
[[ $(field "$servers" 5 "\$15==\"$c_link\"") == idle && -z $(field "$servers" 16 "\$15==\"$c_link\"") ]] ||
  die "server not idle and unlinked after commit: $servers"
[[ -z $(field "$(adm 'SHOW ACTIVE_SOCKETS')" 0 "\$15==\"$c_link\"") ]] ||
  die "an idle server is in ACTIVE_SOCKETS"
sess_close A
stop_sluice

# ---------------------------------------------------------------- two shards
start_sluice admin_users=bench sluice.workers=2 default_pool_size=2 reserve_pool_size=0 \
  query_wait_timeout=30
# Consecutive accepts go to different shards (round robin).
sess_open A2 "$SLUICE_PORT"
sess_open B2 "$SLUICE_PORT"
sess_expect A2 "begin; select pg_backend_pid();"
pid_a=$(tail -n1 <<<"$SESS_OUT")
sess_expect B2 "begin; select pg_backend_pid();"
pid_b=$(tail -n1 <<<"$SESS_OUT")
[[ $pid_a =~ ^[0-9]+$ && $pid_b =~ ^[0-9]+$ && $pid_a != "$pid_b" ]] || die "backend pids '$pid_a' '$pid_b'"
servers=$(adm "SHOW SERVERS")
for p in "$pid_a" "$pid_b"; do
  [[ $(field "$servers" 5 "\$17==\"$p\"") == active ]] || die "backend $p not listed as an active server: $servers"
done

# A third client queues: it is "waiting", with a waiting time.
sess_open C2 "$SLUICE_PORT"
rc=0
sess_run C2 "select 'c-done';" 1 || rc=$?
((rc == 2)) || die "the third client was not queued (rc $rc): $SESS_OUT"
wait_until 10 "a waiting client" bash -c \
  "PGPASSWORD=bench psql -X -tA -F'|' -h 127.0.0.1 -p $SLUICE_PORT -U bench -d pgbouncer -c 'SHOW CLIENTS' | grep -q '^C|bench|bench|none|waiting|'" ||
  die "no waiting client in SHOW CLIENTS: $(adm 'SHOW CLIENTS')"
grep -q "^C|bench|bench|none|cl_waiting|" <<<"$(adm 'SHOW ACTIVE_SOCKETS')" || die "the waiting client is not in ACTIVE_SOCKETS"

# A's server goes to C (possibly handed over to C's shard); B keeps its own.
sess_expect A2 "commit;"
sess_expect C2 "select 'c-done';"
[[ $(tail -n1 <<<"$SESS_OUT") == c-done ]] || die "C did not run its query: $SESS_OUT"
sess_expect B2 "commit;"
servers=$(adm "SHOW SERVERS")
n=$(grep -c '^S|bench|bench|' <<<"$servers")
((n == 2)) || die "expected each of the 2 servers once in SHOW SERVERS, got $n: $servers"
[[ $(field "$servers" 17 '$1=="S"' | sort -n | tr '\n' ' ') == "$(printf '%s\n' "$pid_a" "$pid_b" | sort -n | tr '\n' ' ')" ]] ||
  die "SHOW SERVERS' remote_pids are not the two backends $pid_a $pid_b: $servers"
(($(server_conns) == 2)) || die "expected 2 server connections in PostgreSQL, found $(server_conns)"

sess_close A2
sess_close B2
sess_close C2
pass "clients, servers, sockets, fds, mem"
