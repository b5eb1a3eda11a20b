#!/usr/bin/env bash
# Peering (pgbouncer's peer_id and [peers]): three sluice processes that list each other. A
# cancel request that reaches a process other than the one holding its client is forwarded
# to the right one; forged keys cancel nothing; a key whose TTL is spent is dropped, so a
# cancel cannot loop; peers added, changed and removed by a reload take effect; SHOW PEERS
# and SHOW PEER_POOLS show them.
source "$(dirname -- "$0")/lib.sh"

declare -a PORT PID INI LOG
for i in 1 2 3; do PORT[i]=$(free_port) || die "free_port failed"; done
peers_section() {  # the [peers] every process starts with, peer 2 of process 3 at a dead port
  echo "[peers]"
  for j in 1 2 3; do echo "$j = host=127.0.0.1 port=${PORT[j]}"; done
}
for i in 1 2 3; do
  extra=$(peers_section)
  # Process 3 starts with a wrong address for peer 2 and a peer 9 pointing back at process 1
  # (which sends peer 9's cancels to process 3): a loop only the TTL ends.
  if ((i == 3)); then
    dead=$(free_port)
    extra=${extra/"2 = host=127.0.0.1 port=${PORT[2]}"/"2 = host=127.0.0.1 port=$dead"}
    extra+=$'\n'"9 = host=127.0.0.1 port=${PORT[1]}"
  elif ((i == 1)); then
    extra+=$'\n'"9 = host=127.0.0.1 port=${PORT[3]}"
  fi
  http=()
  ((i == 2)) && HTTP2=$(free_port) && http=(sluice.http_listen_port="$HTTP2")
  SLUICE_FIXED_PORT=${PORT[i]} SLUICE_EXTRA_INI=$extra start_sluice peer_id=$i admin_users=bench \
    default_pool_size=4 sluice.workers=2 "${http[@]}"
  PID[i]=$SLUICE_PID INI[i]=$SLUICE_INI LOG[i]=$SLUICE_LOG
done
PC="$(dirname -- "$0")/peer_cancel.py"
adm() { qu "$1" bench bench pgbouncer "$2" -F' '; }

# SHOW PEERS: every entry, this process's own included; pool_size defaults to default_pool_size.
out=$(adm "${PORT[1]}" "show peers") || die "show peers failed: $out"
[[ $out == "1 127.0.0.1 ${PORT[1]} 4"$'\n'"2 127.0.0.1 ${PORT[2]} 4"$'\n'"3 127.0.0.1 ${PORT[3]} 4"$'\n'"9 127.0.0.1 ${PORT[3]} 4" ]] ||
  die "SHOW PEERS on process 1: $out"

# 1. Cancels between processes 1 and 2, both ways, and from 3 to 1 and 1/2 to 3.
python3 "$PC" cross "${PORT[1]}" "${PORT[2]}" || die "cancels between processes 1 and 2 failed"
python3 "$PC" cross "${PORT[1]}" "${PORT[3]}" || die "cancels between processes 1 and 3 failed"
out=$(adm "${PORT[2]}" "show peer_pools") || die "show peer_pools failed"
# Idle pools: a row per peer other than this process, nothing in flight.
[[ $out == "1 0 0 0 0"$'\n'"3 0 0 0 0" ]] || die "SHOW PEER_POOLS on process 2: $out"
# Process 2 forwarded one cancel to process 1 (for 1's client) and none to 3.
m=$(curl -sf "http://127.0.0.1:$HTTP2/metrics") || die "GET /metrics failed"
grep -qx 'sluice_peer_cancels_forwarded_total{peer_id="1"} 1' <<<"$m" &&
  grep -qx 'sluice_peer_cancels_forwarded_total{peer_id="3"} 0' <<<"$m" ||
  die "/metrics: $(grep sluice_peer_ <<<"$m")"
js=$(curl -sf "http://127.0.0.1:$HTTP2/stats") || die "GET /stats failed"
python3 -c 'import json,sys; p=json.load(sys.stdin)["peers"]; assert [(x["peer_id"], x["self"], x["cancels_forwarded"]) for x in p] == [(1, False, 1), (2, True, 0), (3, False, 0)], p' <<<"$js" ||
  die "/stats peers: $js"

# 2. Process 3 knows peer 2 at a dead port: the forward fails (logged), the query runs on.
#    A reload with the right address makes the same cancel work.
python3 "$PC" dead "${PORT[2]}" "${PORT[3]}" "${LOG[3]}" "cancel request to 127.0.0.1:$dead failed" ||
  die "a cancel for process 2 sent to process 3 while 3 had a wrong address for peer 2"
sed -i "s/^2 = host=127.0.0.1 port=$dead/2 = host=127.0.0.1 port=${PORT[2]} pool_size=2/" "${INI[3]}"
sed -i "/^1 = host=/d" "${INI[3]}"
out=$(adm "${PORT[3]}" "reload") || die "RELOAD on process 3 failed: $out"
out=$(adm "${PORT[3]}" "show peers")
[[ $out == "2 127.0.0.1 ${PORT[2]} 2"$'\n'"3 127.0.0.1 ${PORT[3]} 4"$'\n'"9 127.0.0.1 ${PORT[1]} 4" ]] ||
  die "SHOW PEERS on process 3 after the reload: $out"
python3 "$PC" cross "${PORT[2]}" "${PORT[3]}" || die "cancels between 2 and 3 failed after the reload"

# 3. Forged keys naming each peer, sent to every process: nothing is cancelled.
python3 "$PC" forged "${PORT[1]}" "${PORT[2]}" "${PORT[3]}" || die "forged keys"

# 4. A loop: peer 9 is process 3 for process 1 and process 1 for process 3. The TTL (3) ends
#    it after three forwards.
python3 "$PC" key "${PORT[1]}" $(((9 << 16) | 0x34)) 3 || die "could not send the looping key"
wait_until 10 "the looping cancel to be dropped" \
  grep -qs "cancel request for peer 9 dropped: forwarded too often" "${LOG[1]}" "${LOG[3]}" ||
  die "the looping cancel was not dropped for its TTL"

for i in 1 2 3; do proc_alive "${PID[i]}" || die "process $i died"; done
for i in 3 2 1; do stop_sluice "${PID[i]}"; done
pass "cancels forwarded between 3 peers, forged keys harmless, loop ended by the TTL, reload applied"
