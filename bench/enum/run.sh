#!/usr/bin/env bash
# ENUM answers, npchain vs Knot DNS, with dnsperf, on the same routing records, in one run.
#
#   bench/enum/run.sh N [SECONDS]
#
# N ported numbers (bench/enum/gen.py: six ranges +49151/+49152/+49170 OPA, +49160/+49162/+49176
# OPB, 12- and 13-digit numbers, each ported to the other operator). npchain: node 0 of a
# 2-operator devnet (`npchain devnet --validators 2 --ranges --ported --fresh --print-only`, then
# `npchain node --config node-0/config.toml` alone), the numbers loaded as its genesis migration
# list. Knot: the same records as a zone file of e164.arpa.
# (one NAPTR per ported number, wildcards for the not-ported numbers of the ranges; see gen.py).
# Queries (one file for both): 60 % ported, 30 % not ported in a range, 10 % in no range.
#
# Per server: load time, VmRSS/VmHWM after loading and after the runs, saturated queries/s and
# average latency (RUNS runs of SECONDS, alternating servers, medians), and latency percentiles
# from a paced run (PACED_QPS queries/s for PACED_SECONDS, per-query times of `dnsperf -v`:
# dnsperf 2.10 has no histogram). Writes bench/enum/results-sh-N.json and prints a table.
#
# Environment (defaults): RUNS=3 QUERIES=1000000 PACED_QPS=10000 PACED_SECONDS=10
# DNSPERF_OPTS="-c 8 -T 1 -q 256" KNOT_WILDCARDS=all (all | range: one wildcard per range only,
# which leaves most not-ported numbers NXDOMAIN in Knot; for a memory comparison only)
# KEEP=1 (keep the temp directory) NPCHAIN=path (skip the cargo build).
set -euo pipefail

N=${1:?usage: run.sh N [SECONDS]}
SECONDS_PER_RUN=${2:-20}
RUNS=${RUNS:-3}
QUERIES=${QUERIES:-1000000}
PACED_QPS=${PACED_QPS:-10000}
PACED_SECONDS=${PACED_SECONDS:-10}
DNSPERF_OPTS=${DNSPERF_OPTS:--c 8 -T 1 -q 256}
KNOT_WILDCARDS=${KNOT_WILDCARDS:-all}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)

for tool in knotd:knot dnsperf:dnsperf dig:dnsutils curl:curl python3:python3; do
  command -v "${tool%%:*}" >/dev/null || apt-get install -y "${tool#*:}"
done

if [[ -z ${NPCHAIN:-} ]]; then
  (cd "$ROOT" && cargo build --release -q -p npchain-cli)
  NPCHAIN=$ROOT/target/release/npchain
fi

WORK=$(mktemp -d /tmp/enum-bench.XXXXXX)
NODE_PID= KNOT_PID=
cleanup() {
  set +e
  [[ -n $KNOT_PID ]] && kill "$KNOT_PID" 2>/dev/null
  [[ -n $NODE_PID ]] && kill "$NODE_PID" 2>/dev/null
  for _ in $(seq 50); do
    alive=0
    for p in $KNOT_PID $NODE_PID; do kill -0 "$p" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.2
  done
  for p in $KNOT_PID $NODE_PID; do kill -9 "$p" 2>/dev/null; done
  if [[ -n ${KEEP:-} ]]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
now() { date +%s.%N; }
since() { python3 -c "print(round($(now) - $1, 2))"; }
mem() { awk '/^VmRSS|^VmHWM/ {printf "%s=%d ", $1, $2}' "/proc/$1/status" | sed 's/://g'; }
enum_name() { echo "$1" | rev | sed 's/./&./g; s/$/e164.arpa/'; }
log() { echo "[$(date +%T)] $*" >&2; }

log "work dir $WORK; $(nproc) cores; generating N=$N, $QUERIES queries"
t=$(now)
python3 "$HERE/gen.py" "$N" "$QUERIES" "$WORK"
GEN_S=$(since "$t")
if [[ $KNOT_WILDCARDS == range ]]; then
  awk '!/^\*\./ || /^\*\.[0-9]\.[0-9]\.[0-9]\.[0-9]\.[0-9] /' "$WORK/zone" > "$WORK/zone.range"
  mv "$WORK/zone.range" "$WORK/zone"
fi
log "generated in ${GEN_S}s: $(tr '\n' ' ' < "$WORK/stats.txt")"

# --- npchain: node 0 (OPA) of a 2-operator devnet, started alone. A 1-validator devnet has only
# OPA, and the ported numbers need a second operator; a devnet of 2 would run both nodes on the
# two cores. Node 0 alone makes no blocks (no quorum) but answers from its genesis state.
HTTP=$(free_port) DNS=$(free_port) P2P=$(free_port)
"$NPCHAIN" devnet --validators 2 --data "$WORK/devnet" --ranges "$WORK/ranges.csv" \
  --ported "$WORK/ported.csv" --fresh --http-port "$HTTP" --dns-port "$DNS" --p2p-port "$P2P" \
  --print-only > "$WORK/devnet.out" 2>&1
t=$(now)
"$NPCHAIN" node --config "$WORK/devnet/node-0/config.toml" > "$WORK/devnet/node-0/node.log" 2>&1 &
NODE_PID=$!
until curl -sf --max-time 2 "http://127.0.0.1:$HTTP/v1/status" > "$WORK/status.json" 2>/dev/null; do
  kill -0 "$NODE_PID" 2>/dev/null || { cat "$WORK/devnet.out" "$WORK"/devnet/node-0/node.log >&2; exit 1; }
  sleep 0.2
done
until dig @127.0.0.1 -p "$DNS" +short +tries=1 +time=1 SOA e164.arpa | grep -q hostmaster; do sleep 0.2; done
NP_LOAD_S=$(since "$t")
log "npchain node pid $NODE_PID loaded in ${NP_LOAD_S}s: $(cat "$WORK/status.json" | head -c 300)"

# --- Knot DNS, same records
KNOT=$(free_port)
mkdir -p "$WORK/knot"
cat > "$WORK/knot.conf" <<EOF
server:
    listen: 127.0.0.1@$KNOT
    rundir: $WORK/knot
    udp-workers: $(nproc)
    tcp-workers: 1
    background-workers: 1
database:
    storage: $WORK/knot
template:
  - id: default
    storage: $WORK/knot
    journal-content: none
    zonefile-sync: -1
    zonefile-load: whole
    semantic-checks: off
zone:
  - domain: e164.arpa.
    file: $WORK/zone
log:
  - target: $WORK/knot/knot.log
    any: info
EOF
t=$(now)
knotd -c "$WORK/knot.conf" > "$WORK/knotd.out" 2>&1 &
KNOT_PID=$!
until dig @127.0.0.1 -p "$KNOT" +short +tries=1 +time=1 SOA e164.arpa | grep -q hostmaster; do
  kill -0 "$KNOT_PID" 2>/dev/null || { cat "$WORK/knotd.out" "$WORK/knot/knot.log" >&2; exit 1; }
  sleep 0.2
done
KNOT_LOAD_S=$(since "$t")
log "knotd pid $KNOT_PID loaded in ${KNOT_LOAD_S}s"
NP_MEM_LOADED=$(mem "$NODE_PID") KNOT_MEM_LOADED=$(mem "$KNOT_PID")

# --- the same answers (dig, both servers)
answer() { dig @127.0.0.1 -p "$1" +tries=2 +time=2 NAPTR "$2" +noall +answer +comments | awk '
  /status:/ { sub(/.*status: /, ""); sub(/,.*/, ""); status = $0 }
  /^[^;].*NAPTR/ { sub(/^.*NAPTR[ \t]+/, ""); data = $0 }
  END { print status "|" data }'; }
CHECKS=0
while read -r kind number rn; do
  name=$(enum_name "$number")
  a=$(answer "$DNS" "$name") b=$(answer "$KNOT" "$name")
  case $kind in
    ported) want="NOERROR|100 10 \"u\" \"E2U+pstn:tel\" \"!^.*\$!tel:+$number;npdi;rn=$rn!\" ."
            [[ $a == "$want" && $b == "$want" ]] ;;
    home) [[ $a == "NOERROR|100 10 \"u\" \"E2U+pstn:tel\" \"!^.*\$!tel:+$number;npdi!\" ." &&
             $b == 'NOERROR|100 10 "u" "E2U+pstn:tel" "!^(.*)$!tel:\\1;npdi!" .' ]] ;;
    unknown) [[ $a == "NXDOMAIN|" && $b == "NXDOMAIN|" ]] ;;
  esac || { log "answers differ for $kind +$number: npchain [$a] knot [$b]"; exit 1; }
  CHECKS=$((CHECKS + 1))
  [[ $kind == home && $CHECKS -eq 9 ]] && log "not ported +$number: npchain [$a] knot [$b]"
  [[ $CHECKS -eq 1 ]] && log "ported +$number: [$a] on both"
done < "$WORK/check.txt"
log "$CHECKS dig checks passed (ported: same text; not ported: npchain literal, Knot wildcard; unknown: NXDOMAIN)"

# --- dnsperf
# shellcheck disable=SC2086
saturated() { # port name run
  dnsperf -s 127.0.0.1 -p "$1" -d "$WORK/queries.txt" -l "$SECONDS_PER_RUN" $DNSPERF_OPTS > "$WORK/perf-$2-$3.txt" 2>&1
  awk -v s="$2" -v r="$3" '/Queries sent:/ {sent=$3} /Queries completed:/ {done=$3} /Queries lost:/ {lost=$3}
    /Queries per second:/ {qps=$4} /Average Latency/ {avg=$4; sd=$NF}
    /Response codes:/ {sub(/.*Response codes: /, ""); codes=$0}
    END { printf "saturated %s %s qps=%s avg_s=%s sent=%s completed=%s lost=%s codes=%s\n", s, r, qps, avg, sent, done, lost, codes }' \
    "$WORK/perf-$2-$3.txt" | tee -a "$WORK/raw.txt" >&2
}
paced() { # port name
  dnsperf -s 127.0.0.1 -p "$1" -d "$WORK/queries.txt" -l "$PACED_SECONDS" -Q "$PACED_QPS" -c 4 -T 1 -v \
    > "$WORK/paced-$2.txt" 2>&1
  awk '/^> / {print $NF}' "$WORK/paced-$2.txt" | sort -g | awk -v s="$2" '{v[NR]=$1}
    function p(q) { i = int(q * NR); if (i < 1) i = 1; return v[i] * 1e6 }
    END { printf "paced %s - answers=%d p50_us=%.0f p90_us=%.0f p99_us=%.0f p999_us=%.0f max_us=%.0f\n", s, NR, p(.5), p(.9), p(.99), p(.999), v[NR]*1e6 }' \
    | tee -a "$WORK/raw.txt" >&2
  grep 'Queries lost:' "$WORK/paced-$2.txt" | sed "s/^ */paced-lost $2 - /" >> "$WORK/raw.txt"
}
: > "$WORK/raw.txt"
for r in $(seq "$RUNS"); do
  saturated "$DNS" npchain "$r"
  saturated "$KNOT" knot "$r"
done
paced "$DNS" npchain
paced "$KNOT" knot
NP_MEM_AFTER=$(mem "$NODE_PID") KNOT_MEM_AFTER=$(mem "$KNOT_PID")

# --- results
{
  echo "n=$N"; echo "queries=$QUERIES"; echo "seconds=$SECONDS_PER_RUN"; echo "runs=$RUNS"
  echo "dnsperf_opts=$DNSPERF_OPTS"; echo "paced_qps=$PACED_QPS"; echo "knot_wildcards=$KNOT_WILDCARDS"
  echo "cores=$(nproc)"; echo "gen_s=$GEN_S"; echo "dig_checks=$CHECKS"
  echo "npchain_load_s=$NP_LOAD_S"; echo "knot_load_s=$KNOT_LOAD_S"
  echo "npchain_mem_loaded=$NP_MEM_LOADED"; echo "knot_mem_loaded=$KNOT_MEM_LOADED"
  echo "npchain_mem_after=$NP_MEM_AFTER"; echo "knot_mem_after=$KNOT_MEM_AFTER"
  echo "knot_version=$(knotd -V | awk '{print $NF}')"
  echo "dnsperf_version=$(dnsperf -h 2>&1 | awk '/^Version/ {print $2}')"
  echo "npchain_commit=$(git -C "$ROOT" rev-parse --short HEAD)$(git -C "$ROOT" diff --quiet HEAD -- crates || echo +dirty)"
  sed 's/^/stat_/' "$WORK/stats.txt"
} > "$WORK/meta.txt"
python3 "$HERE/report.py" "$WORK/meta.txt" "$WORK/raw.txt" "$HERE/results-sh-$N.json"
