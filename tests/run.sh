#!/usr/bin/env bash
# The project's test command (README): every unit, property and end-to-end test.
# The AWS end-to-end tests need an emulator: this starts LocalStack on 127.0.0.1 (installed
# once into target/emulator) and stops it on exit. Set FLOWHOUND_EMULATOR yourself to use
# a running one, or FLOWHOUND_NO_EMULATOR=1 to skip those tests (the last line says so;
# without either, those tests fail rather than pass unrun). The report's browser test needs
# headless Chromium (Debian: apt-get install chromium), or FLOWHOUND_NO_CHROMIUM=1 to skip it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

if [ -z "${FLOWHOUND_EMULATOR:-}" ] && [ -z "${FLOWHOUND_NO_EMULATOR:-}" ]; then
    echo "== aws emulator (LocalStack on 127.0.0.1)"
    FLOWHOUND_EMULATOR="$(deploy/emulator/start.sh)"
    export FLOWHOUND_EMULATOR
    trap 'deploy/emulator/stop.sh' EXIT
fi

cargo test --workspace --locked

echo "== extract cross-check against DuckDB, pandas and polars"
python3 tests/python/check_extract.py --bin "${CARGO_TARGET_DIR:-target}/debug/flowhound" --venv target/check-extract-venv

echo "== notebooks: baseline explorer and model tuning execute headlessly against small simulations"
python3 tests/python/check_notebook.py --bin "${CARGO_TARGET_DIR:-target}/debug/flowhound" --venv target/check-extract-venv

echo "== backfill state machine (deploy/cloudformation/backfill.yaml): rendered, checked, run in LocalStack's interpreter with Batch faked"
python3 tests/python/check_state_machine.py --venv target/check-extract-venv

echo "== sharded stack (deploy/cloudformation/shards.yaml): Fn::ForEach expanded for shards a, b, c and checked against flowhound.yaml"
python3 tests/python/check_shards.py --venv target/check-extract-venv

if [ -n "${FLOWHOUND_NO_CHROMIUM:-}" ]; then
    echo "== NOTE: the report's browser test was skipped by FLOWHOUND_NO_CHROMIUM=1"
fi
if [ -n "${FLOWHOUND_NO_EMULATOR:-}" ]; then
    echo "== passed, EXCEPT the AWS emulator tests: skipped by FLOWHOUND_NO_EMULATOR=1 (serve, crash recovery, s3:// sources, --publish untested)"
else
    echo "== passed, all tests including the AWS emulator tests"
fi
