#!/usr/bin/env bash
# ansible-test sanity needs the collection at .../ansible_collections/<namespace>/<name> and
# reads the file list from git: copy the tracked and new (not ignored) files there.
# VENV picks the controller (default .venv; `make compat` passes .venv-compat, ansible-core 2.16)
# and SANITY_DIR the copy, so both can run side by side.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
venv=$root/${VENV:-.venv}
sanity_dir=${SANITY_DIR:-.build/sanity}
dest=$sanity_dir/ansible_collections/djangoops/gunicorn
rm -rf "$sanity_dir"
mkdir -p "$dest"
git ls-files -co --exclude-standard -z | rsync -a --from0 --files-from=- ./ "$dest/"
# ansible-test bootstraps pip in each sanity venv with a script from a host we cannot reach.
pip_version=$("$venv/bin/python" - <<'PY'
import sys
from ansible_test._internal.python_requirements import get_venv_packages
class Python:  # get_venv_packages only reads .version
    version = "%d.%d" % sys.version_info[:2]
print(get_venv_packages(Python())["pip"])
PY
)
mkdir -p ~/.ansible/test/cache
cp scripts/ansible_test_get_pip.py ~/.ansible/test/cache/"get_pip_${pip_version//./_}.py"
cd "$dest"
git init -q && git add -A
python_version=$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
# Every test on the controller's Python; see docs/development.md for what that leaves out.
"$venv/bin/ansible-test" sanity --color no --python "$python_version" --requirements "$@"
# Modules and module_utils also run on the managed hosts' Python: Debian 12 has 3.11.
target=$(find "${PYENV_ROOT:-$HOME/.pyenv}/versions" -maxdepth 2 -path '*/3.11.*/bin' 2>/dev/null | sort -V | tail -1)
if [ -n "${SANITY_SKIP_TARGET_PYTHON:-}" ]; then
  echo "sanity: compile/import on Python 3.11 left to the main run (SANITY_SKIP_TARGET_PYTHON)"
elif [ -n "$target" ] && [ $# -eq 0 ]; then
  PATH="$target:$PATH" "$venv/bin/ansible-test" sanity --color no --python 3.11 --requirements \
    --test compile --test import
else
  echo "sanity: no Python 3.11 found: compile/import checked on $python_version only"
fi
