#!/usr/bin/env bash
# Throughput of `flowhound serve` at capacity against the local AWS emulator (LocalStack,
# deploy/emulator/start.sh): one simulated day of a 300-host estate (288 five-minute objects)
# is put in a bucket, one S3 `ObjectCreated` notification per object is queued before serve
# starts, and serve is timed from its start until its log has counted every object, with
# --threads 1 and 2 (fresh state, refilled queue). `score` and `inspect` on the same local
# files give the side-by-side ratio; the emulator's own CPU seconds are reported, as it runs
# on the same CPUs. Usage: bench/serve.sh [BIN] [SIM] (defaults target/release/flowhound,
# /tmp/sim300; build with cargo build --release -p flowhound). Environment: TIMEOUT (s per
# serve run, 1800), PUBLISH (false), FLOWHOUND_EMULATOR_DIR, FLOWHOUND_EMULATOR_PORT.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=bench/common.sh
source bench/common.sh # now, rate, ratio, print_setup
export LC_ALL=C        # printf's %f needs a decimal point
export RUST_LOG=warn   # serve alone runs at info, for its "batch processed" lines
B=${1:-target/release/flowhound}
S=${2:-/tmp/sim300}
TIMEOUT=${TIMEOUT:-1800}
# CloudWatch metrics off by default: the question is reading throughput (S3 GETs + SQS),
# and PutMetricData would add emulator work that AWS does elsewhere. PUBLISH=true to include.
PUBLISH=${PUBLISH:-false}
EMU_DIR=${FLOWHOUND_EMULATOR_DIR:-$PWD/target/emulator}
AWS="$EMU_DIR/venv/bin/aws"
HZ=$(getconf CLK_TCK)
[ -d "$S/test" ] || "$B" simulate --hosts 300 --train-days 1 --test-days 1 --seed 1 --out "$S" > /dev/null

TMP=$(mktemp -d /tmp/flowhound-serve-bench.XXXXXX)
STARTED_EMU=0 BUCKET="" QURL="" SERVE_PID="" EP=""
aws_() { "$AWS" --endpoint-url "$EP" --output json "$@"; }
cleanup() {
    set +e
    if [ -n "$SERVE_PID" ]; then kill -TERM "$SERVE_PID" 2>/dev/null && wait "$SERVE_PID"; fi
    [ -n "$QURL" ] && aws_ sqs delete-queue --queue-url "$QURL" > /dev/null
    [ -n "$BUCKET" ] && aws_ s3 rb "s3://$BUCKET" --force > /dev/null
    rm -rf "$TMP"
    [ "$STARTED_EMU" = 1 ] && deploy/emulator/stop.sh
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# serve requires `model` (docs/serve.md). The e2e test uses models/reference, trained on a
# 12-host scenario; a model of this scenario's own training day scores like production and
# is the one `score` below uses too. Not timed.
echo "training a model on $S/train" >&2
"$B" train "$S/train" --model "$TMP/model" > /dev/null
read -r REC OBJ < <("$B" inspect "$S/test" --json | python3 -c \
    'import json,sys; s=json.load(sys.stdin); print(s["records"], s["objects"])')
[ -n "$OBJ" ] || { echo "inspect $S/test failed" >&2; exit 1; }

pid_alive() { [ -f "$EMU_DIR/emulator.pid" ] && kill -0 "$(cat "$EMU_DIR/emulator.pid")" 2>/dev/null; }
pid_alive || STARTED_EMU=1
EP=$(deploy/emulator/start.sh)
case $EP in http://127.0.0.1:*) ;; *) echo "emulator endpoint $EP is not loopback" >&2; exit 1 ;; esac
EPID=$(cat "$EMU_DIR/emulator.pid")
# As the e2e tests' aws_env: dummy credentials, the emulator for every service, no profile
# files, no instance metadata; and no HTTP proxy, so nothing leaves 127.0.0.1.
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 \
    AWS_DEFAULT_REGION=us-east-1 AWS_ENDPOINT_URL="$EP" AWS_CONFIG_FILE=/dev/null \
    AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true NO_PROXY=127.0.0.1 no_proxy=127.0.0.1
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_ENDPOINT_URL_S3 AWS_ENDPOINT_URL_SQS AWS_ENDPOINT_URL_CLOUDWATCH \
    HTTP_PROXY HTTPS_PROXY ALL_PROXY http_proxy https_proxy all_proxy

NAME="fh-bench-serve-$$-$(date +%s)"
aws_ s3 mb "s3://$NAME" > /dev/null
BUCKET=$NAME
QURL=$("$AWS" --endpoint-url "$EP" --output text sqs create-queue --queue-name "$NAME-q" --query QueueUrl)
echo "uploading $OBJ objects to s3://$BUCKET (not timed)" >&2
aws_ s3 sync --only-show-errors "$S/test" "s3://$BUCKET/"

# fill_queue: one notification per listed object, in key (= time) order, as S3 sends them
# (eventName without "s3:", key form-encoded; the body format of flowhound-aws/src/sqs.rs).
# The e2e test lets the emulator send them (put-bucket-notification-configuration), which
# only fires on upload; building them lets the queue be refilled for the second run. One
# botocore client from the aws CLI's venv sends SendMessageBatch of 10, instead of ~30 CLI
# starts. Prints the number of objects notified.
fill_queue() {
    "$EMU_DIR/venv/bin/python" - "$EP" "$BUCKET" "$QURL" <<'PY'
import json, sys, urllib.parse, botocore.session
ep, bucket, queue = sys.argv[1:4]
kw = dict(endpoint_url=ep, region_name="us-east-1", aws_access_key_id="test", aws_secret_access_key="test")
session = botocore.session.get_session()
s3, sqs = session.create_client("s3", **kw), session.create_client("sqs", **kw)
objs = [o for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for o in page.get("Contents", []) if o["Key"].endswith(".log.gz")]
objs.sort(key=lambda o: o["Key"])
def body(i, o):
    return json.dumps({"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1",
        "eventTime": o["LastModified"].strftime("%Y-%m-%dT%H:%M:%S.000Z"), "eventName": "ObjectCreated:Put",
        "s3": {"s3SchemaVersion": "1.0", "bucket": {"name": bucket, "arn": "arn:aws:s3:::" + bucket},
               "object": {"key": urllib.parse.quote_plus(o["Key"], safe="/"), "size": o["Size"],
                          "eTag": o["ETag"].strip('"'), "sequencer": "%016X" % i}}}]})
for at in range(0, len(objs), 10):
    entries = [{"Id": str(j), "MessageBody": body(at + j, o)} for j, o in enumerate(objs[at:at + 10])]
    failed = sqs.send_message_batch(QueueUrl=queue, Entries=entries).get("Failed")
    if failed:
        sys.exit(f"send_message_batch failed: {failed}")
print(len(objs))
PY
}

# sum_field NAME LOG: the sum of NAME over serve's "batch processed" lines (JSON logs).
sum_field() {
    awk -v k="\"$1\":" '/"message":"batch processed"/ { split($0, a, k); split(a[2], b, /[^0-9]/); s += b[1] }
        END { print s + 0 }' "$2"
}
# group_ticks PGID: user+sys clock ticks of a process group, with its reaped children
# (start.sh runs the emulator under setsid: its PID is its process group).
group_ticks() {
    cat /proc/[0-9]*/stat 2> /dev/null | sed 's/.*) //' |
        awk -v g="$1" '$3 == g { s += $12 + $13 + $14 + $15 } END { print s + 0 }'
}
secs() { echo "$1 / $HZ" | bc -l; }

ROWS=() NOTES=()
# row RUN THREADS WALL CPU RSS_KIB RECORDS
row() {
    ROWS+=("$(printf '| %s | %s | %.1f | %.1f | %s | %.0f | %d |' "$1" "$2" "$3" "$4" "$(rate "$6" "$3")" \
        "$(echo "$6 / $4" | bc -l)" "$(($5 / 1024))")")
}

declare -A WALL
for t in 1 2; do
    dir="$TMP/serve-t$t"
    mkdir -p "$dir"
    # Throughput settings: the largest receive (10 messages = 10 objects read in parallel
    # per cycle) and no long-poll wait (the queue is full until the end anyway).
    # Defaults otherwise (lateness 10m, visibility 5m, checkpoint every cycle), as deployed.
    cat > "$dir/serve.toml" << EOF
queue_url = "$QURL"
model = "$TMP/model"
state_dir = "state"
findings = "findings.jsonl"
publish = $PUBLISH
max_messages = 10
wait = "0s"
EOF
    n=$(fill_queue)
    [ "$n" = "$OBJ" ] || { echo "queued $n notifications, inspect read $OBJ objects" >&2; exit 1; }
    echo "serve --threads $t: $n objects queued" >&2
    e0=$(group_ticks "$EPID")
    t0=$(now)
    RUST_LOG=info "$B" --log-format json --threads "$t" serve --config "$dir/serve.toml" \
        > /dev/null 2> "$dir/serve.log" &
    SERVE_PID=$!
    SECONDS=0
    # Polled every 0.1 s: the awk costs ~1 ms a time, the resolution is ±0.1 s.
    while [ "$(sum_field objects "$dir/serve.log")" -lt "$n" ]; do
        if ! kill -0 "$SERVE_PID" 2> /dev/null || [ "$SECONDS" -ge "$TIMEOUT" ]; then
            echo "serve exited or timed out after $SECONDS s; last log lines:" >&2
            tail -n 20 "$dir/serve.log" >&2
            exit 1
        fi
        sleep 0.1
    done
    t1=$(now)
    # CPU and peak RSS just before SIGTERM (the final checkpoint is not counted).
    cpu=$(sed 's/.*) //' "/proc/$SERVE_PID/stat" | awk '{ print $12 + $13 }')
    hwm=$(awk '/^VmHWM:/ { print $2 }' "/proc/$SERVE_PID/status")
    e1=$(group_ticks "$EPID")
    kill -TERM "$SERVE_PID"
    rc=0
    wait "$SERVE_PID" || rc=$?
    SERVE_PID=""
    if [ "$rc" != 0 ] || ! grep -q "final checkpoint written" "$dir/serve.log"; then
        echo "serve --threads $t did not stop cleanly on SIGTERM (exit $rc)" >&2
        tail -n 20 "$dir/serve.log" >&2
        exit 1
    fi
    wall=$(echo "$t1 - $t0" | bc -l)
    records=$(sum_field records "$dir/serve.log")
    [ "$records" = "$REC" ] || echo "warning: serve counted $records records, inspect $REC" >&2
    WALL[serve$t]=$wall
    row "serve (emulator)" "$t" "$wall" "$(secs "$cpu")" "$hwm" "$records"
    emu=$(secs $((e1 - e0)))
    NOTES+=("$(printf -- '- serve --threads %s: the emulator used %.1f CPU s (%.2f vCPU on average); serve + emulator: %.0f records per CPU-second' \
        "$t" "$emu" "$(echo "$emu / $wall" | bc -l)" "$(echo "$records / ($(secs "$cpu") + $emu)" | bc -l)")")
done

# local LABEL THREADS CMD...: a local run of the same data, timed by /usr/bin/time.
local_run() {
    local label=$1 t=$2 wall user sys kib
    shift 2
    /usr/bin/time -f "%e %U %S %M" -o "$TMP/time" "$B" --threads "$t" "$@" > /dev/null
    read -r wall user sys kib < "$TMP/time"
    WALL[$label$t]=$wall
    row "$label (local)" "$t" "$wall" "$(echo "$user + $sys" | bc -l)" "$kib" "$REC"
}
for t in 1 2; do
    echo "score and inspect --threads $t" >&2
    local_run score "$t" score "$S/test" --model "$TMP/model" --findings "$TMP/score.jsonl"
    local_run inspect "$t" inspect "$S/test" --json
done

print_setup "$REC" "$OBJ"
echo "serve: max_messages 10, wait 0s, publish $PUBLISH; emulator $EP (pid $EPID)"
echo
echo "| run | threads | wall s | CPU s | M records/s | records/s per CPU-second | peak RSS MiB |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
printf '%s\n' "${ROWS[@]}"
echo
for t in 1 2; do
    echo "- serve / score wall, --threads $t: $(ratio "${WALL[serve$t]}" "${WALL[score$t]}") (serve / inspect: $(ratio "${WALL[serve$t]}" "${WALL[inspect$t]}"))"
done
printf '%s\n' "${NOTES[@]}"
echo "- the emulator (Python) shares the same $(nproc) CPUs: serve's CPU s above exclude it; its own"
echo "  records per CPU-second is serve's rate per vCPU, the serve + emulator figure the machine's."
