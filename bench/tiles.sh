#!/usr/bin/env bash
# bench/tiles: serving the event log's C2SP tiles (`certa gateway --tiles`)
# against a plain static file server (nginx, Debian's nginx-light, default
# settings but for the port: 2 workers, sendfile, keep-alive) serving the
# same directory on the same box. A dry-run chain of EVENTS events is
# published with `certa merkle tiles`, then wrk (2 threads, CONNS
# connections, DURATION s) fetches the full level-0 tiles and entry bundles
# in turn (8 KiB and ~30 KiB files), ROUNDS rounds alternating the two
# servers. Prints `name value` lines: each server's requests/s and p99
# (medians over rounds), and tiles_ratio_to_nginx (target >= 0.5). The load
# generator shares the 2 cores with the server it measures.
#
# usage: bench/tiles.sh   (CERTA_BIN: default build/certa; BASE_PORT:
#        default 31800; ROUNDS: default 5; DURATION: default 8; CONNS:
#        default 64; EVENTS: default 200000)
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
CERTA=${CERTA_BIN:-$HERE/../build/certa}
BASE_PORT=${BASE_PORT:-31800}
ROUNDS=${ROUNDS:-5}
DURATION=${DURATION:-8}
CONNS=${CONNS:-64}
EVENTS=${EVENTS:-200000}
command -v wrk >/dev/null && command -v nginx >/dev/null ||
    { echo "bench/tiles: needs wrk and nginx (bash tools/install-deps.sh)" >&2; exit 2; }
W=$(mktemp -d "${TMPDIR:-/tmp}/certa-tilesbench.XXXXXX")
chmod 755 "$W" # nginx's workers run as www-data
PIDS=()
cleanup() {
    set +e
    for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    rm -rf "$W"
}
trap cleanup EXIT
fail() { echo "bench/tiles: $*" >&2; exit 1; }

"$CERTA" genesis --validators 4 --dir "$W/g" --base-port "$BASE_PORT" >/dev/null
G=$W/g/genesis.json
python3 - "$HERE/../tests/data/day_one_counter.jsonl" "$W/events.jsonl" "$EVENTS" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
grant = next(l for l in lines if l.get("kind") == "grant")
t = lines[0]["time_ms"]
with open(sys.argv[2], "w") as f:
    f.write(json.dumps({"kind": "tick", "time_ms": t}) + "\n")
    for i in range(int(sys.argv[3])):
        if i % 4096 == 4095:
            t += 1000
            f.write(json.dumps({"kind": "tick", "time_ms": t}) + "\n")
        f.write(json.dumps(dict(grant, grant_id="%032x" % (i + 1))) + "\n")
PY
"$CERTA" dry-run --genesis "$G" --data "$W/d" "$W/events.jsonl" >/dev/null 2>&1 || true
for k in 0 1 2; do
    "$CERTA" merkle checkpoint sign --data "$W/d" --genesis "$G" --key "$W/g/node$k/sign.pem" \
        --name "node$k" >"$W/cp$k.txt"
done
"$CERTA" merkle checkpoint merge --genesis "$G" "$W/cp0.txt" "$W/cp1.txt" "$W/cp2.txt" >"$W/cp.txt"
start=$(date +%s.%N)
"$CERTA" merkle tiles --data "$W/d" --out "$W/T" --checkpoint "$W/cp.txt" >"$W/tiles.out"
end=$(date +%s.%N)
size=$(sed -n 2p "$W/cp.txt")
echo "log_size $size"
echo "publish_s $(python3 -c "print(round($end - $start, 2))")"
echo "tiles_dir_bytes $(du -sb "$W/T" | cut -f1)"
(cd "$W/T" && find tile -type f ! -path '*.p/*' | sed 's|^|/|' | sort) >"$W/paths"
echo "paths $(wc -l <"$W/paths")"
cat >"$W/paths.lua" <<EOF
local paths = {}
for line in io.lines("$W/paths") do paths[#paths + 1] = line end
local i = 0
request = function()
    i = i % #paths + 1
    return wrk.format("GET", paths[i])
end
EOF

GW_PORT=$((BASE_PORT + 40))
NGINX_PORT=$((BASE_PORT + 41))
"$CERTA" gateway --genesis "$G" --listen "127.0.0.1:$GW_PORT" --tiles "$W/T" \
    --rate-per-s 1000000 --burst 1000000 >"$W/gw.log" 2>&1 &
PIDS+=($!)
mkdir -p "$W/nginx/logs"
cat >"$W/nginx/nginx.conf" <<EOF
worker_processes auto;
pid $W/nginx/nginx.pid;
error_log $W/nginx/logs/error.log;
daemon off;
events { worker_connections 1024; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 100000;
    default_type application/octet-stream;
    client_body_temp_path $W/nginx/body;
    proxy_temp_path $W/nginx/proxy;
    fastcgi_temp_path $W/nginx/fastcgi;
    uwsgi_temp_path $W/nginx/uwsgi;
    scgi_temp_path $W/nginx/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $W/T;
        add_header Cache-Control "public, max-age=31536000, immutable";
    }
}
EOF
nginx -c "$W/nginx/nginx.conf" -p "$W/nginx" 2>"$W/nginx/start.err" &
PIDS+=($!)
first=$(head -1 "$W/paths")
for _ in $(seq 100); do
    curl -sf -o /dev/null "http://127.0.0.1:$GW_PORT$first" &&
        curl -sf -o /dev/null "http://127.0.0.1:$NGINX_PORT$first" && break
    sleep 0.1
done
cmp -s <(curl -s "http://127.0.0.1:$GW_PORT$first") <(curl -s "http://127.0.0.1:$NGINX_PORT$first") ||
    fail "the two servers answer $first differently ($(cat "$W/gw.log" "$W/nginx/start.err" 2>/dev/null | tail -3))"

declare -A rps p99
for r in $(seq "$ROUNDS"); do
    for s in gateway nginx; do
        port=$GW_PORT
        [ "$s" = nginx ] && port=$NGINX_PORT
        wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -s "$W/paths.lua" \
            "http://127.0.0.1:$port" >"$W/wrk.out"
        if grep -q "Non-2xx" "$W/wrk.out"; then
            fail "$s: $(grep Non-2xx "$W/wrk.out")"
        fi
        rps[$s]+="$(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$W/wrk.out") "
        p99[$s]+="$(awk '$1 == "99%" { v = $2; if (v ~ /us$/) { sub(/us$/, "", v); v /= 1000 }
                     else if (v ~ /ms$/) sub(/ms$/, "", v); else if (v ~ /s$/) { sub(/s$/, "", v); v *= 1000 }
                     print v }' "$W/wrk.out") "
        echo "round $r $s $(sed -n 's/^Requests\/sec: *\([0-9.]*\).*/\1/p' "$W/wrk.out")" >&2
    done
done
median() { printf '%s\n' $1 | sort -g | sed -n "$(((ROUNDS + 1) / 2))p"; }
g=$(median "${rps[gateway]}")
n=$(median "${rps[nginx]}")
echo "gateway_tiles_per_s $g"
echo "gateway_tiles_p99_ms $(median "${p99[gateway]}")"
echo "nginx_tiles_per_s $n"
echo "nginx_tiles_p99_ms $(median "${p99[nginx]}")"
echo "tiles_ratio_to_nginx $(python3 -c "print(round($g / $n, 3))")"
