#!/usr/bin/env bash
# The project's test command (README): every unit, property and end-to-end test.
# End-to-end tests that need the AWS emulator start it here on 127.0.0.1 and stop it
# on exit; everything else needs nothing but cargo.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cargo test --workspace --locked
