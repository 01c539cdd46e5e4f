#!/usr/bin/env bash
# Feature-extraction benchmark: `flowhound extract` (5-minute windows, Parquet out) vs a
# comparable per (host, 5-minute window) aggregation in polars and DuckDB, on the same
# generated gzip objects, side by side, at 1 and 2 threads. `extract_all` is extract also writing
# the internal edges and pair timing series (--edges-out, --pairs-out), which no peer computes.
#
#   bench/extract.sh [RECORDS=10000000] [OBJECTS=20]
#   SIM=DIR bench/extract.sh ...   # also time extract on simulator output (e.g. DIR/train)
#
# Data is gen_bench's tree with a realistic host population (`--realistic-peers`: 400
# interfaces, internal peers among them, skewed external destinations), in
# target/bench-extract, made when missing; polars and DuckDB live in bench/.venv. Each figure
# is the best of REPEAT runs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

RECORDS=${1:-10000000}
OBJECTS=${2:-20}
REPEAT=${REPEAT:-3}
DATA=target/bench-extract
SIM=${SIM:-}
OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT

cargo build --release --quiet -p flowhound --bin flowhound -p flowhound-flowlog --example gen_bench
BIN=target/release
source bench/common.sh
generate_once "$DATA" "$RECORDS" "$OBJECTS" "gz --realistic-peers"
python_engines

records=$(count_records "$DATA/gz")
print_setup "$records" "$OBJECTS"

declare -A secs
for t in 1 2; do
    secs[extract_$t]=$(best_of "$BIN/flowhound" --threads "$t" extract "$DATA/gz" --window 5m --out "$OUT/f.parquet")
    # The same rows plus the two optional tables (internal edges, pair timing series).
    secs[extract_all_$t]=$(best_of "$BIN/flowhound" --threads "$t" extract "$DATA/gz" --window 5m --out "$OUT/f.parquet" \
        --edges-out "$OUT/e.jsonl" --pairs-out "$OUT/p.jsonl")
    secs[inspect_$t]=$(best_of "$BIN/flowhound" --threads "$t" inspect "$DATA/gz" --json)
    secs[polars_$t]=$(best_reported bench/.venv/bin/python bench/extract_py.py polars "$t" "$DATA/gz")
    secs[duckdb_$t]=$(best_reported bench/.venv/bin/python bench/extract_py.py duckdb "$t" "$DATA/gz")
done
# Peak memory of one extract (KiB) at 1 and 2 threads.
peak_rss() {
    { /usr/bin/time -f '%M' "$BIN/flowhound" --threads "$1" extract "$2" --window 5m --out "$OUT/f.parquet" \
        2>&1 >/dev/null; } | tail -1
}
rss_1=$(peak_rss 1 "$DATA/gz")
rss_2=$(peak_rss 2 "$DATA/gz")

printf '\n| engine | threads | seconds | M records/s | flowhound extract speed-up |\n|---|---|---|---|---|\n'
for t in 1 2; do
    for name in extract extract_all inspect polars duckdb; do
        s=${secs[${name}_$t]}
        printf '| %s | %s | %.3f | %s | %s |\n' "$name" "$t" "$s" "$(rate "$records" "$s")" "$(ratio "$s" "${secs[extract_$t]}")"
    done
done
printf '\nextract 1 -> 2 threads: %sx; extract vs inspect (reading alone): %s of reader speed at 2 threads\n' \
    "$(ratio "${secs[extract_1]}" "${secs[extract_2]}")" "$(ratio "${secs[inspect_2]}" "${secs[extract_2]}")"
printf 'extract vs polars: %sx (1 thread), %sx (2 threads); vs DuckDB: %sx, %sx\n' \
    "$(ratio "${secs[polars_1]}" "${secs[extract_1]}")" "$(ratio "${secs[polars_2]}" "${secs[extract_2]}")" \
    "$(ratio "${secs[duckdb_1]}" "${secs[extract_1]}")" "$(ratio "${secs[duckdb_2]}" "${secs[extract_2]}")"
printf 'extract peak RSS: %s MiB at 1 thread, %s MiB at 2 threads\n' "$((rss_1 / 1024))" "$((rss_2 / 1024))"

if [[ -n $SIM ]]; then
    sim_records=$(count_records "$SIM")
    printf '\nsimulator output %s: %s records\n| engine | threads | seconds | M records/s | peak RSS MiB |\n|---|---|---|---|---|\n' \
        "$SIM" "$sim_records"
    for t in 1 2; do
        s=$(best_of "$BIN/flowhound" --threads "$t" extract "$SIM" --window 5m --out "$OUT/f.parquet")
        i=$(best_of "$BIN/flowhound" --threads "$t" inspect "$SIM" --json)
        printf '| extract | %s | %.3f | %s | %s |\n' "$t" "$s" \
            "$(rate "$sim_records" "$s")" "$(($(peak_rss "$t" "$SIM") / 1024))"
        printf '| inspect | %s | %.3f | %s | – |\n' "$t" "$i" \
            "$(rate "$sim_records" "$i")"
    done
fi
