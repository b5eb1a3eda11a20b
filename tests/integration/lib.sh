# shellcheck shell=bash
# lib.sh: sourced by every tests/integration/test_*.sh.
#
# Environment (set by CTest, see tests/CMakeLists.txt):
#   SLUICE_TEST_STATE  the state file written by pg_fixture.sh start (PGDIR PGPORT PGHOST PGSOCK)
#   SLUICE_BIN         the sluice binary
#
# What it provides:
#   die MSG / note MSG / pass [MSG]      report; die exits 1
#   T                                    a per-test temp dir, removed on exit
#   start_sluice [key=value ...]         writes a pgbouncer.ini and starts sluice as postgres;
#                                        sets SLUICE_PORT SLUICE_PID SLUICE_LOG SLUICE_INI
#                                        (key=value lines override [pgbouncer] defaults;
#                                        "sluice.key=value" goes to the [sluice] section;
#                                        $SLUICE_USERLIST, if set, is the userlist to use and
#                                        $SLUICE_DATABASES the [databases] lines; with
#                                        $SLUICE_TOML set, sluice runs from the sluice.toml
#                                        that --convert-config makes of that ini;
#                                        SLUICE_WRAP, an array, is a command prefix run as
#                                        root before sluice, which it must exec)
#   stop_sluice [PID]                    SIGQUIT and wait for the exit (sanitizer exit checks
#                                        run), SIGKILL after 5 s (60 s in a sanitizer build,
#                                        where a kill fails the test); all of them on exit
#   q PORT SQL [psql args]               psql -At through sluice as bench/bench, db bench
#   qu PORT USER PASSWORD DB SQL [args]  the same as someone else
#   pg_direct SQL [DB]                   psql -At straight to postgres (Unix socket, postgres)
#   server_conns                         bench client backends in pg_stat_activity
#   wait_until SECS DESC CMD...          polls CMD every 0.1 s until it succeeds or dies
#   fake_pg_start MODE / fake_conns      a misbehaving server (fake_pg.py): FAKE_PORT, and
#                                        how many connections it has accepted
#   raw PORT USER DB ACTION...           pgclient.py: raw protocol, prints what comes back
#   proc_alive PID / wait_gone PID SECS  process checks (zombies count as gone)
#   _EXIT_HOOKS+=(FN)                    FN runs on exit, after every process is stopped
#   bg CMD...                            starts CMD in the background, killed on exit; BG_PID
#   bg_to FILE CMD...                    the same, output to FILE
#   sess_open NAME PORT [VAR=VAL ...]    an interactive psql (bench/bench) kept open, on
#                                        database $SESS_DB (default bench)
#   sess_run NAME SQL [SECS]             sends SQL, waits for its output: SESS_OUT;
#                                        returns 0 done, 1 psql exited, 2 deadline
#   sess_pid NAME / sess_close NAME      psql's pid / end it (EOF, then kill)
#
# Everything a test starts is stopped by the EXIT trap; on failure the trap prints the tail of
# each sluice log and the interactive sessions' transcripts.
#
# Sanitizer builds (-DSLUICE_SANITIZE=..., CTest sets SLUICE_SANITIZE): every process the test
# starts, sluice in the background included, writes its ASan/LSan/UBSan/TSan reports to
# $T/san/ (log_path appended to the caller's *SAN_OPTIONS: the later flag wins, the caller's
# other flags stay); a report a sluice wrote to its stderr instead (UBSan in GCC's
# ASan+UBSan builds) is taken from there. The EXIT trap, after sluice has exited, fails the
# test if any report exists, prints each one's head and copies it next to the caller's own
# log_path (as <log_path>.<test>.<pid>), if the caller set one. In other builds the options
# are unused.

set -u -o pipefail

TEST_NAME=$(basename -- "$0" .sh)

die() {
  echo "FAIL [$TEST_NAME]: $*" >&2
  exit 1
}
note() { echo "[$TEST_NAME] $*"; }
pass() { echo "PASS [$TEST_NAME]${1:+: $1}"; }

# ---- a hermetic libpq environment: nothing from the caller's PG* variables or ~/.psqlrc.
for _v in $(compgen -e); do
  case $_v in PG*) unset "$_v" ;; esac
done
unset _v
export PGCONNECT_TIMEOUT=10 PGGSSENCMODE=disable

[[ -n ${SLUICE_TEST_STATE:-} ]] || die "SLUICE_TEST_STATE is not set (run through ctest)"
[[ -n ${SLUICE_BIN:-} ]] || die "SLUICE_BIN is not set (run through ctest)"
[[ -r $SLUICE_TEST_STATE ]] || die "no state file $SLUICE_TEST_STATE: did the pg_start fixture run?"
[[ -x $SLUICE_BIN ]] || die "SLUICE_BIN=$SLUICE_BIN is not executable"
PGDIR='' PGPORT='' PGHOST='' PGSOCK=''
# shellcheck disable=SC1090
source "$SLUICE_TEST_STATE"
[[ -n $PGPORT && -n $PGSOCK ]] || die "state file $SLUICE_TEST_STATE is incomplete"
[[ -S $PGSOCK/.s.PGSQL.$PGPORT ]] || die "postgres is not running (no socket $PGSOCK/.s.PGSQL.$PGPORT)"

IS_ROOT=0
[[ $(id -u) -eq 0 ]] && IS_ROOT=1

# Runs a command as the postgres OS user (directly when not root).
AS_PG=()
((IS_ROOT)) && AS_PG=(setpriv --reuid=postgres --regid=postgres --init-groups --)

T=$(mktemp -d /tmp/sluice-t.XXXXXX) || die "mktemp failed"
chmod 755 "$T"
((IS_ROOT)) && chown postgres:postgres "$T"
# The postgres user may not be able to reach the build tree (a checkout under /root, say):
# run a copy of the binary from the test's own directory.
install -m 755 "$SLUICE_BIN" "$T/sluice" || die "could not copy $SLUICE_BIN"
SLUICE_BIN=$T/sluice

# ---- sanitizer reports (see the header)
SAN_DIR=$T/san
mkdir -p "$SAN_DIR" || die "mkdir $SAN_DIR failed"
((IS_ROOT)) && chown postgres:postgres "$SAN_DIR"
_san_log_path() {  # VAR: the caller's log_path in $VAR (the last one wins, as in the runtimes)
  local f p='' parts=()
  IFS=$' \t\r,:' read -ra parts <<<"${!1:-}"  # the runtimes' flag separators
  for f in "${parts[@]}"; do [[ $f == log_path=* ]] && p=${f#log_path=}; done
  echo "$p"
}
declare -A _SAN_CALLER=([asan]=$(_san_log_path ASAN_OPTIONS) [ubsan]=$(_san_log_path UBSAN_OPTIONS)
                        [tsan]=$(_san_log_path TSAN_OPTIONS))
# Suppressions: copied here because the postgres user may not reach the source tree.
_SAN_SUPP=$(cd "$(dirname -- "${BASH_SOURCE[0]}")/../sanitizers" 2>/dev/null && pwd)
[[ -n $_SAN_SUPP && -r $_SAN_SUPP/lsan.supp ]] || die "no tests/sanitizers/lsan.supp beside lib.sh"
install -m 644 "$_SAN_SUPP/lsan.supp" "$T/lsan.supp" || die "could not copy lsan.supp"
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}log_path=$SAN_DIR/asan"
# print_suppressions=0: with a log_path, the list of suppressions used would itself be a file.
export LSAN_OPTIONS="${LSAN_OPTIONS:+$LSAN_OPTIONS:}suppressions=$T/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:+$UBSAN_OPTIONS:}log_path=$SAN_DIR/ubsan"
export TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}log_path=$SAN_DIR/tsan"
SLUICE_SANITIZE=${SLUICE_SANITIZE:-}
_SAN_FAILED=''  # set when a sanitized sluice had to be SIGKILLed (its exit checks never ran)

# _san_reports: 0 if no sanitizer report exists; else prints each report's head, copies it to
# the caller's log_path folder and returns 1.
_san_reports() {
  local f base kind dest n=0 d
  # GCC's ASan+UBSan builds: UBSan ignores log_path and writes to stderr (libubsan's call that
  # would set its report file binds to libasan's copy of it). A sluice's stderr is its stdout
  # file here: a report found there becomes a report file like the others.
  for d in "${_SLUICE_DIRS[@]}"; do
    f=$d/stdout
    [[ -f $f ]] || continue
    if grep -qE ': runtime error: ' "$f"; then kind=ubsan
    elif grep -qE 'WARNING: ThreadSanitizer' "$f"; then kind=tsan
    elif grep -qE '^==[0-9]+==ERROR: [A-Za-z]+Sanitizer' "$f"; then kind=asan
    else continue
    fi
    grep -vE '^[0-9]{4}-[0-9]{2}-[0-9]{2} ' "$f" >"$SAN_DIR/$kind.${d##*/}-stderr"
  done
  for f in "$SAN_DIR"/*; do
    [[ -f $f ]] || continue
    n=$((n + 1))
    base=${f##*/}
    kind=${base%%.*}
    echo "---- sanitizer report $f (first 60 lines)" >&2
    head -n 60 "$f" >&2
    dest=${_SAN_CALLER[$kind]:-}
    case $dest in
      '' | stderr | stdout) ;;
      *) mkdir -p -- "$(dirname -- "$dest")" 2>/dev/null
         cp -- "$f" "$dest.$TEST_NAME.${base#*.}" 2>/dev/null ||
           echo "---- could not copy $f to $dest.$TEST_NAME.${base#*.}" >&2 ;;
    esac
  done
  ((n == 0))
}

declare -a _BG_PIDS=() _SLUICE_PIDS=() _SLUICE_DIRS=() _EXIT_HOOKS=()
declare -A _S_FD=() _S_PID=() _S_OUT=() _S_SEEN=() _S_SEQ=()
SLUICE_PORT='' SLUICE_PID='' SLUICE_LOG='' SLUICE_INI='' SLUICE_DIR='' BG_PID='' SESS_OUT=''
declare -a SLUICE_WRAP=()

proc_alive() {
  local pid=$1 stat
  [[ -n $pid ]] || return 1
  stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
  stat=${stat##*) }
  [[ ${stat%% *} != Z ]]
}

# wait_gone PID SECS: 0 once the process is gone (reaped if it is our child); 1 at the deadline.
wait_gone() {
  local pid=$1 deadline=$((SECONDS + $2))
  while proc_alive "$pid"; do
    ((SECONDS >= deadline)) && return 1
    sleep 0.05
  done
  return 0
}

# wait_until SECS DESC CMD...: polls CMD until it succeeds; 1 (and a note) at the deadline.
wait_until() {
  local secs=$1 desc=$2
  shift 2
  local deadline=$((SECONDS + secs))
  until "$@"; do
    if ((SECONDS >= deadline)); then
      note "gave up after ${secs}s waiting for: $desc"
      return 1
    fi
    sleep 0.1
  done
}

free_port() {
  python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

port_open() {  # PORT
  (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Closes the write ends of the sessions' fifos (in a child, so only psql holds them).
_close_sess_fds() {
  local n f
  for n in "${!_S_FD[@]}"; do
    f=${_S_FD[$n]}
    { exec {f}>&-; } 2>/dev/null || true
  done
}

bg() {  # CMD... (a command or a shell function)
  (
    _close_sess_fds
    if declare -F -- "$1" >/dev/null; then
      trap - EXIT INT TERM
      "$@"
      exit
    fi
    exec "$@"
  ) &
  BG_PID=$!
  _BG_PIDS+=("$BG_PID")
}

bg_to() {  # FILE CMD...: bg with stdout and stderr to FILE (CMD is exec'd: BG_PID is its pid)
  local file=$1
  shift
  ( _close_sess_fds; exec "$@" >"$file" 2>&1 ) &
  BG_PID=$!
  _BG_PIDS+=("$BG_PID")
}

_kill_pid() {  # PID: TERM, then KILL
  local pid=$1
  proc_alive "$pid" || return 0
  kill -TERM "$pid" 2>/dev/null
  wait_gone "$pid" 5 || { kill -KILL "$pid" 2>/dev/null; wait_gone "$pid" 5; }
}

# ---- postgres, directly

pg_direct() {  # SQL [DB]
  psql -X -At -v ON_ERROR_STOP=1 -h "$PGSOCK" -p "$PGPORT" -U postgres -d "${2:-postgres}" -c "$1"
}

server_conns() {
  pg_direct "select count(*) from pg_stat_activity where usename = 'bench' and backend_type = 'client backend'"
}

# start_conn_sampler FILE: bench's server connections counted into FILE every 0.1 s while a
# load runs: one psql straight to postgres re-running the count (\watch), so sampling costs no
# connection per sample. Returns once the first sample is in; SAMPLER_PID is the psql.
start_conn_sampler() {
  echo "select count(*) from pg_stat_activity
          where usename = 'bench' and backend_type = 'client backend' \\watch 0.1" >"$1.sql"
  bg_to "$1" psql -X -At -h "$PGSOCK" -p "$PGPORT" -U postgres -d postgres -f "$1.sql"
  SAMPLER_PID=$BG_PID
  wait_until 15 "the first pg_stat_activity sample" grep -q '^[0-9][0-9]*$' "$1" ||
    die "the sampler produced nothing: $(cat "$1")"
}

# ---- a misbehaving server (fake_pg.py)

# fake_pg_start MODE: starts fake_pg.py in MODE; sets FAKE_PORT and FAKE_CONNS (a file with one
# line per connection the fake server accepted).
fake_pg_start() {
  local pf=$T/fake-$1-$RANDOM.port
  bg python3 "$(dirname -- "${BASH_SOURCE[0]}")/fake_pg.py" "$1" "$pf"
  wait_until 10 "fake server ($1) to listen" test -s "$pf" || die "fake_pg.py $1 did not start"
  FAKE_PORT=$(cat "$pf")
  FAKE_CONNS=$pf.conns
}
fake_conns() { [[ -f $FAKE_CONNS ]] && wc -l <"$FAKE_CONNS" || echo 0; }

# raw PORT USER DB ACTION...: pgclient.py's transcript (one line per message received)
raw() {
  python3 "$(dirname -- "${BASH_SOURCE[0]}")/pgclient.py" "$@"
}

# ---- through sluice

qu() {  # PORT USER PASSWORD DB SQL [psql args]
  PGPASSWORD=$3 psql -X -At -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$1" -U "$2" -d "$4" -c "$5" "${@:6}"
}
q() {  # PORT SQL [psql args]
  qu "$1" bench bench bench "$2" "${@:3}"
}

_write_userlist() {  # FILE
  local rows
  rows=$(pg_direct "select rolname, rolpassword from pg_authid
                      where rolname in ('bench', 'md5user') order by rolname" |
    awk -F'|' '{ printf "\"%s\" \"%s\"\n", $1, $2 }') || die "could not read pg_authid"
  [[ $rows == *'"bench" "SCRAM-SHA-256$'* && $rows == *'"md5user" "md5'* ]] ||
    die "unexpected pg_authid contents: $rows"
  printf '%s\n"plainuser" "plainpw"\n' "$rows" >"$1"
}

# start_sluice [key=value ...]
start_sluice() {
  local attempt
  for attempt in 1 2 3; do
    _start_sluice_once "$@" && return 0
    # Only a lost race for the port is retried.
    grep -qi "in use" "$SLUICE_DIR/stdout" "$SLUICE_LOG" 2>/dev/null || break
    note "port $SLUICE_PORT was taken, retrying"
  done
  echo "---- sluice stdout/stderr:" >&2
  cat "$SLUICE_DIR/stdout" >&2 2>/dev/null
  echo "---- sluice log:" >&2
  tail -n 30 "$SLUICE_LOG" >&2 2>/dev/null
  die "sluice did not start (ini: $SLUICE_INI)"
}

_start_sluice_once() {
  local idx=${#_SLUICE_DIRS[@]}
  SLUICE_DIR="$T/sluice$idx"
  mkdir -p "$SLUICE_DIR"
  ((IS_ROOT)) && chown postgres:postgres "$SLUICE_DIR"
  _SLUICE_DIRS+=("$SLUICE_DIR")
  # SLUICE_FIXED_PORT: a port the caller chose (processes that must know each other's).
  SLUICE_PORT=${SLUICE_FIXED_PORT:-$(free_port)} || die "free_port failed"
  SLUICE_INI="$SLUICE_DIR/pgbouncer.ini"
  SLUICE_LOG="$SLUICE_DIR/sluice.log"
  if [[ -n ${SLUICE_USERLIST:-} ]]; then
    cp "$SLUICE_USERLIST" "$SLUICE_DIR/userlist.txt" || die "cannot copy $SLUICE_USERLIST"
  else
    _write_userlist "$SLUICE_DIR/userlist.txt"
  fi

  local -a keys=(listen_addr listen_port unix_socket_dir auth_type auth_file logfile pidfile
                 pool_mode default_pool_size max_client_conn)
  local -A val=(
    [listen_addr]=127.0.0.1 [listen_port]=$SLUICE_PORT [unix_socket_dir]=''
    [auth_type]=scram-sha-256 [auth_file]="$SLUICE_DIR/userlist.txt"
    [logfile]=$SLUICE_LOG [pidfile]="$SLUICE_DIR/sluice.pid"
    [pool_mode]=transaction [default_pool_size]=5 [max_client_conn]=100
  )
  local -a sluice_lines=()
  local a k v
  for a in "$@"; do
    [[ $a == *=* ]] || die "start_sluice: '$a' is not key=value"
    k=${a%%=*} v=${a#*=}
    k=${k//[[:space:]]/}
    v=${v#"${v%%[![:space:]]*}"}
    if [[ $k == sluice.* ]]; then
      sluice_lines+=("${k#sluice.} = $v")
      continue
    fi
    [[ -v "val[$k]" ]] || keys+=("$k")
    val[$k]=$v
  done
  {
    echo "[databases]"
    if [[ -n ${SLUICE_DATABASES:-} ]]; then
      printf '%s\n' "$SLUICE_DATABASES"
    else
      echo "bench = host=127.0.0.1 port=$PGPORT dbname=bench"
    fi
    echo
    echo "[pgbouncer]"
    for k in "${keys[@]}"; do echo "$k = ${val[$k]}"; done
    if ((${#sluice_lines[@]})); then
      echo
      echo "[sluice]"
      printf '%s\n' "${sluice_lines[@]}"
    fi
    # SLUICE_EXTRA_INI: sections of the caller's own, e.g. [peers].
    if [[ -n ${SLUICE_EXTRA_INI:-} ]]; then printf '\n%s\n' "$SLUICE_EXTRA_INI"; fi
  } >"$SLUICE_INI"
  chmod 644 "$SLUICE_INI" "$SLUICE_DIR/userlist.txt"
  if [[ -n ${SLUICE_TOML:-} ]]; then
    # The same settings as sluice.toml, written by --convert-config from the ini just made.
    "$SLUICE_BIN" --convert-config "$SLUICE_INI" >"$SLUICE_DIR/sluice.toml" ||
      die "--convert-config $SLUICE_INI failed"
    chmod 644 "$SLUICE_DIR/sluice.toml"
    SLUICE_INI=$SLUICE_DIR/sluice.toml
  fi

  # Its own session (setsid), so a signal meant for the test never reaches it by accident.
  (
    _close_sess_fds
    exec setsid "${SLUICE_WRAP[@]}" "${AS_PG[@]}" "$SLUICE_BIN" "$SLUICE_INI" </dev/null \
      >"$SLUICE_DIR/stdout" 2>&1
  ) &
  SLUICE_PID=$!
  _SLUICE_PIDS+=("$SLUICE_PID")

  local deadline=$((SECONDS + 10))
  until port_open "$SLUICE_PORT"; do
    if ! proc_alive "$SLUICE_PID"; then
      note "sluice exited during startup"
      return 1
    fi
    if ((SECONDS >= deadline)); then
      note "sluice did not open port $SLUICE_PORT within 10 s"
      return 1
    fi
    sleep 0.05
  done
  # setsid does not fork here (the child is no group leader), so $! is sluice; the pidfile
  # should agree.
  local filepid
  filepid=$(cat "$SLUICE_DIR/sluice.pid" 2>/dev/null || true)
  if [[ $filepid =~ ^[0-9]+$ && $filepid != "$SLUICE_PID" ]]; then
    note "pidfile says $filepid, \$! was $SLUICE_PID: using the pidfile"
    SLUICE_PID=$filepid
    _SLUICE_PIDS+=("$SLUICE_PID")
  fi
  note "sluice pid $SLUICE_PID on 127.0.0.1:$SLUICE_PORT ($*)"
  return 0
}

stop_sluice() {  # [PID]
  local pid=${1:-$SLUICE_PID}
  proc_alive "$pid" || return 0
  # SIGQUIT: sluice exits at once, normally, so the sanitizers' exit-time checks (leaks) run;
  # a SIGKILLed process reports nothing. Under a sanitizer the exit (leak scan, symbolizing)
  # takes longer, so the kill waits longer there and counts as a failure.
  kill -QUIT "$pid" 2>/dev/null
  wait_gone "$pid" "$([[ -n $SLUICE_SANITIZE ]] && echo 60 || echo 5)" && return 0
  kill -KILL "$pid" 2>/dev/null
  wait_gone "$pid" 5
  if [[ -n $SLUICE_SANITIZE ]]; then
    note "sluice $pid did not exit within 60 s of SIGQUIT: killed, its sanitizer exit checks lost"
    _SAN_FAILED=1
  fi
}

# ---- interactive psql sessions: psql reads a fifo we keep open; its output goes to a file.
# Each statement is followed by "\echo MARK" (client-side, nothing reaches the server), so
# the output of one statement is everything before its mark.

sess_open() {  # NAME PORT [VAR=VAL ...]
  local name=$1 port=$2
  shift 2
  [[ -z ${_S_FD[$name]:-} ]] || die "session $name is already open"
  local fifo="$T/sess-$name.in" out="$T/sess-$name.out"
  mkfifo "$fifo" || die "mkfifo failed"
  : >"$out"
  (
    _close_sess_fds
    exec env PGPASSWORD=bench "$@" stdbuf -oL -eL \
      psql -X -At -v ON_ERROR_STOP=0 -h 127.0.0.1 -p "$port" -U bench -d "${SESS_DB:-bench}" \
      <"$fifo" >"$out" 2>&1
  ) &
  _S_PID[$name]=$!
  disown "${_S_PID[$name]}"  # no "Killed" job notices when a test kills it
  local fd
  exec {fd}>"$fifo"
  _S_FD[$name]=$fd
  _S_OUT[$name]=$out
  _S_SEEN[$name]=0
  _S_SEQ[$name]=0
}

sess_pid() { echo "${_S_PID[$1]}"; }

# sess_run NAME SQL [SECS]: SESS_OUT = what psql printed for SQL (stdout and stderr).
sess_run() {
  local name=$1 sql=$2 secs=${3:-30}
  local fd=${_S_FD[$name]} out=${_S_OUT[$name]} pid=${_S_PID[$name]}
  local seq=$((_S_SEQ[$name] + 1))
  _S_SEQ[$name]=$seq
  local mark="__sluice_test_mark_${seq}__"
  local deadline=$((SECONDS + secs)) line='' rc=0
  trap '' PIPE
  printf '%s\n\\echo %s\n' "$sql" "$mark" 1>&"$fd" 2>/dev/null
  trap - PIPE
  while :; do
    line=$(grep -n -x -m1 -F -- "$mark" "$out" | cut -d: -f1)
    [[ -n $line ]] && break
    if ! proc_alive "$pid"; then
      line=$(grep -n -x -m1 -F -- "$mark" "$out" | cut -d: -f1)  # printed just before exiting
      [[ -n $line ]] && break
      rc=1
      break
    fi
    if ((SECONDS >= deadline)); then
      rc=2
      break
    fi
    sleep 0.02
  done
  local from=$((_S_SEEN[$name] + 1))
  if [[ -n $line ]]; then
    SESS_OUT=$(sed -n "${from},$((line - 1))p" "$out")
    _S_SEEN[$name]=$line
  else
    SESS_OUT=$(sed -n "${from},\$p" "$out")
    _S_SEEN[$name]=$(wc -l <"$out")
  fi
  return $rc
}

# sess_expect NAME SQL: runs SQL, dies unless it completed without an error; SESS_OUT set.
sess_expect() {
  local rc=0
  sess_run "$1" "$2" || rc=$?
  case $rc in
    1) die "session $1: psql exited while running '$2'; output: ${SESS_OUT:-<none>}" ;;
    2) die "session $1: no answer to '$2' within the deadline; output so far: ${SESS_OUT:-<none>}" ;;
  esac
  if grep -qE '(ERROR|FATAL|PANIC):|server closed the connection|connection to server' <<<"$SESS_OUT"; then
    die "session $1: '$2' failed: $SESS_OUT"
  fi
}

sess_close() {
  local name=$1
  local fd=${_S_FD[$name]:-} pid=${_S_PID[$name]:-}
  [[ -n $fd ]] && { exec {fd}>&-; } 2>/dev/null
  unset "_S_FD[$name]"
  [[ -n $pid ]] || return 0
  wait_gone "$pid" 10 || _kill_pid "$pid"
}

# ---- cleanup

_on_exit() {
  local rc=$?
  set +e
  trap - EXIT
  local n pid d f
  for n in "${!_S_FD[@]}"; do
    f=${_S_FD[$n]}
    { exec {f}>&-; } 2>/dev/null
  done
  for n in "${!_S_PID[@]}"; do _kill_pid "${_S_PID[$n]}"; done
  for pid in "${_BG_PIDS[@]}"; do _kill_pid "$pid"; done
  for pid in "${_SLUICE_PIDS[@]}"; do stop_sluice "$pid"; done
  for f in "${_EXIT_HOOKS[@]}"; do "$f"; done
  # Every sluice has exited: its reports are complete. A report fails the test.
  if ! _san_reports; then
    echo "FAIL [$TEST_NAME]: sanitizer report(s) above" >&2
    ((rc != 0)) || rc=1
  fi
  if [[ -n $_SAN_FAILED ]]; then
    echo "FAIL [$TEST_NAME]: a sluice under $SLUICE_SANITIZE had to be killed" >&2
    ((rc != 0)) || rc=1
  fi
  if ((rc != 0)); then
    for d in "${_SLUICE_DIRS[@]}"; do
      [[ -f $d/pgbouncer.ini ]] || continue
      echo "---- $d/pgbouncer.ini" >&2
      cat "$d/pgbouncer.ini" >&2
      echo "---- sluice stdout/stderr other than log lines (last 20)" >&2
      grep -v -E '^[0-9]{4}-[0-9]{2}-[0-9]{2} ' "$d/stdout" 2>/dev/null | tail -n 20 >&2
      echo "---- sluice log (last 60 lines)" >&2
      tail -n 60 "$d/sluice.log" >&2 2>/dev/null
    done
    for n in "${!_S_OUT[@]}"; do
      echo "---- session $n transcript" >&2
      cat "${_S_OUT[$n]}" >&2 2>/dev/null
    done
    echo "---- $TEST_NAME: exit status $rc" >&2
  fi
  if [[ -n ${KEEP_TMP:-} ]]; then
    echo "kept $T" >&2
  else
    rm -rf -- "$T"
  fi
  exit "$rc"
}
trap _on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
