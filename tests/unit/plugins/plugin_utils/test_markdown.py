# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The text helpers every Markdown filter shares: byte sizes and table cells."""

from __future__ import annotations

import pytest

from ansible_collections.djangoops.gunicorn.plugins.module_utils.sizing import MIB
from ansible_collections.djangoops.gunicorn.plugins.plugin_utils.markdown import GIB, cell, format_bytes, plural


@pytest.mark.parametrize("value, text", [
    (None, "?"),
    (0, "0 MiB"),
    (29 * MIB + 400 * 1024, "29 MiB"),
    (1023 * MIB, "1023 MiB"),
    (GIB, "1.0 GiB"),
    (24152 * MIB, "23.6 GiB"),
])
def test_format_bytes(value, text):
    assert format_bytes(value) == text


@pytest.mark.parametrize("value, separator, text", [
    ("", ", ", "-"),
    (None, ", ", "-"),
    ([], "<br>", "-"),
    ([], ", ", "-"),
    (["a|b", "c"], "<br>", "a\\|b<br>c"),
    (["config", "env"], ", ", "config, env"),
    (("a", None, "b"), ", ", "a, , b"),
    ("  spaced\n out  ", ", ", "spaced out"),
    ("nothing | changed", ", ", "nothing \\| changed"),
    (1.5, ", ", "1.5"),
    (0, ", ", "0"),
    (False, ", ", "False"),
])
def test_cell(value, separator, text):
    assert cell(value, separator=separator) == text


def test_cell_joins_with_a_comma_by_default():
    assert cell(["a", "b"]) == "a, b"


@pytest.mark.parametrize("number, noun, text", [
    (1, "worker", "1 worker"),
    (0, "worker", "0 workers"),
    (3, "sync worker", "3 sync workers"),
    (None, "thread", "None threads"),
])
def test_plural(number, noun, text):
    assert plural(number, noun) == text
