#!/usr/bin/env bash
# Runs every fuzz target of the module for FUZZTIME each.
#
# A finding is a failing input the engine writes to testdata/fuzz/<Target>/: that fails
# the run at once, with the engine's output. A failure that writes no input is the engine's
# own (Go's fuzzer stops with "context deadline exceeded" or "fuzzing process hung or
# terminated unexpectedly" when a starved machine cannot answer it in time: golang/go#51484,
# #56238), so that target is run again, up to FUZZ_ATTEMPTS times in all; each failed
# attempt's output is printed, and a target that never completes fails the run.
set -euo pipefail

GO=${GO:-go}
FUZZTIME=${FUZZTIME:-3s}
FUZZ_ATTEMPTS=${FUZZ_ATTEMPTS:-3}

log=$(mktemp)
trap 'rm -f "$log"' EXIT

corpus_files() { # dir target -> sorted list of corpus files (none is fine)
  find "$1/testdata/fuzz/$2" -type f 2>/dev/null | sort || true
}

# The targets, as the test binaries list them ("FuzzX" lines, then "ok <pkg>"): a grep of
# the sources would also find a "func Fuzz" inside a string.
listing=$($GO test -list '^Fuzz' ./...)
pairs=$(awk '/^Fuzz/ { names = names " " $1; next }
             /^ok[ \t]/ { n = split(names, a, " "); for (i = 1; i <= n; i++) print $2, a[i]; names = "" }' <<<"$listing")

targets=0
while read -r pkg f; do
  [ -n "$pkg" ] || continue
  dir=$($GO list -f '{{.Dir}}' "$pkg" </dev/null)
  targets=$((targets + 1))
  passed=0
  for attempt in $(seq 1 "$FUZZ_ATTEMPTS"); do
    echo "fuzz $pkg $f ($FUZZTIME, attempt $attempt)"
    before=$(corpus_files "$dir" "$f")
    if $GO test -run='^$' -fuzz="^$f\$" -fuzztime="$FUZZTIME" "$pkg" </dev/null >"$log" 2>&1; then
      if grep -q 'no fuzz tests to fuzz' "$log"; then
        cat "$log"
        echo "FAIL: $pkg has no fuzz target $f" >&2
        exit 1
      fi
      passed=1
      break
    fi
    after=$(corpus_files "$dir" "$f")
    if [ "$before" != "$after" ] || grep -q 'Failing input written to' "$log"; then
      cat "$log"
      echo "FAIL: $f found a failing input (above); it is kept under $dir/testdata/fuzz/$f" >&2
      exit 1
    fi
    echo "--- $f: the fuzzing engine stopped without a failing input (attempt $attempt of $FUZZ_ATTEMPTS):"
    cat "$log"
  done
  if [ "$passed" != 1 ]; then
    echo "FAIL: $f did not complete in $FUZZ_ATTEMPTS attempts" >&2
    exit 1
  fi
done <<<"$pairs"
if [ "$targets" = 0 ]; then
  echo "FAIL: no fuzz targets found" >&2
  exit 1
fi
echo "fuzz: $targets targets passed"
