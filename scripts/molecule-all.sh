#!/usr/bin/env bash
# Runs Molecule scenarios MOLECULE_JOBS at a time (default 2), each with its own log under
# .build/logs/, then prints one line per scenario and the end of the log of every failed one.
# Scenarios use distinct host names, so they can run side by side.
# Usage: scripts/molecule-all.sh default facts rollback ...
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
mkdir -p .build/logs
export MOLECULE_JOBS=${MOLECULE_JOBS:-2}
# Plain logs (the summary below greps Molecule's closing line).
export NO_COLOR=1 PY_COLORS=0 ANSIBLE_FORCE_COLOR=0

run_one() {
  local scenario=$1 start log result
  start=$(date +%s)
  log=.build/logs/molecule-$scenario.log
  if molecule test -s "$scenario" >"$log" 2>&1; then result=passed; else result=FAILED; fi
  echo "molecule $scenario: $result in $(( $(date +%s) - start )) s (log: $log)"
  [ "$result" = passed ]
}
export -f run_one

# shellcheck disable=SC2016  # $1 is expanded by the inner bash, on purpose
printf '%s\n' "$@" | xargs -P "$MOLECULE_JOBS" -I{} bash -c 'run_one "$1"' _ {}
status=$?

failed=0
for scenario in "$@"; do
  log=.build/logs/molecule-$scenario.log
  if ! grep -q "Molecule executed 1 scenario (1 successful)" "$log" 2>/dev/null; then
    failed=$((failed + 1))
    echo "=== end of $log"
    tail -n 120 "$log"
  fi
done
echo "molecule: $(( $# - failed )) passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
