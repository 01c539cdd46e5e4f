#!/usr/bin/env bash
# Starts the AWS emulator (LocalStack community, run on the host from PyPI) on 127.0.0.1
# for flowhound's tests: S3, SQS and CloudWatch. Idempotent: installs into a private
# venv under the build folder once, refuses a port some other process holds, reuses a
# server it started itself, and prints the endpoint URL on stdout.
#
#   deploy/emulator/start.sh            # -> http://127.0.0.1:4566
#   export FLOWHOUND_EMULATOR=$(deploy/emulator/start.sh)
#   deploy/emulator/stop.sh
#
# Environment: FLOWHOUND_EMULATOR_PORT (4566), FLOWHOUND_EMULATOR_DIR (target/emulator),
# PYTHON (python3.11 or python3; the pins below are for Python 3.11).
# The `aws` CLI is installed in the same venv: "$FLOWHOUND_EMULATOR_DIR/venv/bin/aws".
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DIR="${FLOWHOUND_EMULATOR_DIR:-$ROOT/target/emulator}"
PORT="${FLOWHOUND_EMULATOR_PORT:-4566}"
VENV="$DIR/venv"
PIDFILE="$DIR/emulator.pid"
LOG="$DIR/emulator.log"
ENDPOINT="http://127.0.0.1:$PORT"

# Exact pins (ARCHITECTURE.md, "AWS emulator"): newer LocalStack releases do not start
# on Python 3.11, and these keep its dependency resolution stable.
REQUIREMENTS=(
    "localstack-core[runtime]==4.13.1"
    "cbor2>=5.6,<6"
    "cryptography>=42,<44"
    "pyopenssl==24.2.1"
    "service-identity>=24"
    "joserfc<1.1"
    "awscli==1.44.24"
)

log() { echo "emulator: $*" >&2; }

mkdir -p "$DIR"

if [ -z "${PYTHON:-}" ]; then
    if command -v python3.11 >/dev/null 2>&1; then PYTHON=python3.11; else PYTHON=python3; fi
fi

healthy() {
    "$PYTHON" - "$ENDPOINT" <<'PY'
import json, sys, urllib.request
try:
    with urllib.request.urlopen(sys.argv[1] + "/_localstack/health", timeout=2) as r:
        services = json.load(r).get("services", {})
except Exception:
    sys.exit(1)
ok = all(services.get(s) in ("available", "running") for s in ("s3", "sqs", "cloudwatch"))
sys.exit(0 if ok else 1)
PY
}

port_in_use() {
    "$PYTHON" - "$PORT" <<'PY'
import socket, sys
s = socket.socket()
s.settimeout(1)
try:
    s.connect(("127.0.0.1", int(sys.argv[1])))
except OSError:
    sys.exit(1)
sys.exit(0)
PY
}

if [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    if healthy; then
        log "already running (pid $(cat "$PIDFILE")) at $ENDPOINT"
        echo "$ENDPOINT"
        exit 0
    fi
    log "pid $(cat "$PIDFILE") from $PIDFILE is alive but not healthy; run stop.sh first"
    exit 1
fi
rm -f "$PIDFILE"

stamp="$(printf '%s\n' "${REQUIREMENTS[@]}" | sha256sum | cut -c1-16)"
if [ ! -f "$VENV/.installed-$stamp" ]; then
    log "installing LocalStack and the aws CLI into $VENV (about a minute, once)"
    started=$(date +%s)
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip >&2
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "${REQUIREMENTS[@]}" >&2
    touch "$VENV/.installed-$stamp"
    log "installed in $(( $(date +%s) - started )) s"
fi

if port_in_use; then
    log "port $PORT on 127.0.0.1 is already in use by another process; set FLOWHOUND_EMULATOR_PORT"
    exit 1
fi

mkdir -p "$DIR/state" "$DIR/tmp"
# Only loopback, only the services the tests use, no telemetry, no certificate download.
env GATEWAY_LISTEN="127.0.0.1:$PORT" \
    GATEWAY_SERVER=hypercorn \
    SERVICES=s3,sqs,cloudwatch \
    EAGER_SERVICE_LOADING=1 \
    DNS_ADDRESS=0 \
    DISABLE_EVENTS=1 \
    SKIP_SSL_CERT_DOWNLOAD=1 \
    SQS_ENDPOINT_STRATEGY=path \
    LOCALSTACK_VOLUME_DIR="$DIR/state" \
    FILESYSTEM_ROOT="$DIR/state/fs" \
    TMPDIR="$DIR/tmp" \
    setsid "$VENV/bin/python" -m localstack.runtime.main >"$LOG" 2>&1 </dev/null &
echo $! >"$PIDFILE"

for _ in $(seq 1 120); do
    if healthy; then
        log "ready at $ENDPOINT (pid $(cat "$PIDFILE"), log $LOG)"
        echo "$ENDPOINT"
        exit 0
    fi
    if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
        log "exited during start-up; last lines of $LOG:"
        tail -n 30 "$LOG" >&2
        rm -f "$PIDFILE"
        exit 1
    fi
    sleep 0.5
done
log "not ready after 60 s; last lines of $LOG:"
tail -n 30 "$LOG" >&2
exit 1
