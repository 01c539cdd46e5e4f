#!/usr/bin/env bash
# Isolation forest: flowhound vs scikit-learn on the same 100k x 20 matrix.
# Fit + score timings (median of 5), ROC AUC on planted outliers, Spearman rank correlation.
# Usage: bench/iforest.sh [ROWS] [COLS]
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-100000}
COLS=${2:-20}
OUT=target/bench-iforest
VENV=bench/.venv
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import sklearn, scipy' 2>/dev/null; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet numpy scipy scikit-learn
fi
cargo build --quiet --release -p flowhound-model --example iforest_bench
target/release/examples/iforest_bench --out "$OUT" --rows "$ROWS" --cols "$COLS" --repeats 5
"$VENV/bin/python" bench/iforest_sklearn.py --dir "$OUT" --repeats 5
