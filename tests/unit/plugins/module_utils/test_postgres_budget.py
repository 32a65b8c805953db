# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL's budget: psql's command line and its JSON document."""

from __future__ import annotations

import json

import pytest

from ansible_collections.djangoops.gunicorn.plugins.module_utils.postgres_budget import (
    QUERY, BudgetReadError, parse, psql_argv,
)


def test_argv_runs_psql_as_the_server_user_without_psqlrc():
    argv = psql_argv("/usr/bin/psql", "postgres", 5433, "/run/pg", "postgres", "/usr/sbin/runuser")
    assert argv[:4] == ["/usr/sbin/runuser", "-u", "postgres", "--"]
    assert argv[4:7] == ["/usr/bin/psql", "-h", "/run/pg"]
    assert "-X" in argv and ["-p", "5433"] == argv[argv.index("-p"):argv.index("-p") + 2]
    assert argv[-1] == QUERY
    assert psql_argv("psql")[0] == "psql"


def test_parse():
    doc = {"server_version_num": 150014, "max_connections": 40, "superuser_reserved_connections": 3,
           "reserved_connections": 2, "client_connections": 9,
           "by_user": [{"user": "mysite", "database": "mysite", "application": "mysite", "count": 8, "idle": 8},
                       {"user": "postgres", "database": "postgres", "application": None, "count": 1, "idle": 0}]}
    # json_agg puts a line break between the rows, as psql prints it.
    budget = parse("\n" + json.dumps(doc).replace("}, {", "}, \n {") + "\n")
    assert (budget["reserved_total"], budget["usable"]) == (5, 35)
    assert budget["by_application"] == [{"application": "mysite", "count": 8}, {"application": "", "count": 1}]


@pytest.mark.parametrize("text", ["", "not json", json.dumps({"max_connections": "40"})])
def test_parse_refuses(text):
    with pytest.raises(BudgetReadError):
        parse(text)
