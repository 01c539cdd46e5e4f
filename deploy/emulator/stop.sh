#!/usr/bin/env bash
# Stops the emulator started by start.sh: only the process recorded in its PID file
# (and the process group it leads), never anything found by name.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DIR="${FLOWHOUND_EMULATOR_DIR:-$ROOT/target/emulator}"
PIDFILE="$DIR/emulator.pid"

if [ ! -f "$PIDFILE" ]; then
    echo "emulator: not running (no $PIDFILE)" >&2
    exit 0
fi
pid="$(cat "$PIDFILE")"
if ! kill -0 "$pid" 2>/dev/null; then
    echo "emulator: pid $pid already gone" >&2
    rm -f "$PIDFILE"
    exit 0
fi
# start.sh runs the server under setsid, so its PID is also its process group.
kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
for _ in $(seq 1 40); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.25
done
if kill -0 "$pid" 2>/dev/null; then
    echo "emulator: pid $pid did not stop after 10 s; killing" >&2
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid"
fi
rm -f "$PIDFILE"
echo "emulator: stopped (pid $pid)" >&2
