#!/usr/bin/env bash
# Coverage-guided fuzzing with AFL++ (`cargo afl`, stable toolchain).
#   tests/fuzz/run.sh build                  build the instrumented targets
#   tests/fuzz/run.sh TARGET SECONDS         fuzz one target from its committed corpus
#   tests/fuzz/run.sh all SECONDS            each target in turn (CI runs a short one)
#   tests/fuzz/run.sh replay                 run every committed corpus and crash
#                                            regression input through every target once
# Findings go to target/fuzz/out/TARGET; copy new crashes into
# tests/fuzz/regressions/TARGET/ once fixed (replay keeps them fixed). RELIABILITY.md
# records the campaigns.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$(cd ../.. && pwd)/target}/fuzz"
TARGETS=(line_parser reader features_score model_load serve_config)
LOCK="${TMPDIR:-/tmp}/flowhound-cargo.lock"

build() {
    command -v cargo-afl >/dev/null || flock "$LOCK" cargo install cargo-afl --locked --version 0.18.2
    flock "$LOCK" cargo afl config --build >/dev/null 2>&1 || true
    flock "$LOCK" cargo afl build --release --locked
}

fuzz() {
    local target="$1" seconds="$2"
    local out="$CARGO_TARGET_DIR/out/$target"
    mkdir -p "$out"
    # -V stops after SECONDS; -i - resumes an earlier campaign's queue when one exists.
    local input="corpus/$target"
    [ -d "$out/default/queue" ] && input="-"
    AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_UI=1 AFL_AUTORESUME=1 \
        cargo afl fuzz -V "$seconds" -i "$input" -o "$out" "$CARGO_TARGET_DIR/release/$target" >"$out/log" 2>&1 || {
        tail -20 "$out/log"; return 1; }
    local stats="$out/default/fuzzer_stats"
    echo "$target: $(grep -E '^(execs_done|bitmap_cvg|saved_crashes|saved_hangs|corpus_count)' "$stats" | tr -s ' ' | tr '\n' ' ')"
    local crashes
    crashes=$(find "$out/default/crashes" -type f -name 'id:*' | wc -l)
    [ "$crashes" -eq 0 ] || { echo "$target: $crashes crashes in $out/default/crashes"; return 1; }
}

replay() {
    local status=0
    for target in "${TARGETS[@]}"; do
        for input in corpus/"$target"/* regressions/"$target"/*; do
            [ -f "$input" ] || continue
            "$CARGO_TARGET_DIR/release/$target" <"$input" >/dev/null 2>&1 || { echo "$target: $input fails"; status=1; }
        done
    done
    return $status
}

case "${1:-}" in
    build) build ;;
    replay) replay ;;
    all) for t in "${TARGETS[@]}"; do fuzz "$t" "${2:?seconds}"; done ;;
    line_parser|reader|features_score|model_load|serve_config) fuzz "$1" "${2:?seconds}" ;;
    *) sed -n 2,10p "$0"; exit 2 ;;
esac
