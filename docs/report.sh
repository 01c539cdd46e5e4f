#!/usr/bin/env bash
# Regenerates docs/report.png, the README's picture of a report: runs `flowhound demo`
# (release build) and has headless Chromium photograph the top of its report.html.
# Needs Chromium (Debian: apt-get install chromium).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
browser="${FLOWHOUND_CHROMIUM:-$(command -v chromium || command -v chromium-browser || command -v google-chrome)}"
out="${CARGO_TARGET_DIR:-target}/report-demo"
flock "${TMPDIR:-/tmp}/flowhound-cargo.lock" cargo build --release --locked -p flowhound
rm -rf "$out"
RUST_LOG=warn "${CARGO_TARGET_DIR:-target}/release/flowhound" demo --out "$out" > /dev/null
profile="$(mktemp -d)"
trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --no-first-run --hide-scrollbars \
    --user-data-dir="$profile" --window-size=1280,2420 \
    --screenshot="$PWD/docs/report.png" "file://$(realpath "$out/report.html")" 2> /dev/null
echo "docs/report.png from $out/report.html"
