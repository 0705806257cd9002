#!/usr/bin/env bash
# Performs the Dockerfile's install-and-start steps outside Docker, in a temporary directory, so CI
# proves they work without a Docker daemon:
#
#   build stage    copy package*.json -> npm ci -> copy tsconfig*.json and src/ -> npm run build
#   runtime stage  copy package*.json -> npm ci --omit=dev -> copy dist/, bin/, config/
#                  state under a separate directory (the VOLUME), /app/data -> state symlink
#   start          the Dockerfile's ENTRYPOINT + CMD (tini when installed), as uid 1000 when run as root
#   check          --help and --version; no devDependencies installed; then, against the built-in
#                  simulator: /healthz, the Dockerfile's HEALTHCHECK command, /readyz, /metrics
#                  (promtool check metrics when installed), state written only under the volume,
#                  graceful exit on SIGTERM.
#
# Usage: bash scripts/docker-steps.sh            (KEEP=1 keeps the temporary directory)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DOCKERFILE="$ROOT/Dockerfile"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/keystore-watch-docker-steps.XXXXXX")"
BUILD="$WORK/build"   # /app in the build stage
APP="$WORK/app"       # /app in the runtime stage
STATE="$WORK/state"   # VOLUME /var/lib/keystore-watch
LOGS="$WORK/logs"
mkdir -p "$BUILD" "$APP" "$STATE" "$LOGS"
PIDS=()

step() { printf '\n==> %s\n' "$*"; }
fail() {
  printf '\nFAILED: %s\n' "$*" >&2
  for f in "$LOGS"/*; do [ -s "$f" ] && { printf -- '--- %s (last 40 lines)\n' "$f" >&2; tail -n 40 "$f" >&2; }; done
  exit 1
}
cleanup() {
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  if [ "${KEEP:-}" = 1 ]; then echo "kept $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT

# JSON array of a Dockerfile instruction (ENTRYPOINT, CMD, HEALTHCHECK's CMD) as NUL-separated words.
dockerfile_json() {
  node -e '
    const fs = require("fs");
    const text = fs.readFileSync(process.argv[1], "utf8").replace(/\\\n\s*/g, " ");
    const re = new RegExp("^" + process.argv[2] + "\\s+(?:--\\S+\\s+)*" + (process.argv[3] || "") + "(\\[.*\\])\\s*$", "m");
    const m = re.exec(text);
    if (!m) { console.error("no " + process.argv[2] + " in the Dockerfile"); process.exit(1); }
    process.stdout.write(JSON.parse(m[1]).join("\0"));
  ' "$DOCKERFILE" "$@"
}
# The runtime stage's ENV NODE_OPTIONS (the V8 heap ceiling), applied to every command run as the image would.
IMAGE_NODE_OPTIONS="$(node -e '
  const text = require("fs").readFileSync(process.argv[1], "utf8").replace(/\\\n\s*/g, " ");
  const m = /^ENV\s.*\bNODE_OPTIONS=(?:"([^"]*)"|(\S+))/m.exec(text);
  process.stdout.write(m ? (m[1] ?? m[2]) : "");
' "$DOCKERFILE")"
[ -n "$IMAGE_NODE_OPTIONS" ] || fail "no ENV NODE_OPTIONS in the Dockerfile's runtime stage"
echo "image NODE_OPTIONS: $IMAGE_NODE_OPTIONS"
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
http_status() { node -e 'fetch(process.argv[1]).then(r=>{console.log(r.status)},()=>{console.log(0)})' "$1"; }
wait_for() { # URL STATUS SECONDS
  local deadline=$((SECONDS + $3))
  while [ "$SECONDS" -lt "$deadline" ]; do
    [ "$(http_status "$1")" = "$2" ] && return 0
    sleep 0.5
  done
  return 1
}

echo "node $(node --version), npm $(npm --version), work dir $WORK"
grep -q '^FROM .* AS build' "$DOCKERFILE" || fail "Dockerfile has no build stage"

step "build stage: npm ci"
cp "$ROOT/package.json" "$ROOT/package-lock.json" "$BUILD/"
(cd "$BUILD" && npm ci --no-audit --no-fund >"$LOGS/build-npm-ci.log" 2>&1) || fail "npm ci (build stage)"

step "build stage: npm run build"
cp "$ROOT/tsconfig.json" "$ROOT/tsconfig.build.json" "$BUILD/"
cp -R "$ROOT/src" "$BUILD/src"
(cd "$BUILD" && npm run build >"$LOGS/build-tsc.log" 2>&1) || fail "npm run build"
[ -f "$BUILD/dist/cli/main.js" ] || fail "npm run build did not produce dist/cli/main.js"

step "runtime stage: npm ci --omit=dev"
cp "$ROOT/package.json" "$ROOT/package-lock.json" "$APP/"
(cd "$APP" && NODE_ENV=production npm ci --omit=dev --no-audit --no-fund >"$LOGS/runtime-npm-ci.log" 2>&1) || fail "npm ci --omit=dev"
cp -R "$BUILD/dist" "$APP/dist"
cp -R "$ROOT/bin" "$APP/bin"
cp -R "$ROOT/config" "$APP/config"
ln -s "$STATE" "$APP/data"
# No devDependency unless a production dependency needs it (e.g. @types/node via @slack/webhook).
for dev in $(node -e 'console.log(Object.keys(require(process.argv[1]).devDependencies||{}).join(" "))' "$ROOT/package.json"); do
  if [ -e "$APP/node_modules/$dev" ] && ! (cd "$APP" && npm ls "$dev" --omit=dev >/dev/null 2>&1); then
    fail "devDependency $dev is installed in the runtime stage"
  fi
done
echo "runtime node_modules: $(du -sh "$APP/node_modules" | cut -f1)"

# The container's command line: ENTRYPOINT + CMD from the Dockerfile, tini when installed.
mapfile -d '' ENTRYPOINT < <(dockerfile_json ENTRYPOINT)
mapfile -d '' CMD < <(dockerfile_json CMD)
mapfile -d '' HEALTHCHECK < <(dockerfile_json HEALTHCHECK 'CMD\s+')
[ "${ENTRYPOINT[0]}" = tini ] || fail "ENTRYPOINT does not start with tini"
if command -v tini >/dev/null 2>&1; then
  LAUNCH=(tini -s -- "${ENTRYPOINT[@]:2}")   # -s: subreaper, as PID 1 would be
  echo "tini: $(command -v tini)"
else
  LAUNCH=("${ENTRYPOINT[@]:2}")
  echo "tini not installed: starting '${LAUNCH[*]}' directly (install Debian package tini to include it)"
fi
# USER 1000:1000 when we can switch to it.
AS_USER=()
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null 2>&1; then
  chmod 755 "$WORK"
  chown -R 1000:1000 "$STATE"
  AS_USER=(setpriv --reuid=1000 --regid=1000 --clear-groups)
  echo "running as uid 1000 (USER 1000:1000)"
fi
run_app() { (cd "$APP" && env NODE_ENV=production NODE_OPTIONS="$IMAGE_NODE_OPTIONS" "${AS_USER[@]}" "$@"); }

step "start: ${ENTRYPOINT[*]:2} --help / --version"
run_app "${LAUNCH[@]}" --help >"$LOGS/help.log" 2>&1 || fail "--help exited non-zero"
grep -q 'usage: keystore-watch' "$LOGS/help.log" || fail "--help printed no usage"
run_app "${LAUNCH[@]}" --version >"$LOGS/version.log" 2>&1 || fail "--version exited non-zero"
echo "version $(cat "$LOGS/version.log")"

[ -f "$APP/dist/collect/sdk-thread-main.js" ] || fail "npm run build did not produce dist/collect/sdk-thread-main.js (the SDK thread's entry)"

step "start the simulator (built-in demo scenario)"
SIM_PORT="$(free_port)"
(cd "$APP" && exec node dist/cli/main.js simulate --listen "127.0.0.1:$SIM_PORT" >"$LOGS/simulator.log" 2>&1) &
PIDS+=($!)
wait_for "http://127.0.0.1:$SIM_PORT/_sim/fleet" 200 30 || fail "simulator did not start"
BASE_KEY="$(sed -n 's/.*AWS_ACCESS_KEY_ID=\([A-Z0-9]*\).*/\1/p' "$LOGS/simulator.log" | head -n1)"
[ -n "$BASE_KEY" ] || fail "simulator did not print its base credentials"

step "start the daemon: ${CMD[*]}"
PORT="$(free_port)"
CONFIG="$WORK/config.yaml"   # stands for /etc/keystore-watch/config.yaml
cat >"$CONFIG" <<YAML
schedule: "*/5 * * * * *"
listen: "127.0.0.1:$PORT"
stateDir: ./data
aws: { endpoint: "http://127.0.0.1:$SIM_PORT", maxAttempts: 2, requestTimeout: 5s, targetTimeout: 15s }
accounts:
  - { id: "111111111111", name: org-management }
  - { id: "222222222222", name: payments-prod, roleArn: "arn:aws:iam::222222222222:role/KeystoreWatch" }
  - { id: "333333333333", name: analytics-prod, roleArn: "arn:aws:iam::333333333333:role/KeystoreWatch" }
regions: [us-east-1, eu-west-1, ap-southeast-2]
alerting: { channels: [ { type: console } ] }
YAML
chmod 644 "$CONFIG"
DAEMON_CMD=()
for w in "${CMD[@]}"; do [ "$w" = /etc/keystore-watch/config.yaml ] && DAEMON_CMD+=("$CONFIG") || DAEMON_CMD+=("$w"); done
touch "$WORK/marker"
sleep 1
(cd "$APP" && exec env NODE_ENV=production NODE_OPTIONS="$IMAGE_NODE_OPTIONS" AWS_ACCESS_KEY_ID="$BASE_KEY" AWS_SECRET_ACCESS_KEY=simulator AWS_REGION=us-east-1 \
  "${AS_USER[@]}" "${LAUNCH[@]}" "${DAEMON_CMD[@]}" >"$LOGS/daemon.log" 2>&1) &
DAEMON=$!
PIDS+=("$DAEMON")

wait_for "http://127.0.0.1:$PORT/healthz" 200 30 || fail "/healthz did not answer 200"
echo "/healthz 200"
HC=()
for w in "${HEALTHCHECK[@]}"; do HC+=("${w//127.0.0.1:9464/127.0.0.1:$PORT}"); done
run_app "${HC[@]}" || fail "the Dockerfile's HEALTHCHECK command failed against a healthy daemon"
echo "HEALTHCHECK command: ok"
wait_for "http://127.0.0.1:$PORT/readyz" 200 60 || fail "/readyz did not become 200 (first poll)"
echo "/readyz 200"
node -e 'fetch(process.argv[1]).then(r=>r.text()).then(t=>process.stdout.write(t))' "http://127.0.0.1:$PORT/metrics" >"$WORK/metrics.txt"
grep -q '^kms_custom_key_store_info{' "$WORK/metrics.txt" || fail "/metrics has no kms_custom_key_store_info series"
echo "/metrics: $(grep -c '^[a-z]' "$WORK/metrics.txt") samples"
# Every target answered through the built SDK thread (dist/collect/sdk-thread-main.js), and no thread
# failed: a build that cannot load or call the SDK shows here, not only in a log.
UP="$(grep -c '^keystore_watch_target_up{.*} 1$' "$WORK/metrics.txt" || true)"
DOWN="$(grep -c '^keystore_watch_target_up{.*} 0$' "$WORK/metrics.txt" || true)"
[ "$UP" -gt 0 ] && [ "$DOWN" = 0 ] || fail "targets up: $UP, down: $DOWN (expected all up)"
# ... and the enrichment calls too (DescribeClusters, CloudWatch), which go through the same thread.
for m in keystore_watch_cloudhsm_enrichment_up keystore_watch_cloudwatch_up; do
  grep -q "^$m{.*} 1$" "$WORK/metrics.txt" || fail "no target with $m 1"
  ! grep -q "^$m{.*} 0$" "$WORK/metrics.txt" || fail "a target has $m 0: $(grep "^$m{.*} 0$" "$WORK/metrics.txt" | head -n 3)"
done
! grep -q '^keystore_watch_sdk_thread_failures_total{.*} [1-9]' "$WORK/metrics.txt" || fail "an SDK thread failed"
echo "targets up: $UP, down: 0; CloudHSM and CloudWatch enrichment up"
if command -v promtool >/dev/null 2>&1; then
  promtool check metrics <"$WORK/metrics.txt" >"$LOGS/promtool.log" 2>&1 || fail "promtool check metrics rejected /metrics"
  echo "promtool check metrics: ok"
fi
sleep 6  # at least one more scheduled poll, so state is written

step "read-only root: nothing written outside the state volume"
CHANGED="$(find "$APP" -newer "$WORK/marker" -not -type l | head -n 20)"
[ -z "$CHANGED" ] || fail "files written outside the state volume:"$'\n'"$CHANGED"
[ -n "$(ls -A "$STATE")" ] || fail "nothing written to the state volume"
echo "state volume: $(ls "$STATE" | tr '\n' ' ')"

step "graceful shutdown on SIGTERM"
kill -TERM "$DAEMON"
for _ in $(seq 1 30); do kill -0 "$DAEMON" 2>/dev/null || break; sleep 0.5; done
if kill -0 "$DAEMON" 2>/dev/null; then fail "daemon still running 15s after SIGTERM"; fi
set +e; wait "$DAEMON"; CODE=$?; set -e
[ "$CODE" = 0 ] || fail "daemon exited with $CODE after SIGTERM (expected 0)"
echo "exited 0"

echo
echo "docker-steps: OK"
