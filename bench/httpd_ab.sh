#!/bin/sh
# bench/httpd_ab.sh [--tls] [--pipeline] BUILD_A BUILD_B [REPS] [SECONDS] [CONNS] [BACKEND]
#
# Server CPU per keep-alive request of two ringo-httpd builds, A B A B: e.g.
# two commits, or the socket BIO against memory BIOs (bench/RESULTS.md):
#   make BUILD=build all
#   CFLAGS="-O2 -g -DRINGO_TLS_MEMBIO" make BUILD=build-membio build-membio/ringo-httpd
#   sh bench/httpd_ab.sh --tls build build-membio 4 5 100 uring
# Server on CPU 0 (1 worker), wrk -t1 on CPU 1 (1 s warm-up, then SECONDS
# measured) on GET /plaintext; prints req/s and utime+stime / requests per
# run, then the median of each. --tls: HTTPS, TLS 1.3, with a certificate
# from scripts/tls-cert.sh in BUILD_A/demo-tls. --pipeline: 16 requests
# per write (bench/http/pipeline.lua). Defaults: 3 reps, 5 s, 100
# connections, uring.
set -eu
usage() { sed -n '2,14s/^# \{0,1\}//p' "$0"; exit 2; }
TLS=0 PIPE=0
while [ $# -gt 0 ]; do
    case $1 in
    --tls) TLS=1 ;;
    --pipeline) PIPE=1 ;;
    -h | --help) usage ;;
    -*) echo "httpd_ab.sh: unknown option $1" >&2; usage ;;
    *) break ;;
    esac
    shift
done
[ $# -ge 2 ] || usage
A=$1 B=$2 REPS=${3:-3} SEC=${4:-5} C=${5:-100} BE=${6:-uring}
for X in "$A" "$B"; do
    [ -x "$X/ringo-httpd" ] || { echo "httpd_ab.sh: no $X/ringo-httpd" >&2; exit 1; }
done
here=$(dirname "$0")
scheme=http tlsargs=
if [ "$TLS" = 1 ]; then
    D=$A/demo-tls
    sh "$here/../scripts/tls-cert.sh" "$D" >/dev/null
        # no cap on requests per connection, as in bench/https.py
    scheme=https tlsargs="--tls-cert $D/cert.pem --tls-key $D/key.pem --tls-min-version 1.3 --max-requests-per-conn 0"
fi
script=
[ "$PIPE" = 1 ] && script="-s $here/http/pipeline.lua"
tick=$(getconf CLK_TCK)
out_all=
for i in $(seq 1 "$REPS"); do
    for X in "$A" "$B"; do
        port=$((9000 + $(od -An -N2 -tu2 /dev/urandom) % 1000))
        # shellcheck disable=SC2086
        taskset -c 0 "$X/ringo-httpd" $tlsargs --port "$port" --workers 1 --backend "$BE" \
            --quiet &
        pid=$!
        sleep 0.5
        url="$scheme://127.0.0.1:$port/plaintext"
        # shellcheck disable=SC2086
        taskset -c 1 wrk -t1 -c"$C" -d1s $script "$url" >/dev/null 2>&1
        t0=$(awk '{print $14+$15}' "/proc/$pid/stat")
        # shellcheck disable=SC2086
        out=$(taskset -c 1 wrk -t1 -c"$C" -d"${SEC}s" $script "$url" 2>&1)
        t1=$(awk '{print $14+$15}' "/proc/$pid/stat")
        kill "$pid"
        wait "$pid" 2>/dev/null || true
        reqs=$(echo "$out" | awk '/requests in/{print $1}')
        rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
        cpu=$(awk -v a="$t0" -v b="$t1" -v n="$reqs" -v k="$tick" \
            'BEGIN{printf "%.2f", (b-a)*1e6/k/n}')
        echo "$X rps=$rps cpu_us_per_req=$cpu"
        out_all="$out_all$X $cpu
"
    done
done
for X in "$A" "$B"; do
    printf '%s' "$out_all" | awk -v x="$X" '$1 == x {print $2}' | sort -g |
        awk -v x="$X" '{v[NR]=$1} END {m = NR % 2 ? v[(NR+1)/2] : (v[NR/2]+v[NR/2+1])/2;
            printf "%s: median %.2f µs/req [%.2f-%.2f] over %d runs\n", x, m, v[1], v[NR], NR}'
done
