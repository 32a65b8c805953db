#!/usr/bin/env bash
# Builds the collection's docsite with antsibull-docs into .build/docsite (not committed):
# modules, filters and roles (from argument_specs) as antsibull-docs renders them for
# docs.ansible.com, plus the extra docs of docs/docsite/ (the playbooks, which antsibull-docs does
# not document as plugins). HTML by Sphinx with its bundled alabaster theme; warnings are errors.
# Open .build/docsite/build/html/index.html.
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.build/docsite
rm -rf "$dest"
mkdir -p "$dest"
antsibull-docs --config-file .config/antsibull-docs.cfg sphinx-init --use-current --squash-hierarchy --fail-on-error --sphinx-theme alabaster \
  --dest-dir "$dest" djangoops.gunicorn >/dev/null
# antsibull-docs' log into .build, not ~/antsibull.log (build.sh runs from $dest).
sed "s|\.build/antsibull\.log|$PWD/.build/antsibull.log|" .config/antsibull-docs.cfg >> "$dest/antsibull-docs.cfg"
# No network here: intersphinx reads a local inventory of the docs.ansible.com labels the generated
# pages refer to (the links still point to docs.ansible.com).
python - "$dest/ansible_devel.inv" <<'PY'
import sys
import zlib

labels = [
    ("ansible_configuration_settings", "reference_appendices/config.html#ansible-configuration-settings",
     "Ansible Configuration Settings"),
    ("common_return_values", "reference_appendices/common_return_values.html#common-return-values",
     "Return Values"),
    ("action_plugins", "plugins/action.html#action-plugins", "Action plugins"),
]
header = b"# Sphinx inventory version 2\n# Project: Ansible\n# Version: devel\n"
header += b"# The remainder of this file is compressed using zlib.\n"
body = "".join("%s std:label -1 %s %s\n" % label for label in labels).encode()
with open(sys.argv[1], "wb") as handle:
    handle.write(header + zlib.compress(body))
PY
cat >> "$dest/conf.py" <<PY

# scripts/docs-site.sh: build offline.
intersphinx_mapping = {'ansible_devel': ('https://docs.ansible.com/projects/ansible/devel/', '$PWD/$dest/ansible_devel.inv')}
project = 'djangoops.gunicorn'
title = html_short_title = 'djangoops.gunicorn documentation'
PY
"$dest/build.sh" >"$dest/build.log" 2>&1 || { tail -n 60 "$dest/build.log" >&2; exit 1; }
html=$dest/build/html
for page in index.html gunicorn_django_role.html gunicorn_facts_module.html python_literal_filter.html \
    docsite/playbooks.html; do
  [ -s "$html/$page" ] || { echo "docs-site: FAILED: $html/$page is missing" >&2; exit 1; }
done
echo "docs-site: $(find "$html" -name '*.html' | wc -l) pages in $html (open $html/index.html)"
