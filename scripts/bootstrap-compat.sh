#!/usr/bin/env bash
# Creates .venv-compat: the oldest controller the collection claims (ansible-core 2.16, the
# `ansible` 9 bundle) on Python 3.12, with what `make compat` runs (ansible-test, pytest,
# Molecule). Idempotent: reinstalls only when requirements-compat.txt or
# constraints-compat.txt changed (hash stamp, as scripts/bootstrap.sh does for .venv).
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${COMPAT_VENV:-.venv-compat}

# ansible-core 2.16 supports Python 3.10-3.12 on the controller: take a 3.12.
pick_python() {
  local candidate
  for candidate in python3.12 \
      $(find "${PYENV_ROOT:-$HOME/.pyenv}/versions" -maxdepth 3 -path '*/3.12*/bin/python3' 2>/dev/null | sort -rV); do
    if "$candidate" -c 'import sys, venv, ensurepip; assert sys.version_info[:2] == (3, 12)' >/dev/null 2>&1; then
      echo "$candidate"; return 0
    fi
  done
  return 1
}

if [ ! -x "$VENV/bin/python" ]; then
  PYTHON=$(pick_python) || {
    echo "bootstrap-compat: ERROR: no Python 3.12 found (PATH or pyenv)." >&2
    echo "bootstrap-compat: ansible-core 2.16 needs Python 3.10-3.12; install one (pyenv install 3.12) and re-run." >&2
    exit 1
  }
  echo "bootstrap-compat: creating $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
fi

stamp="$VENV/.requirements-compat.sha256"
want=$(cat requirements-compat.txt constraints-compat.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap-compat: installing the 2.16 toolchain into $VENV"
  "$VENV/bin/python" -m pip install -q -r requirements-compat.txt -c constraints-compat.txt 2> >(grep -v "is ignored" >&2)
  echo "$want" > "$stamp"
fi
echo "bootstrap-compat: ok ($("$VENV/bin/ansible" --version | sed -n 1p))"
