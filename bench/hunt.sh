#!/usr/bin/env bash
# Times `flowhound hunt` over a simulated week of 300 hosts (v5, seed 11: ~50 M records in
# 2 304 objects) side by side with what a user without `hunt` runs on the same data: `train`
# on the 7 days then `score` of the 8th. One invocation, back to back, release build.
#
#   bash bench/hunt.sh            # data in target/bench-hunt (generated once, ~4 GB)
#
# Prints wall seconds and peak RSS of each; BENCHMARKS.md ("Hunt") records the figures.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

flock "${TMPDIR:-/tmp}/flowhound-cargo.lock" cargo build --release --locked --quiet
BIN=target/release/flowhound
DATA=target/bench-hunt
if [[ ! -f $DATA/.generated ]]; then
    rm -rf "$DATA"
    "$BIN" simulate --out "$DATA/sim" --seed 11 --hosts 300 --format v5 >/dev/null
    touch "$DATA/.generated"
fi

measure() {
    local name=$1
    shift
    /usr/bin/time -f "$name %e s %M KB" "$@" >/dev/null 2>"$DATA/$name.err" || {
        tail -5 "$DATA/$name.err" >&2
        exit 1
    }
    tail -1 "$DATA/$name.err"
}

rm -rf "$DATA/model"
measure hunt "$BIN" hunt "$DATA/sim/train" "$DATA/sim/test" --findings "$DATA/hunt.jsonl"
measure train "$BIN" train "$DATA/sim/train" --model "$DATA/model"
measure score "$BIN" score "$DATA/sim/test" --model "$DATA/model" --findings "$DATA/score.jsonl"
