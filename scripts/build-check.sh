#!/usr/bin/env bash
# Builds the collection tarball, installs it into an empty temp path and checks that the
# role and the plugins resolve by their FQCN from there (not from this checkout).
set -euo pipefail
cd "$(dirname "$0")/.."
out=.build/dist
rm -rf "$out" && mkdir -p "$out"
ansible-galaxy collection build --force --output-path "$out" >/dev/null
tarball=$(ls "$out"/djangoops-gunicorn-*.tar.gz)
echo "build-check: built $tarball ($(du -h "$tarball" | cut -f1))"
if tar -tzf "$tarball" | grep -E '(^|/)(\.venv|\.build|molecule|tests/sample_app|tests/unit)/' >/dev/null; then
  echo "build-check: dev-only files leaked into the tarball" >&2; exit 1
fi
install_dir=$(mktemp -d)
trap 'rm -rf "$install_dir"' EXIT
# Only the temp path is searched from here on, so nothing resolves from this checkout.
export ANSIBLE_COLLECTIONS_PATH=$install_dir
ansible-galaxy collection install --offline --force -p "$install_dir" "$tarball" >/dev/null
# grep reads all of its input (no -q): under pipefail, a grep that exits at the first match
# makes a long writer fail with a broken pipe.
ansible-galaxy collection list djangoops.gunicorn 2>/dev/null | grep "^djangoops.gunicorn " >/dev/null
ansible-doc -t role djangoops.gunicorn.gunicorn_django | grep 'gunicorn_django_app_name' >/dev/null
ansible-doc -t role djangoops.gunicorn.gunicorn_tune | grep 'gunicorn_tune_paths' >/dev/null
# A filter file may hold several filters, each documented in its own <filter>.yml: take the names
# from the filters the collection exports, so that an undocumented one fails here.
filters=$(ansible-doc -t filter --list --json djangoops.gunicorn | python -c 'import json, sys; print("\n".join(json.load(sys.stdin)))')
[ -n "$filters" ] || { echo "build-check: no filters found" >&2; exit 1; }
for name in $filters; do
  ansible-doc -t filter "$name" >/dev/null
done
for plugin in "$install_dir"/ansible_collections/djangoops/gunicorn/plugins/modules/*.py; do
  name=$(basename "$plugin" .py)
  ansible-doc -t module "djangoops.gunicorn.$name" >/dev/null
done
echo "build-check: installed into $install_dir; role, modules and filters resolve by FQCN"
