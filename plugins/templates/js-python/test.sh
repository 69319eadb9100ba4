#!/usr/bin/env bash
# Builds the plugin (./build.sh), then runs each case in tests/ through `kith run plugin` (one
# call under kith's production limits, nothing installed): tests/NAME.json is the call's input
# and tests/NAME.expect a text that kith's JSON answer must contain.
#
#   ./test.sh             # kith from PATH; KITH=/path/to/kith ./test.sh for another one
set -euo pipefail
cd "$(dirname "$0")"
kith=${KITH:-kith}
./build.sh
failed=0
for input in tests/*.json; do
  case=${input%.json}
  expect=$(<"$case.expect")
  if ! answer=$("$kith" run plugin ./ --input "$input" --format json); then
    echo "FAIL $case: kith run plugin failed" >&2
    failed=1
  elif [[ $answer == *"$expect"* ]]; then
    echo "ok   $case"
  else
    echo "FAIL $case: the answer does not contain $expect:" >&2
    echo "$answer" >&2
    failed=1
  fi
done
exit "$failed"
