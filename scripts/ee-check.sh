#!/usr/bin/env bash
# Execution environments, without building an image or reaching a registry:
# - the collection's meta/execution-environment.yml, read from an install of the built tarball by
#   `ansible-builder introspect` (the step an image build runs), yields its Python and system
#   requirements;
# - `ansible-builder create` renders the build context of docs/examples/ee/execution-environment.yml.
set -euo pipefail
cd "$(dirname "$0")/.."
work=.build/ee
rm -rf "$work" && mkdir -p "$work/dist"
ansible-galaxy collection build --force --output-path "$work/dist" >/dev/null
ANSIBLE_COLLECTIONS_PATH=$PWD/$work/collections \
  ansible-galaxy collection install --offline --force -p "$work/collections" "$work"/dist/*.tar.gz >/dev/null
ansible-builder introspect --sanitize "$work/collections" --write-pip "$work/pip.txt" --write-bindep "$work/bindep.txt" \
  > "$work/introspect.txt"
for want in "psutil>=5.9" "matplotlib>=3.5"; do
  grep -q "^${want//./\\.}  # from collection djangoops.gunicorn$" "$work/pip.txt" || { echo "ee-check: FAILED: $want not in $work/pip.txt" >&2; cat "$work/introspect.txt" >&2; exit 1; }
done
grep -q "^python3-psutil \[platform:dpkg\]" "$work/bindep.txt" \
  || { echo "ee-check: FAILED: python3-psutil not in $work/bindep.txt" >&2; exit 1; }
ansible-builder create --file docs/examples/ee/execution-environment.yml --context "$work/context" -v 1 >/dev/null
test -s "$work/context/Containerfile" || { echo "ee-check: FAILED: no Containerfile in $work/context" >&2; exit 1; }
echo "ee-check: $(grep -c . "$work/pip.txt") Python and $(grep -c . "$work/bindep.txt") system requirements from the collection;" \
  "build context rendered in $work/context"
