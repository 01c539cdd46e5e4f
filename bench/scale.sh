#!/usr/bin/env bash
# Sizing figures of docs/scale.md: wall seconds and peak RSS of each stage of a
# partitioned read on one simulated day of a 300-host estate, against the single-process
# commands; sizes of the partial states. Usage: bench/scale.sh [BIN] (default
# target/release/flowhound; build it first with cargo build --release -p flowhound).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
B=${1:-target/release/flowhound}
S=${SIM:-/tmp/sim300}
O=${OUT:-/tmp/flowhound-scale}
export RUST_LOG=warn
[ -d "$S/test" ] || "$B" simulate --out "$S" --hosts 300 --train-days 2 --test-days 1 --seed 1 > /dev/null
rm -rf "$O"; mkdir -p "$O"
m() { # label, command...
    local label=$1; shift
    /usr/bin/time -f "%e %M" -o "$O/t" "$@" > /dev/null
    read -r secs kb < "$O/t"
    printf "%-46s %7s s %6d MiB\n" "$label" "$secs" "$((kb / 1024))"
}
echo "records: $("$B" inspect "$S/test" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["records"])')"
m "inspect, 1 thread" "$B" --threads 1 inspect "$S/test" --json
m "inspect, 2 threads" "$B" --threads 2 inspect "$S/test" --json
m "extract rows, 1 thread" "$B" --threads 1 extract "$S/test" --out "$O/rows.parquet"
m "extract --state-out, 1 thread" "$B" --threads 1 extract "$S/test" --state-out "$O/day.state"
m "extract --state-out, 2 threads" "$B" --threads 2 extract "$S/test" --state-out "$O/day.state"
m "extract --partition 1/4 --state-out, 1 thread" "$B" --threads 1 extract "$S/test" --partition 1/4 --state-out "$O/parts/"
for k in 2 3 4; do "$B" extract "$S/test" --partition "$k/4" --state-out "$O/parts/"; done
ls -l "$O/day.state" "$O"/parts/*.state | awk '{print $5, $9}'
m "merge 4 partials" "$B" merge "$O/parts/" --state-out "$O/merged.state"
m "hunt SOURCE, 2 threads" "$B" hunt "$S/test" --findings "$O/h1.jsonl"
m "hunt --state, 2 threads" "$B" hunt --state "$O/merged.state" --findings "$O/h2.jsonl"
cmp "$O/h1.jsonl" "$O/h2.jsonl" && echo "hunt findings identical"
m "train SOURCE 2 days, 1 thread" "$B" --threads 1 train "$S/train" --model "$O/model"
m "train SOURCE 1 day, 2 threads" "$B" train "$S/test" --model "$O/m1"
m "train --state 1 day, 2 threads" "$B" train --state "$O/merged.state" --model "$O/m2"
m "score, 1 thread" "$B" --threads 1 score "$S/test" --model "$O/model" --findings "$O/s1.jsonl"
m "score --state, 2 threads" "$B" score --state "$O/merged.state" --model "$O/model" --findings "$O/s2.jsonl"
cmp "$O/s1.jsonl" "$O/s2.jsonl" && echo "score findings identical"
