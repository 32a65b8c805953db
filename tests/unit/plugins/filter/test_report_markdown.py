# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Markdown rendering of fleet report rows (rows made by the real rows filter)."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.djangoops.gunicorn.plugins.filter.report import (
    HEADER, FilterModule, gunicorn_report_markdown, gunicorn_report_rows,
)

from report_facts import GIB, gunicorn_facts, hostvars, instance
from markdown_cells import table_cells


def render(**facts_by_host):
    return gunicorn_report_markdown(gunicorn_report_rows(hostvars(**facts_by_host)))


def test_limited_host_table():
    markdown = render(web1=gunicorn_facts(instances=[instance()]))
    lines = markdown.splitlines()
    assert len(lines) == 3
    header, separator, row = table_cells(markdown.splitlines())
    assert separator == ["---"] * len(HEADER)
    assert header == list(HEADER)
    assert row == [
        "web1",
        "1.5 (cgroup_v1)",
        "1.0 GiB (cgroup_v1)",
        "gunicorn-mysite.service: 2 sync workers x 1 thread, 2 running, 32 MiB/worker uss (sized)",
        "4 sync workers x 1 thread, 32 MiB/worker measured",
        "cpu (cpu 4, memory 8)",
        "workers 2 -> 4 (+2)",
        "-",
    ]


def test_every_row_has_every_column():
    markdown = render(
        web1=gunicorn_facts(instances=[instance()]),
        web2=gunicorn_facts(cpus=2.0, memory=4 * GIB, cpu_source="host", memory_source="host",
                            instances=[instance(sized=False), instance(master_pid=200, unit="shop.service")],
                            db_max_connections=50, max_workers=3),
        down=None,
        idle=gunicorn_facts(cpus=1.0, memory=2 * GIB, cpu_source="cgroup_v2", memory_source="cgroup_v2"))
    rows = table_cells(markdown.splitlines())
    assert [row[0] for row in rows[2:]] == ["down", "idle", "web1", "web2"]
    assert {len(row) for row in rows} == {len(HEADER)}
    down, idle, web1, web2 = rows[2:]
    assert web1[6] == "workers 2 -> 4 (+2)"
    assert down[1:5] == ["?", "?", "?", "no facts"]
    assert idle[1:4] == ["1 (cgroup_v2)", "2.0 GiB (cgroup_v2)", "none"]
    assert idle[4].endswith("300 MiB/worker expected")
    assert idle[6] == "no running instance to compare (0 running, none sized)"
    # Two instances in one cell, one per line; every known limit named after the binding one:
    # cpu floor(2 / 0.5) + 1 = 5; memory (4096 - 512 - 88 other instance) / (32 x 2) = 54;
    # database (50 - 3) / 2 = 23; max_workers 3.
    assert web2[3].count("<br>") == 1 and web2[3].split("<br>")[1].startswith("shop.service: ")
    assert web2[5] == "explicit_max (cpu 5, memory 54, database 23, explicit_max 3)"


def test_pipes_and_newlines_cannot_break_the_table():
    facts = gunicorn_facts(instances=[instance(unit="odd|name.service")])
    facts["recommendation"]["warnings"] = ["first | warning", "second\nline"]
    markdown = render(web1=facts)
    assert len(markdown.splitlines()) == 3
    row = table_cells(markdown.splitlines())[2]
    assert len(row) == len(HEADER)
    assert row[3].startswith("odd\\|name.service:")
    assert row[7] == "first \\| warning; second line"


def test_empty_fleet_is_just_the_header():
    assert gunicorn_report_markdown([]).splitlines() == [
        "| %s |" % " | ".join(HEADER), "| %s |" % " | ".join(["---"] * len(HEADER))]


@pytest.mark.parametrize("rows, message", [
    pytest.param({"host": "web1"}, "list of rows", id="dict"),
    pytest.param(["web1"], "list of rows", id="list-of-names"),
    pytest.param([{"host": "web1", "status": "ok"}], "row of host web1", id="incomplete-row"),
])
def test_bad_input_fails_clearly(rows, message):
    with pytest.raises(AnsibleFilterError, match=message):
        gunicorn_report_markdown(rows)


def test_registered_by_the_filter_module():
    assert FilterModule().filters()["gunicorn_report_markdown"] is gunicorn_report_markdown
