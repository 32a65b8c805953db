# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docs/reliability.md prints the rules table of test_rules.py and the wiring cases of molecule/badinput."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "badinput_tables.py"
_SPEC = importlib.util.spec_from_file_location("badinput_tables", SCRIPT)
badinput_tables = importlib.util.module_from_spec(_SPEC)
sys.modules["badinput_tables"] = badinput_tables
_SPEC.loader.exec_module(badinput_tables)


def test_the_document_agrees_with_the_data():
    current = badinput_tables.DOC.read_text(encoding="utf-8")
    assert badinput_tables.rendered(current) == current, "run scripts/badinput_tables.py write"


def test_every_row_is_in_the_document():
    text = badinput_tables.DOC.read_text(encoding="utf-8")
    test_rules = badinput_tables._load_test_rules()
    assert all("| %s |" % badinput_tables._cell(case.name) in text for case in test_rules.CASES)


def test_a_mapping_that_extends_the_sample_shows_what_it_adds():
    sample = {"gunicorn_django_env": {"A": "1"}}
    given = {"gunicorn_django_env": {"A": "1", "B": "2"}, "gunicorn_django_workers": 0}
    assert badinput_tables.given_text(given, ["gunicorn_django_app_name"], sample) == (
        '`env: {..., B: "2"}`, `workers: 0`, leaves out `app_name`')


def test_missing_markers_are_named():
    with pytest.raises(SystemExit, match="no <!-- BEGIN rules-table -->"):
        badinput_tables._replace("no markers here", "rules-table", "table")
