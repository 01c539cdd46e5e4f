#!/usr/bin/env bash
# Soak test of `serve` (not in CI; RELIABILITY.md records its runs).
#
# The demo's estate (`flowhound simulate` defaults, what `flowhound demo` runs) is replayed
# into an emulated bucket SPEEDUP times faster than real time (default 10: ten times the
# demo's record rate) for SOAK_SECONDS (default 1800), S3 notifications on SQS feeding
# `serve`, which is SIGKILLed every SOAK_KILL_EVERY seconds (default 240) and restarted.
# At the end serve drains what was uploaded and stops; the run fails unless:
#   - the ledger names every uploaded object exactly once, and its record count equals a
#     one-shot `inspect` of the bucket (nothing lost, nothing counted twice);
#   - no findings line is written twice and no incident is opened twice;
#   - serve's peak RSS stays under SOAK_MAX_RSS_MB (default 1024).
#
#   tests/soak.sh                      # needs target/release/flowhound (cargo build --release)
#   FLOWHOUND_BIN=... SOAK_SECONDS=300 tests/soak.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SECONDS_TOTAL="${SOAK_SECONDS:-1800}"
KILL_EVERY="${SOAK_KILL_EVERY:-240}"
SPEEDUP="${SOAK_SPEEDUP:-10}"
MAX_RSS_MB="${SOAK_MAX_RSS_MB:-1024}"
BIN="$(realpath "${FLOWHOUND_BIN:-target/release/flowhound}")"
AWS_CLI="${FLOWHOUND_AWS_CLI:-$(pwd)/target/emulator/venv/bin/aws}"
[ -x "$AWS_CLI" ] || AWS_CLI=aws
WORK="$(mktemp -d "${TMPDIR:-/tmp}/flowhound-soak.XXXXXX")"

if [ -z "${FLOWHOUND_EMULATOR:-}" ]; then
    FLOWHOUND_EMULATOR="$(deploy/emulator/start.sh)"
    trap 'deploy/emulator/stop.sh' EXIT
fi
ENDPOINT="$FLOWHOUND_EMULATOR"
case "$ENDPOINT" in http://127.0.0.1:*|http://localhost:*) ;; *) echo "not a loopback endpoint: $ENDPOINT" >&2; exit 2 ;; esac
# Dummy credentials and the emulator only: nothing leaves loopback.
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
export AWS_ENDPOINT_URL="$ENDPOINT" AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
unset AWS_PROFILE AWS_SESSION_TOKEN
aws() { "$AWS_CLI" --endpoint-url "$ENDPOINT" --output json "$@"; }
log() { echo "$(date -u +%H:%M:%S) $*"; }

log "simulating the demo's estate and training its model in $WORK"
"$BIN" simulate --out "$WORK/sim" >/dev/null 2>&1
RUST_LOG=warn "$BIN" train "$WORK/sim/train" --model "$WORK/model" >/dev/null

bucket="fh-soak-$$"
aws s3 mb "s3://$bucket" >/dev/null
queue_url="$(aws sqs create-queue --queue-name "fh-soak-$$" | python3 -c 'import json,sys; print(json.load(sys.stdin)["QueueUrl"])')"
arn="$(aws sqs get-queue-attributes --queue-url "$queue_url" --attribute-names QueueArn |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["Attributes"]["QueueArn"])')"
aws s3api put-bucket-notification-configuration --bucket "$bucket" \
    --notification-configuration "{\"QueueConfigurations\":[{\"QueueArn\":\"$arn\",\"Events\":[\"s3:ObjectCreated:*\"]}]}"
cat >"$WORK/serve.toml" <<EOF
queue_url = "$queue_url"
model = "$WORK/model"
state_dir = "state"
findings = "findings.jsonl"
wait = "1s"
visibility_timeout = "30s"
max_messages = 10
EOF

# The test days' objects in data-time order (the key's yyyymmddThhmmZ), with their data time.
python3 - "$WORK/sim/test" >"$WORK/objects" <<'EOF'
import calendar, os, re, sys, time
rows = []
for root, _, files in os.walk(sys.argv[1]):
    for f in files:
        m = re.search(r"_(\d{8}T\d{4})Z_", f)
        if m:
            t = calendar.timegm(time.strptime(m.group(1), "%Y%m%dT%H%M"))
            rows.append((t, os.path.relpath(os.path.join(root, f), sys.argv[1])))
for t, path in sorted(rows):
    print(t, path)
EOF
total_objects=$(wc -l <"$WORK/objects")
first_t=$(head -1 "$WORK/objects" | cut -d' ' -f1)

start_serve() {
    (cd "$WORK" && RUST_LOG=info exec "$BIN" serve --config serve.toml >>"$WORK/serve.log" 2>&1) &
    serve_pid=$!
}

start_serve
started=$(date +%s)
next_kill=$((started + KILL_EVERY))
uploaded=0 kills=0 peak_rss_kb=0
while :; do
    now=$(date +%s)
    elapsed=$((now - started))
    [ "$elapsed" -lt "$SECONDS_TOTAL" ] || break
    due=$((first_t + elapsed * SPEEDUP))
    stage="$WORK/stage"
    rm -rf "$stage"
    n=0
    while [ "$uploaded" -lt "$total_objects" ]; do
        read -r t path < <(sed -n "$((uploaded + 1))p" "$WORK/objects")
        [ "$t" -le "$due" ] || break
        mkdir -p "$stage/$(dirname "$path")"
        ln "$WORK/sim/test/$path" "$stage/$path"
        uploaded=$((uploaded + 1)) n=$((n + 1))
    done
    [ "$n" -eq 0 ] || aws s3 cp --recursive --only-show-errors "$stage" "s3://$bucket/"
    rss=$(ps -o rss= -p "$serve_pid" 2>/dev/null | tr -d ' ' || true)
    [ -z "$rss" ] || [ "$rss" -le "$peak_rss_kb" ] || peak_rss_kb=$rss
    if [ "$now" -ge "$next_kill" ]; then
        kill -KILL "$serve_pid" 2>/dev/null || true
        wait "$serve_pid" 2>/dev/null || true
        kills=$((kills + 1))
        log "SIGKILL $kills at ${elapsed}s: $uploaded of $total_objects objects uploaded, peak RSS $((peak_rss_kb / 1024)) MB"
        start_serve
        next_kill=$((now + KILL_EVERY))
    fi
    sleep 5
done

ledger_count() {
    python3 -c 'import json,sys
try: print(len(json.load(open(sys.argv[1]))["ledger"]))
except Exception: print(0)' "$WORK/state/checkpoint.json"
}
log "uploads stopped at $uploaded objects; waiting for serve to drain them"
for _ in $(seq 1 120); do
    [ "$(ledger_count)" -ge "$uploaded" ] && break
    sleep 5
done
kill -TERM "$serve_pid"
wait "$serve_pid" || true

RUST_LOG=warn "$BIN" inspect --json "s3://$bucket/" >"$WORK/inspect.json"
python3 - "$WORK" "$uploaded" "$kills" "$peak_rss_kb" "$MAX_RSS_MB" "$SECONDS_TOTAL" "$SPEEDUP" <<'EOF'
import collections, json, sys
work, uploaded, kills, peak_kb, max_mb, secs, speedup = sys.argv[1], *map(int, sys.argv[2:])
cp = json.load(open(f"{work}/state/checkpoint.json"))
one_shot = json.load(open(f"{work}/inspect.json"))
ledger_records = sum(e["records"] for e in cp["ledger"].values())
lines = open(f"{work}/findings.jsonl").read().splitlines()
opened = collections.Counter(json.loads(l)["incident"]["id"] for l in lines if json.loads(l)["incident"]["state"] == "open")
checks = {
    "every uploaded object in the ledger once": len(cp["ledger"]) == uploaded == one_shot["objects"],
    "ledger records equal a one-shot read": ledger_records == one_shot["records"],
    "no findings line written twice": len(set(lines)) == len(lines),
    "no incident opened twice": all(n == 1 for n in opened.values()),
    f"peak RSS under {max_mb} MB": peak_kb / 1024 < max_mb,
}
print(f"soak: {secs} s at {speedup}x the demo's record rate, {kills} SIGKILLs, {uploaded} objects, "
      f"{ledger_records} records, {len(lines)} findings lines, {len(opened)} incidents, peak RSS {peak_kb / 1024:.0f} MB")
for name, ok in checks.items():
    print(f"  {'ok  ' if ok else 'FAIL'} {name}")
sys.exit(0 if all(checks.values()) else 1)
EOF
