# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The bad-input tables of docs/reliability.md, rendered from their data.

- the rules table: CASES and GOOD of tests/unit/plugins/module_utils/test_rules.py
- the wiring table: badinput_cases of molecule/badinput/cases.yml

Usage: python scripts/badinput_tables.py write   (rewrite the tables between their markers)
       python scripts/badinput_tables.py check   (exit 1 when docs/reliability.md differs from the data)
Needs the collection on PYTHONPATH (the Makefile exports it), as the unit tests do.
"""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reliability.md"
TEST_RULES = ROOT / "tests" / "unit" / "plugins" / "module_utils" / "test_rules.py"
WIRING = ROOT / "molecule" / "badinput" / "cases.yml"
PREFIX = "gunicorn_django_"


def _load_test_rules():
    spec = importlib.util.spec_from_file_location("badinput_test_rules", TEST_RULES)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _cell(text):
    return str(text).replace("|", "\\|").replace("\n", " ")


def _short(name):
    return name[len(PREFIX):] if name.startswith(PREFIX) else name


def _value(name, value, sample):
    """JSON of a value; a mapping that extends the sample's shows only what it adds."""
    base = sample.get(name)
    if isinstance(value, dict) and isinstance(base, dict) and base and value != base \
            and all(key in value and value[key] == base[key] for key in base):
        added = ", ".join("%s: %s" % (key, json.dumps(item)) for key, item in value.items() if key not in base)
        return "{..., %s}" % added
    return json.dumps(value)


def given_text(given, without, sample):
    parts = ["`%s: %s`" % (_short(name), _value(name, value, sample)) for name, value in (given or {}).items()]
    parts += ["leaves out `%s`" % _short(name) for name in without or ()]
    return _cell(", ".join(parts))


def rules_table(test_rules):
    lines = ["| # | Case | Given (names without `gunicorn_django_`) | Variable named | Message holds |",
             "|---|---|---|---|---|"]
    for number, case in enumerate(test_rules.CASES, 1):
        holds = ", ".join(["`%s`" % text for text in case.also] + ['"%s"' % case.says])
        given = given_text(case.given, case.without, test_rules.SAMPLE)
        lines.append("| %d | %s | %s | `%s` | %s |" % (number, _cell(case.name), given, case.variable, _cell(holds)))
    lines += ["", "Inputs that must pass the rules (%d):" % len(test_rules.GOOD), ""]
    lines += ["- %s%s" % (_cell(name), ": " + given_text(given, (), test_rules.SAMPLE) if given else "")
              for name, given in test_rules.GOOD]
    return "\n".join(lines)


def wiring_table(sample):
    cases = yaml.safe_load(WIRING.read_text(encoding="utf-8"))["badinput_cases"]
    lines = ["| # | Case | Given (names without `gunicorn_django_`) | Must stop at | Message must name | Status |",
             "|---|---|---|---|---|---|"]
    for number, case in enumerate(cases, 1):
        lines.append("| %d | %s | %s | %s | %s | %s |" % (
            number, _cell(case["name"]), given_text(case.get("vars"), case.get("without"), sample), case["stage"],
            _cell(", ".join("`%s`" % name for name in case["names"])), "xfail" if "xfail" in case else "pass"))
    return "\n".join(lines)


def _replace(text, marker, table):
    pattern = re.compile(r"(<!-- BEGIN %s -->\n)(?:.*?\n)?(<!-- END %s -->)" % (marker, marker), re.DOTALL)
    if not pattern.search(text):
        raise SystemExit("badinput_tables: %s has no <!-- BEGIN %s --> ... <!-- END %s --> markers"
                         % (DOC.relative_to(ROOT), marker, marker))
    return pattern.sub(lambda match: match.group(1) + table + "\n" + match.group(2), text)


def rendered(text):
    """docs/reliability.md's text with both tables rendered from the data."""
    test_rules = _load_test_rules()
    text = _replace(text, "rules-table", rules_table(test_rules))
    return _replace(text, "wiring-table", wiring_table(test_rules.SAMPLE))


def main(argv):
    if argv[1:] not in (["write"], ["check"]):
        raise SystemExit(__doc__)
    current = DOC.read_text(encoding="utf-8")
    wanted = rendered(current)
    if argv[1] == "write":
        DOC.write_text(wanted, encoding="utf-8")
        return 0
    if wanted != current:
        print("badinput_tables: the tables of docs/reliability.md differ from their data: run "
              "scripts/badinput_tables.py write", file=sys.stderr)
        return 1
    print("badinput_tables: docs/reliability.md agrees with its data")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
