#!/usr/bin/env bash
# Downloads the sample app's wheels for the test hosts' Pythons (Debian 12: 3.11, Debian 13:
# 3.13) into .build/wheelhouse: test hosts then install with --no-index, needing no network.
# requirements-postgresql.txt (the PostgreSQL driver) is in the same wheelhouse.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.build/wheelhouse
stamp="$dest/.requirements.sha256"
want=$(cat tests/sample_app/requirements.txt tests/sample_app/requirements-postgresql.txt | sha256sum | cut -d' ' -f1)
[ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && { echo "wheelhouse: current"; exit 0; }
mkdir -p "$dest"
for pyver in 3.11 3.13; do
  # pip download evaluates environment markers for the running Python, not --python-version.
  reqs=$(mktemp)
  .venv/bin/python - "$pyver" > "$reqs" <<'PY'
import sys
from packaging.requirements import Requirement
for name in ("tests/sample_app/requirements.txt", "tests/sample_app/requirements-postgresql.txt"):
    for line in open(name):
        line = line.split("#", 1)[0].strip()
        if line:
            req = Requirement(line)
            if req.marker is None or req.marker.evaluate({"python_version": sys.argv[1]}):
                req.marker = None
                print(req)
PY
  .venv/bin/python -m pip download -q -d "$dest" --only-binary=:all: \
    --platform manylinux2014_x86_64 --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 \
    --python-version "$pyver" --implementation cp \
    -r "$reqs" 2> >(grep -v "is ignored" >&2)
  rm -f "$reqs"
done
echo "$want" > "$stamp"
echo "wheelhouse: $(find "$dest" -name '*.whl' | wc -l) wheels in $dest"
