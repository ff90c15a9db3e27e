#!/bin/sh
# bench/tls_bio_ab.sh BUILD_A BUILD_B [REPS] [SECONDS] [CONNS] [BACKEND]
#
# Server CPU per HTTPS keep-alive request of two ringo-httpd builds, A B A B
# (bench/RESULTS.md, "HTTPS: socket BIO against memory BIOs"): e.g.
#   make BUILD=build all
#   CFLAGS="-O2 -g -DRINGO_TLS_MEMBIO" make BUILD=build-membio build-membio/ringo-httpd
#   sh bench/tls_bio_ab.sh build build-membio 4 5 100 uring
# Server on CPU 0 (1 worker, TLS 1.3), wrk -t1 on CPU 1 (1 s warm-up, then
# SECONDS measured); prints req/s and utime+stime / requests per run. The
# certificate comes from scripts/tls-cert.sh in BUILD_A/demo-tls.
set -eu
[ $# -ge 2 ] || { sed -n '2,11s/^# \{0,1\}//p' "$0"; exit 2; }
A=$1 B=$2 REPS=${3:-3} SEC=${4:-5} C=${5:-100} BE=${6:-uring}
D=$A/demo-tls
sh "$(dirname "$0")/../scripts/tls-cert.sh" "$D" >/dev/null
tick=$(getconf CLK_TCK)
for i in $(seq 1 "$REPS"); do
    for X in "$A" "$B"; do
        port=$((9000 + $(od -An -N2 -tu2 /dev/urandom) % 1000))
        taskset -c 0 "$X/ringo-httpd" --tls-cert "$D/cert.pem" --tls-key "$D/key.pem" \
            --port "$port" --workers 1 --backend "$BE" --quiet --max-requests-per-conn 0 \
            --tls-min-version 1.3 &
        pid=$!
        sleep 0.5
        taskset -c 1 wrk -t1 -c"$C" -d1s "https://127.0.0.1:$port/plaintext" >/dev/null 2>&1
        t0=$(awk '{print $14+$15}' "/proc/$pid/stat")
        out=$(taskset -c 1 wrk -t1 -c"$C" -d"${SEC}s" "https://127.0.0.1:$port/plaintext" 2>&1)
        t1=$(awk '{print $14+$15}' "/proc/$pid/stat")
        kill "$pid"
        wait "$pid" 2>/dev/null || true
        reqs=$(echo "$out" | awk '/requests in/{print $1}')
        rps=$(echo "$out" | awk '/Requests\/sec/{print $2}')
        echo "$X rps=$rps cpu_us_per_req=$(awk -v a="$t0" -v b="$t1" -v n="$reqs" -v k="$tick" \
            'BEGIN{printf "%.2f", (b-a)*1e6/k/n}')"
    done
done
