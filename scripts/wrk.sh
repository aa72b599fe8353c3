#!/usr/bin/env bash
# GET /api/alters/{id} under wrk (32 connections, 8 s) against a release server on a fresh SQLite
# file, and GET /health (which asks the database) beside it: `just wrk` (needs wrk).
set -euo pipefail
binary=${1:-target/release/didhub-server}
port=${PORT:-6123}
dir=$(mktemp -d)
cat > "$dir/config.json" <<JSON
{"database": {"url": "sqlite://$dir/didhub.sqlite"}, "port": $port,
 "secret": "wrk benchmark secret, not for production use",
 "bootstrap_admin": {"username": "admin", "password": "change-me-before-deploying"}}
JSON
"$binary" -c "$dir/config.json" > "$dir/server.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null; rm -rf "$dir"' EXIT
base=http://127.0.0.1:$port
for _ in $(seq 100); do curl -sf "$base/health" > /dev/null && break; sleep 0.2; done
json() { python3 -c "import sys, json; print(json.load(sys.stdin)[\"$1\"])"; }
token=$(curl -sf -X POST "$base/api/auth/login" -H 'content-type: application/json' \
    -d '{"username": "admin", "password": "change-me-before-deploying"}' | json token)
post() { curl -sf -X POST "$base$1" -H "authorization: Bearer $token" -H 'content-type: application/json' -d "$2"; }
system=$(post /api/systems '{"name": "wrk"}' | json id)
alter=$(post /api/alters "{\"system_id\": \"$system\", \"name\": \"wrk\"}" | json id)
echo "GET /api/alters/{id}: $(wrk -t1 -c32 -d8s -H "authorization: Bearer $token" "$base/api/alters/$alter" | grep Requests/sec)"
echo "GET /health:          $(wrk -t1 -c32 -d8s "$base/health" | grep Requests/sec)"
