#!/usr/bin/env bash
# Runs every performance measurement of test/perf on this machine (hot paths against
# their RSA floor, the official Node SDK, cold starts, arm64 bootstrap sizes, a load run)
# and writes BENCHMARKS.md. Flags are passed on: scripts/bench.sh -rounds 3 -load-duration 10s
set -euo pipefail
cd "$(dirname "$0")/.."
exec go run ./test/perf/cmd/benchreport "$@"
