#!/usr/bin/env bash
# Installs everything the tests and the demo need on a Debian 12 controller:
# Debian packages (podman, runc, debootstrap, ...) and a Python 3.12+ venv with the pinned
# dev toolchain. Idempotent: a second run only checks.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
# wrk: the load generator of the gunicorn_loadtest tests and the benchmarks; curl: make demo's check.
APT_PACKAGES=(podman runc debootstrap uidmap slirp4netns fuse-overlayfs git make rsync shellcheck wrk curl)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "ok installed" || missing+=("$pkg")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing Debian packages: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# ansible-core 2.20+ needs Python 3.12+: take the newest python3.1x on PATH.
pick_python() {
  local candidate
  # PATH first, then pyenv's installs (its shims refuse versions that are not activated).
  for candidate in python3.14 python3.13 python3.12 \
      $(find "${PYENV_ROOT:-$HOME/.pyenv}/versions" -maxdepth 3 -path '*/3.1[2-9]*/bin/python3' 2>/dev/null | sort -rV); do
    if "$candidate" -c 'import sys, venv, ensurepip; assert sys.version_info >= (3, 12)' >/dev/null 2>&1; then
      echo "$candidate"; return 0
    fi
  done
  return 1
}

if [ ! -x "$VENV/bin/python" ]; then
  PYTHON=$(pick_python) || {
    echo "bootstrap: ERROR: no Python >= 3.12 found (tried python3.14, python3.13, python3.12)." >&2
    echo "bootstrap: ansible-core 2.20+ needs one; install it (e.g. pyenv install 3.13) and re-run." >&2
    exit 1
  }
  echo "bootstrap: creating $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
fi

stamp="$VENV/.requirements-dev.sha256"
want=$(cat requirements-dev.txt constraints-dev.txt | sha256sum | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  echo "bootstrap: installing the dev toolchain into $VENV"
  "$VENV/bin/python" -m pip install -q -r requirements-dev.txt -c constraints-dev.txt 2> >(grep -v "is ignored" >&2)
  echo "$want" > "$stamp"
fi
echo "bootstrap: ok ($("$VENV/bin/ansible" --version | head -1))"
