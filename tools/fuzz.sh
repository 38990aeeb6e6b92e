#!/usr/bin/env bash
# The fuzz suite with a large budget (docs/reliability.md): runs Tests/DiffusionTests/FuzzTests.swift
# with SCALE times the CI case counts (CI runs scale 1 inside `swift test -c release`).
#   tools/fuzz.sh [SCALE] [SEED]      e.g. tools/fuzz.sh 20 7
set -euo pipefail
cd "$(dirname "$0")/.."
export SWIFTDIFFUSION_FUZZ_SCALE="${1:-20}"
export SWIFTDIFFUSION_FUZZ_SEED="${2:-18}"
echo "fuzz: scale $SWIFTDIFFUSION_FUZZ_SCALE, seed $SWIFTDIFFUSION_FUZZ_SEED"
swift build -c release
swift test -c release --filter "FuzzTests|ValidationRegressionTests"
