#!/usr/bin/env bash
# The oldest controller the collection supports (ansible-core 2.16 from .venv-compat, Python 3.12):
# ansible-test sanity, the unit tests and the `compat` Molecule scenario (the default scenario's
# converge, idempotence and testinfra checks on one Debian 12 host). Prints the time of each part.
# The newest core is tested by `make sanity unit molecule` from .venv.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=$PWD/${COMPAT_VENV:-.venv-compat}
export PATH=$venv/bin:$PATH VIRTUAL_ENV=$venv
mkdir -p .build/logs
echo "compat: $(ansible --version | sed -n 1p), $(python --version)"

part() {
  local name=$1 start
  shift
  start=$(date +%s)
  if "$@"; then
    echo "compat: $name passed in $(( $(date +%s) - start )) s"
  else
    echo "compat: $name FAILED after $(( $(date +%s) - start )) s"
    return 1
  fi
}

# Compile/import on the targets' Python 3.11 is checked by the main run (scripts/sanity.sh).
part sanity env VENV="${COMPAT_VENV:-.venv-compat}" SANITY_DIR=.build/sanity-compat SANITY_SKIP_TARGET_PYTHON=1 \
  scripts/sanity.sh
part unit python -m pytest tests/unit -q -p no:cacheprovider
part molecule scripts/molecule-all.sh compat
