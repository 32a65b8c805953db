# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet's database connection budget: Ansible's serial batches, each host's slots, the check."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.djangoops.gunicorn.plugins.filter.db_budget import (
    FilterModule, gunicorn_db_budget, gunicorn_db_servers,
)
from ansible_collections.djangoops.gunicorn.plugins.plugin_utils.db_budget import (
    BudgetError, check, host_slots, serial_batches,
)

HOSTS = ["h%d" % i for i in range(1, 9)]


@pytest.mark.parametrize("hosts, serial, sizes", [
    pytest.param(HOSTS, 0, [8], id="0-one-batch"),
    pytest.param(HOSTS, [], [8], id="empty-one-batch"),
    pytest.param(HOSTS, 1, [1] * 8, id="one-at-a-time"),
    pytest.param(HOSTS, [1, "25%"], [1, 2, 2, 2, 1], id="deploy-default"),
    pytest.param(HOSTS, ["50%"], [4, 4], id="percent"),
    pytest.param(HOSTS, ["10%"], [1] * 8, id="percent-rounds-down-to-one"),
    pytest.param(HOSTS, [1, 3, 0], [1, 3, 4], id="zero-takes-the-rest"),
    pytest.param(HOSTS[:3], [5], [3], id="bigger-than-the-play"),
    pytest.param(HOSTS, "2", [2, 2, 2, 2], id="string"),
])
def test_serial_batches_as_ansible_makes_them(hosts, serial, sizes):
    batches = serial_batches(hosts, serial)
    assert [len(b) for b in batches] == sizes
    assert sum(batches, []) == hosts


def test_serial_batches_refuses_nonsense():
    with pytest.raises(BudgetError, match="deploy_serial"):
        serial_batches(HOSTS, ["many"])


@pytest.mark.parametrize("variables, slots, how", [
    pytest.param({}, 2, "2 x 1", id="role-defaults"),
    pytest.param({"gunicorn_django_workers": 5}, 5, "5 x 1", id="pinned-sync"),
    pytest.param({"gunicorn_django_workers": "3", "gunicorn_django_threads": "4",
                  "gunicorn_django_worker_class": "gthread"}, 12, "3 x 4", id="pinned-gthread-strings"),
    pytest.param({"gunicorn_django_workers": 2, "gunicorn_django_threads": 4}, 8, "2 x 4", id="sync-threads"),
    pytest.param({"gunicorn_django_workers": "auto", "gunicorn_django_sizing": {"max_workers": 3}}, 3,
                 "3 x 1 (workers auto, at most max_workers)", id="auto-max-workers"),
    pytest.param({"gunicorn_django_workers": "auto", "gunicorn_django_threads": "auto",
                  "gunicorn_django_sizing": {"max_workers": 2, "max_threads": 4}}, 8, None, id="auto-threads"),
    pytest.param({"gunicorn_django_workers": "auto",
                  "gunicorn_django_sizing": {"db_max_connections": 40, "app_hosts": 3}}, 6, None,
                 id="auto-database-share"),
    pytest.param({"gunicorn_django_workers": "auto"}, None, None, id="auto-unbounded"),
    pytest.param({"gunicorn_django_workers": 4, "gunicorn_django_worker_class": "gevent"}, None, None,
                 id="async-not-modelled"),
])
def test_host_slots(variables, slots, how):
    counted, text = host_slots(variables)
    assert counted == slots
    if how:
        assert text == how


def _fleet(workers, budget=None, **extra):
    budget = dict({"database": "main", "max_connections": 40, "reserved_connections": 3}, **(budget or {}))
    return dict((host, dict({"gunicorn_django_workers": count, "gunicorn_django_db_budget": budget}, **extra))
                for host, count in workers.items())


def test_fits_with_the_batch_headroom():
    fleet = _fleet({"web1": 5, "web2": 5, "web3": 5})
    verdict = check(fleet, list(fleet), list(fleet), [1, "25%"])
    figures = verdict["databases"]["main"]
    # 15 held + 5 more while the one-host batch reloads (2x) = 20 of 37.
    assert verdict["ok"], verdict["message"]
    assert (figures["steady"], figures["release"], figures["need"], figures["allowed"]) == (15, 5, 20, 37)


def test_refused_naming_the_hosts_and_variables():
    fleet = _fleet({"web1": 9, "web2": 9, "web3": 9}, {"other_clients": 2})
    verdict = check(fleet, list(fleet), list(fleet), [1, 2])
    assert not verdict["ok"]
    # 27 held + 18 while web2 and web3 reload + 2 others = 47 > 37.
    assert verdict["databases"]["main"]["need"] == 47
    assert verdict["databases"]["main"]["peak_batch"] == ["web2", "web3"]
    for text in ("Database main", "47", "37", "web1 9 x 1", "web2, web3", "gunicorn_django_workers",
                 "deploy_serial", "gunicorn_django_db_budget"):
        assert text in verdict["message"]


def test_smaller_batches_make_it_fit():
    fleet = _fleet({"web1": 9, "web2": 9, "web3": 9})
    assert not check(fleet, list(fleet), list(fleet), 0)["ok"]
    assert check(fleet, list(fleet), list(fleet), 1)["ok"]


def test_hosts_outside_the_rollout_still_hold_connections():
    fleet = _fleet({"web1": 10, "web2": 10, "stg1": 10})
    verdict = check(fleet, list(fleet), ["web1", "web2"], 1)
    assert verdict["databases"]["main"]["steady"] == 30
    assert not verdict["ok"]


def test_hosts_without_a_budget_and_other_databases_are_apart():
    fleet = _fleet({"web1": 9})
    fleet.update(_fleet({"api1": 30}, {"database": "other", "max_connections": 100}))
    fleet["lonely"] = {"gunicorn_django_workers": 50}
    verdict = check(fleet, list(fleet), list(fleet), 1)
    assert verdict["ok"], verdict["message"]
    assert sorted(verdict["databases"]) == ["main", "other"]
    assert "lonely" not in verdict["databases"]["main"]["hosts"]


def test_no_budget_anywhere():
    verdict = check({"a": {}}, ["a"], ["a"], 1)
    assert verdict["ok"] and "no database budget" in verdict["message"]


def test_disagreeing_hosts_are_refused():
    fleet = _fleet({"web1": 2})
    fleet.update(_fleet({"web2": 2}, {"max_connections": 100}))
    verdict = check(fleet, list(fleet), list(fleet), 1)
    assert not verdict["ok"] and "max_connections differs between web1 (40) and web2 (100)" in verdict["message"]


def test_unbounded_auto_cannot_be_checked():
    fleet = _fleet({"web1": "auto"})
    verdict = check(fleet, list(fleet), list(fleet), 1)
    assert not verdict["ok"] and "cannot be checked" in verdict["message"] and "max_workers" in verdict["message"]


def test_unknown_max_connections():
    fleet = _fleet({"web1": 2}, {"max_connections": None, "server": "db1"})
    verdict = check(fleet, list(fleet), list(fleet), 1)
    assert not verdict["ok"] and "db1 could not be read" in verdict["message"]


def _live(server="db1", max_connections=40, superuser=3, reserved=0, total=0, by_user=()):
    return {"item": server, "max_connections": max_connections, "superuser_reserved_connections": superuser,
            "reserved_connections": reserved, "reserved_total": superuser + reserved, "client_connections": total,
            "by_user": [{"user": u, "count": c} for u, c in by_user]}


def test_live_values_replace_typed_ones():
    fleet = _fleet({"web1": 5, "web2": 5}, {"max_connections": 100, "server": "db1", "db_user": "mysite",
                                            "other_clients": 1})
    live = [_live(max_connections=30, reserved=2, total=14, by_user=[("mysite", 10), ("cron", 4)])]
    verdict = check(fleet, list(fleet), list(fleet), 1, live=live)
    figures = verdict["databases"]["main"]
    # 30 - (3 + 2) = 25 allowed; 10 held + 5 during a batch + 4 other clients (more than the typed 1) = 19.
    assert (figures["allowed"], figures["other_clients"], figures["need"]) == (25, 4, 19)
    assert figures["source"] == "read from db1" and verdict["ok"]
    live[0]["client_connections"] = 24
    live[0]["by_user"][1]["count"] = 14
    assert not check(fleet, list(fleet), list(fleet), 1, live=live)["ok"]


def test_failed_or_skipped_reads_are_ignored():
    fleet = _fleet({"web1": 5}, {"server": "db1"})
    verdict = check(fleet, list(fleet), list(fleet), 1, live=[{"item": "db1", "failed": True, "msg": "no psql"}])
    assert verdict["databases"]["main"]["source"] == "typed" and verdict["ok"]


@pytest.mark.parametrize("budget, text", [
    pytest.param({"max_connections": 40}, "needs a database name", id="no-name"),
    pytest.param({"database": "x", "max_connection": 40}, "unknown keys: max_connection", id="typo"),
    pytest.param({"database": "x", "max_connections": "forty"}, "whole number", id="not-a-number"),
    pytest.param({"database": "x", "reload_headroom": 0.5}, ">= 1", id="headroom"),
])
def test_bad_budgets_are_refused(budget, text):
    with pytest.raises(BudgetError, match=text):
        check({"a": {"gunicorn_django_db_budget": budget}}, ["a"], ["a"], 1)


def test_filters():
    fleet = _fleet({"web1": 30}, {"server": "db1"})
    fleet["db1"] = {}
    assert gunicorn_db_servers(fleet, list(fleet)) == ["db1"]
    assert not gunicorn_db_budget(fleet, list(fleet), ["web1"], 1, live={"results": []})["ok"]
    with pytest.raises(AnsibleFilterError, match="gunicorn_db_budget: "):
        gunicorn_db_budget({"a": {"gunicorn_django_db_budget": {}, "gunicorn_django_workers": "x"}}, ["a"], ["a"], "x")
    assert set(FilterModule().filters()) == {"gunicorn_db_budget", "gunicorn_db_servers"}
