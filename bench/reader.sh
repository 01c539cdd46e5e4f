#!/usr/bin/env bash
# Reader benchmark: flowhound `inspect` vs decompression alone (same gzip backend) vs
# polars and DuckDB, on one generated tree of realistic v2 gzip objects, side by side.
# `isal` is decompression alone with ISA-L (python-isal): a second, independent ceiling.
# Decompression alone is `gunzip_lines`, which inflates each object as the reader does:
# in memory with libdeflate up to 256 MiB, streamed with flate2/zlib-rs beyond, so the
# ratio measures parsing, not the gzip backend.
#
#   bench/reader.sh [RECORDS=10000000] [OBJECTS=20]
#
# Data goes to target/bench-reader (regenerated when the size changes); polars and
# DuckDB are installed into bench/.venv with pip. Each figure is the best of REPEAT runs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

RECORDS=${1:-10000000}
OBJECTS=${2:-20}
REPEAT=${REPEAT:-3}
DATA=target/bench-reader

cargo build --release --quiet -p flowhound --bin flowhound -p flowhound-flowlog --example gen_bench --example gunzip_lines
BIN=target/release
source bench/common.sh
generate_once "$DATA" "$RECORDS" "$OBJECTS" gz "plain --plain"
python_engines

records=$(count_records "$DATA/gz")
print_setup "$records" "$OBJECTS"

declare -A secs
for t in 1 2; do
    secs[inspect_gz_$t]=$(best_of "$BIN/flowhound" --threads "$t" inspect "$DATA/gz" --json)
    secs[inspect_plain_$t]=$(best_of "$BIN/flowhound" --threads "$t" inspect "$DATA/plain" --json)
    secs[gunzip_$t]=$(best_reported "$BIN/examples/gunzip_lines" "$t" "$DATA/gz")
    secs[polars_$t]=$(best_reported bench/.venv/bin/python bench/reader_py.py polars "$t" "$DATA/gz")
    secs[duckdb_$t]=$(best_reported bench/.venv/bin/python bench/reader_py.py duckdb "$t" "$DATA/gz")
    secs[isal_$t]=$(best_reported bench/.venv/bin/python bench/reader_py.py isal "$t" "$DATA/gz")
done

printf '\n| reader | threads | seconds | M records/s | vs decompression alone |\n|---|---|---|---|---|\n'
for t in 1 2; do
    for name in inspect_gz inspect_plain gunzip isal polars duckdb; do
        s=${secs[${name}_$t]}
        printf '| %s | %s | %.3f | %s | %s |\n' "$name" "$t" "$s" "$(rate "$records" "$s")" "$(ratio "${secs[gunzip_$t]}" "$s")"
    done
done
printf '\nspeed-up 1 -> 2 threads: inspect gzip %s, inspect plain %s, decompression %s\n' \
    "$(ratio "${secs[inspect_gz_1]}" "${secs[inspect_gz_2]}")" \
    "$(ratio "${secs[inspect_plain_1]}" "${secs[inspect_plain_2]}")" \
    "$(ratio "${secs[gunzip_1]}" "${secs[gunzip_2]}")"
printf 'inspect gzip vs polars: %sx (1 thread), %sx (2 threads); vs DuckDB: %sx, %sx\n' \
    "$(ratio "${secs[polars_1]}" "${secs[inspect_gz_1]}")" "$(ratio "${secs[polars_2]}" "${secs[inspect_gz_2]}")" \
    "$(ratio "${secs[duckdb_1]}" "${secs[inspect_gz_1]}")" "$(ratio "${secs[duckdb_2]}" "${secs[inspect_gz_2]}")"
