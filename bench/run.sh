#!/usr/bin/env bash
# bench/run.sh: what `make bench` runs. Measures cloudhands with wrk beside a minimal
# libmicrohttpd server (bench/baseline.c) in the same run and prints ratios to that baseline.
# Only reports: a slow result never fails; a broken setup (server does not start, no key...) does.
#
# Environment:
#   CLOUDHANDS_BIN   server binary (default build/cloudhands)
#   BENCH_SECONDS    duration of each measured wrk run (default 10)
#   BENCH_ROUNDS     interleaved baseline/GET rounds at 64 connections (default 3; median reported)
#   BENCH_CONNS      connections for the throughput runs (default 64)
#   BENCH_THREADS    wrk threads (default 2)
# Raw wrk outputs and the server's log are kept in bench/out/.
set -euo pipefail
cd "$(dirname "$0")/.."

BIN=${CLOUDHANDS_BIN:-build/cloudhands}
SECS=${BENCH_SECONDS:-10}
ROUNDS=${BENCH_ROUNDS:-3}
CONNS=${BENCH_CONNS:-64}
WRK_THREADS=${BENCH_THREADS:-2}
TARGET_PCT=50
OUT=bench/out

die() {
    echo "bench: $*" >&2
    exit 1
}
note() { echo "bench: $*"; }

command -v wrk >/dev/null || die "wrk not found (Debian package wrk; make test-deps installs it)"
command -v curl >/dev/null || die "curl not found"
[ -x "$BIN" ] || die "$BIN not found or not executable (make build, or set CLOUDHANDS_BIN)"
case "$BIN" in /*) ;; *) BIN="$PWD/$BIN" ;; esac
mkdir -p "$OUT"
rm -f "$OUT"/wrk-*.txt

# --- cleanup: everything started here is stopped on exit ---------------------------------
PIDS=()
DATA=""
# shellcheck disable=SC2317  # invoked by the trap
cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
    if [ -n "$DATA" ]; then rm -rf "$DATA"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- helpers ---------------------------------------------------------------------------------
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
free_port() {
    local p _
    for _ in $(seq 1 100); do
        p=$((20000 + RANDOM % 40000))
        if ! port_in_use "$p" && [ "$p" != "${USED_PORT:-}" ]; then
            echo "$p"
            return 0
        fi
    done
    return 1
}
# wait_http PID URL WHAT LOG: until URL answers (any HTTP status) or the process dies; 15 s at
# most. On failure the end of LOG is shown.
wait_http() {
    local pid=$1 url=$2 what=$3 log=$4 _
    for _ in $(seq 1 150); do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 20 "$log" >&2
            die "$what exited during start-up (log: $log)"
        fi
        curl -s -o /dev/null --max-time 1 "$url" && return 0
        sleep 0.1
    done
    tail -n 20 "$log" >&2
    die "$what did not answer $url within 15 s (log: $log)"
}

HZ=$(getconf CLK_TCK)
# CPU ticks (user + system) of each thread of PID: "TID TICKS" lines.
thread_ticks() {
    local t
    for t in /proc/"$1"/task/*; do
        [ -r "$t/stat" ] && awk -v id="${t##*/}" '{sub(/^.*\) /, ""); print id, $12 + $13}' "$t/stat"
    done 2>/dev/null | sort
}
# How the CPU the server used during a run was shared among its threads, busiest first, in
# percent ("52/48": two workers busy; "100": every connection landed on one worker).
cpu_split() { # before after
    join <(printf '%s\n' "$1") <(printf '%s\n' "$2") | awk '
        {d[NR] = $3 - $2; t += d[NR]}
        END {if (t <= 0) {print "n/a"; exit}
             for (i in d) if (100 * d[i] / t >= 5) s[++n] = int(100 * d[i] / t + 0.5)
             for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (s[j] > s[i]) {x = s[i]; s[i] = s[j]; s[j] = x}
             for (i = 1; i <= n; i++) o = o (i > 1 ? "/" : "") s[i]; print o}'
}
# Server CPU (user + system, all threads) per request in microseconds, from the ticks before and
# after a run and the number of requests wrk completed (the file): less sensitive to a busy
# machine than req/s, since it does not count the time the server waited for a core.
cpu_per_req() { # before after file
    local n
    n=$(awk '/ requests in / {print $1}' "$3")
    join <(printf '%s\n' "$1") <(printf '%s\n' "$2") | awk -v n="${n:-0}" -v hz="$HZ" '
        {t += $3 - $2} END {if (n > 0) printf "%.1f", t / hz * 1e6 / n; else print "n/a"}'
}
# run_wrk NAME SERVER_PID CONNS THREADS SECONDS URL [wrk args...]: one measured run; the raw
# output is kept, with the server's per-thread CPU split and CPU per request appended.
run_wrk() {
    local name=$1 pid=$2 c=$3 t=$4 d=$5 url=$6
    shift 6
    local file="$OUT/wrk-$name.txt" before after
    before=$(thread_ticks "$pid")
    wrk -t"$t" -c"$c" -d"${d}s" --latency "$@" "$url" >"$file" 2>&1 || {
        cat "$file" >&2
        die "wrk failed ($name)"
    }
    after=$(thread_ticks "$pid")
    echo "bench: server thread CPU split: $(cpu_split "$before" "$after")" >>"$file"
    echo "bench: server CPU per request: $(cpu_per_req "$before" "$after" "$file") us" >>"$file"
    printf '  %-14s %9s req/s   p99 %8s ms   non-2xx %s   server threads %s%%   %s us/req\n' \
        "$name" "$(rps "$file")" "$(p99 "$file")" "$(errors "$file")" "$(split_of "$file")" \
        "$(cpu_of "$file")"
}
split_of() { sed -n 's/^bench: server thread CPU split: //p' "$1"; }
cpu_of() { sed -n 's/^bench: server CPU per request: \([^ ]*\) us$/\1/p' "$1"; }
# Figures from a wrk output file.
rps() { awk '/^Requests\/sec:/ {printf "%.0f", $2; f=1} END {if (!f) print "0"}' "$1"; }
p99() { # the "99%" line of --latency, in milliseconds
    awk '$1 == "99%" {
        v = $2; u = v; sub(/[0-9.]+/, "", u); sub(/[a-z]+$/, "", v)
        if (u == "us") v /= 1000; else if (u == "s") v *= 1000; else if (u == "m") v *= 60000
        printf "%.2f", v; f = 1 } END { if (!f) print "n/a" }' "$1"
}
errors() { # non-2xx/3xx responses plus socket errors
    awk '/Non-2xx or 3xx responses:/ {n += $NF}
         /Socket errors:/ {for (i = 1; i <= NF; i++) if ($i ~ /^[0-9]+,?$/) {x = $i; sub(/,/, "", x); n += x}}
         END {print n + 0}' "$1"
}
# the run (file) whose req/s is the median of the given runs: its p99 is reported beside it
median_run() {
    local f
    for f in "$@"; do echo "$(rps "$f") $f"; done | sort -g |
        awk '{a[NR] = $2} END {print a[int((NR + 1) / 2)]}'
}
pct() { awk -v a="$1" -v b="$2" 'BEGIN {if (b > 0) printf "%.0f", 100 * a / b; else print "n/a"}'; }

# --- the baseline ----------------------------------------------------------------------------
echo "cloudhands bench: $(nproc) cores, wrk -t$WRK_THREADS, ${SECS}s per run, $ROUNDS rounds" \
    "at $CONNS connections (median reported)"
note "building the baseline (bench/baseline.c)"
# shellcheck disable=SC2046
cc -std=c11 -O2 -Wall -Wextra -o "$OUT/baseline" bench/baseline.c \
    $(pkg-config --cflags --libs libmicrohttpd) || die "cannot build bench/baseline.c"

BPORT=$(free_port) || die "no free port"
"$OUT/baseline" "$BPORT" >"$OUT/baseline.log" 2>&1 &
BASE_PID=$!
PIDS+=("$BASE_PID")
wait_http "$BASE_PID" "http://127.0.0.1:$BPORT/" "the baseline server" "$OUT/baseline.log"
BASE_URL="http://127.0.0.1:$BPORT/api/conversations/0b2f6c3e9a4d4f1e8c7b5a6d3e2f1a0b"

# --- cloudhands ------------------------------------------------------------------------------
USED_PORT=$BPORT
SPORT=$(free_port) || die "no free port"
DATA=$(mktemp -d "${TMPDIR:-/tmp}/cloudhands-bench.XXXXXX")
SRV="http://127.0.0.1:$SPORT"
note "starting $BIN on 127.0.0.1:$SPORT (data in $DATA, log in $OUT/server.log)"
"$BIN" serve --listen "127.0.0.1:$SPORT" --data "$DATA" --max-concurrent 100000000 --runners 0 \
    >"$OUT/server.log" 2>&1 &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
wait_http "$SERVER_PID" "$SRV/alive" "cloudhands" "$OUT/server.log"

# An API key for the account the first start created. Keys are "oh_" + 64 hex (core/keys.h);
# failing that, a "key" JSON field, or the longest word without spaces, quotes or colons.
KEY_OUT=$("$BIN" key create --user admin --name bench --data "$DATA" 2>&1) ||
    die "key create failed: $KEY_OUT"
KEY=$(printf '%s\n' "$KEY_OUT" | grep -o 'oh_[0-9a-f]\{64\}' | head -n1 || true)
if [ -z "$KEY" ]; then
    KEY=$(printf '%s\n' "$KEY_OUT" |
        sed -n 's/.*"key"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p' | head -n1)
fi
if [ -z "$KEY" ]; then
    KEY=$(printf '%s\n' "$KEY_OUT" | tr -s '[:space:]"' '[\n*]' |
        awk 'length($0) >= 20 && $0 !~ /[:\/]/ {if (length($0) > length(k)) k = $0} END {print k}')
fi
[ -n "$KEY" ] || die "no key in the output of 'key create': $KEY_OUT"
AUTH="Authorization: Bearer $KEY"

# One conversation to GET.
CREATE=$(curl -s -w '\n%{http_code}' -X POST "$SRV/api/conversations" -H "$AUTH" \
    -H 'Content-Type: application/json' -d '{"initial_user_msg": "bench task"}')
CODE=${CREATE##*$'\n'}
CONV_ID=$(printf '%s' "${CREATE%$'\n'*}" |
    sed -n 's/.*"conversation_id"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')
[ -n "$CONV_ID" ] || die "POST /api/conversations answered $CODE: ${CREATE%$'\n'*}"
GET_URL="$SRV/api/conversations/$CONV_ID"
CODE=$(curl -s -o /dev/null -w '%{http_code}' -H "$AUTH" "$GET_URL")
[ "$CODE" = 200 ] || die "GET /api/conversations/$CONV_ID answered $CODE, not 200"

# --- measurements ----------------------------------------------------------------------------
note "warming up"
wrk -t"$WRK_THREADS" -c"$CONNS" -d2s "$BASE_URL" >/dev/null 2>&1 || true
wrk -t"$WRK_THREADS" -c"$CONNS" -d2s -H "$AUTH" "$GET_URL" >/dev/null 2>&1 || true

for r in $(seq 1 "$ROUNDS"); do
    run_wrk "baseline-$r" "$BASE_PID" "$CONNS" "$WRK_THREADS" "$SECS" "$BASE_URL"
    run_wrk "get-$r" "$SERVER_PID" "$CONNS" "$WRK_THREADS" "$SECS" "$GET_URL" -H "$AUTH"
done
# POST last among the throughput runs: each one adds a conversation, the GETs above saw one.
export BENCH_KEY=$KEY
run_wrk "post" "$SERVER_PID" "$CONNS" "$WRK_THREADS" "$SECS" "$SRV" -s bench/post.lua
run_wrk "baseline-c1" "$BASE_PID" 1 1 "$SECS" "$BASE_URL"
run_wrk "get-c1" "$SERVER_PID" 1 1 "$SECS" "$GET_URL" -H "$AUTH"

# --- report ----------------------------------------------------------------------------------
base_files=() get_files=()
for r in $(seq 1 "$ROUNDS"); do
    base_files+=("$OUT/wrk-baseline-$r.txt")
    get_files+=("$OUT/wrk-get-$r.txt")
done
B=$(median_run "${base_files[@]}")
G=$(median_run "${get_files[@]}")
P=$OUT/wrk-post.txt
B1=$OUT/wrk-baseline-c1.txt
G1=$OUT/wrk-get-c1.txt
BR=$(rps "$B")
B1R=$(rps "$B1")

# Per-round ratios show how much the noise moved things.
rounds=""
for r in $(seq 1 "$ROUNDS"); do
    rounds="$rounds $(pct "$(rps "$OUT/wrk-get-$r.txt")" "$(rps "$OUT/wrk-baseline-$r.txt")")%"
done

echo
printf '%-38s %9s %8s %8s %8s %8s  %s\n' "benchmark" "req/s" "p99 ms" "vs base" "non-2xx" \
    "CPU us" "worker CPU split %"
row() { # label file base_rps
    printf '%-38s %9s %8s %7s%% %8s %8s  %s\n' "$1" "$(rps "$2")" "$(p99 "$2")" \
        "$(pct "$(rps "$2")" "$3")" "$(errors "$2")" "$(cpu_of "$2")" "$(split_of "$2")"
}
row "baseline GET (constant body), c=$CONNS" "$B" "$BR"
row "GET /api/conversations/{id}, c=$CONNS" "$G" "$BR"
row "POST /api/conversations, c=$CONNS" "$P" "$BR"
row "baseline GET, c=1" "$B1" "$B1R"
row "GET /api/conversations/{id}, c=1" "$G1" "$B1R"
echo "GET/baseline per round:$rounds"
cpus=""
for r in $(seq 1 "$ROUNDS"); do
    cpus="$cpus $(cpu_of "$OUT/wrk-get-$r.txt")/$(cpu_of "$OUT/wrk-baseline-$r.txt")"
done
echo "server CPU us per request per round (GET/baseline):$cpus"
# Each POST adds an active conversation (no runner moves it on), so the POST run ends with as
# many active conversations in the account as it created.
POSTED=$(sed -n 's/^post.lua: 2xx=\([0-9]*\).*/\1/p' "$P")
grep -h '^post.lua:' "$P" | sed 's/^post.lua:/POST answers:/' || true
[ -n "$POSTED" ] && echo "POST: the account went from 1 to $((POSTED + 1)) active conversations" \
    "during the run"
single=""
for f in "$B" "$G"; do
    case "$(split_of "$f")" in 9[0-9] | 100 | 9[0-9]/* | 100/*) single="$single ${f##*/}" ;; esac
done
[ -n "$single" ] && [ "$(nproc)" -gt 1 ] &&
    echo "note: in$single nearly all the load ran on one MHD worker thread (libmicrohttpd" \
        "spreads connections unevenly at times); that run understates what the server can do"

GP=$(pct "$(rps "$G")" "$BR")
get_errors=0
for f in "${get_files[@]}"; do get_errors=$((get_errors + $(errors "$f"))); done
if [ "$get_errors" != 0 ]; then
    echo "target: the GET runs had $get_errors non-2xx answers or socket errors; the figure is" \
        "not valid (see $OUT/wrk-get-*.txt)"
elif [ "$GP" != n/a ] && [ "$GP" -ge "$TARGET_PCT" ]; then
    echo "target: MET - authenticated GET at $GP% of the baseline's req/s with $CONNS" \
        "connections (target >= $TARGET_PCT%)"
else
    echo "target: NOT MET - authenticated GET at $GP% of the baseline's req/s with $CONNS" \
        "connections (target >= $TARGET_PCT%)"
fi
exit 0
