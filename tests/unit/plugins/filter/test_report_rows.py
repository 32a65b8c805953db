# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet report rows: hand-made facts for each case, and the real gunicorn_facts output."""

from __future__ import annotations

import json

import pytest

from ansible.errors import AnsibleFilterError
from core_compat import patch_module_args

from ansible_collections.djangoops.gunicorn.plugins.filter.report import (
    FilterModule, gunicorn_report_rows, report_row,
)
from ansible_collections.djangoops.gunicorn.plugins.module_utils.sizing import MIB

from report_facts import GIB, gunicorn_facts, hostvars, instance

ROW_KEYS = {"host", "status", "cpu", "memory", "instances", "sized_instance", "recommendation", "current",
            "changes", "difference", "warnings"}
INSTANCE_ROW_KEYS = {"name", "master_pid", "worker_class", "workers", "threads", "running_workers",
                     "worker_memory_bytes", "worker_mean_bytes", "memory_metric", "sized"}


def test_limited_host_row():
    [row] = gunicorn_report_rows(hostvars(web1=gunicorn_facts(instances=[instance()])), ["web1"])
    assert set(row) == ROW_KEYS
    assert row["status"] == "ok"
    assert row["cpu"] == {"effective": 1.5, "source": "cgroup_v1", "logical": 2}
    assert row["memory"] == {"effective_bytes": GIB, "source": "cgroup_v1", "total_bytes": 24 * GIB}
    [summary] = row["instances"]
    assert set(summary) == INSTANCE_ROW_KEYS
    assert summary == {"name": "gunicorn-mysite.service", "master_pid": 100, "worker_class": "sync", "workers": 2,
                       "threads": 1, "running_workers": 2, "worker_memory_bytes": 32 * MIB,
                       "worker_mean_bytes": 31 * MIB, "memory_metric": "uss", "sized": True}
    # floor(2 x 1.5) + 1 = 4 by CPU; (1024 - 512) / (32 x 2) = 8 by memory.
    assert row["recommendation"]["workers"] == 4 and row["recommendation"]["bound_by"] == "cpu"
    assert row["recommendation"]["limits"] == {"cpu": 4, "memory": 8, "database": None, "explicit_max": None}
    assert row["recommendation"]["per_worker_memory_bytes"] == 32 * MIB
    assert row["recommendation"]["per_worker_memory_source"] == "measured"
    assert row["sized_instance"] == "gunicorn-mysite.service"
    assert row["current"] == {"worker_class": "sync", "workers": 2, "threads": 1}
    assert row["changes"] == [{"setting": "workers", "current": 2, "recommended": 4, "delta": 2}]
    assert row["difference"] == "workers 2 -> 4 (+2)"
    assert row["warnings"] == []


@pytest.mark.parametrize("current, options, difference", [
    pytest.param({"workers": 4}, {}, "matches the recommendation", id="matches"),
    pytest.param({"workers": 9}, {}, "workers 9 -> 4 (-5)", id="too-many-workers"),
    pytest.param({"workers": 4, "threads": 4, "worker_class": "gthread"}, {},
                 "worker_class gthread -> sync, threads 4 -> 1 (-3)", id="gthread-to-sync"),
    # io: floor(1.5 / 0.1) + 1 = 16 slots = 2 gthread workers x 8 threads.
    pytest.param({"workers": 2}, {"profile": "io"},
                 "worker_class sync -> gthread, threads 1 -> 8 (+7)", id="io-profile-wants-threads"),
])
def test_difference_names_every_changed_setting(current, options, difference):
    facts = gunicorn_facts(instances=[instance(**current)], **options)
    [row] = gunicorn_report_rows(hostvars(web1=facts))
    assert row["difference"] == difference
    changed = [change["setting"] for change in row["changes"]]
    assert changed == [setting for setting in ("worker_class", "workers", "threads")
                       if row["current"][setting] != row["recommendation"][setting]]
    for change in row["changes"]:
        assert ("delta" in change) == (change["setting"] != "worker_class")


def test_host_without_facts_is_kept_with_status():
    rows = gunicorn_report_rows(hostvars(web1=gunicorn_facts(), down=None), ["down", "web1"])
    assert [row["host"] for row in rows] == ["down", "web1"]
    assert set(rows[0]) == ROW_KEYS
    assert rows[0]["status"] == "no facts"
    assert rows[0]["cpu"] is rows[0]["recommendation"] is rows[0]["current"] is None
    assert "unreachable" in rows[0]["difference"]


def test_host_missing_from_hostvars_has_no_facts():
    [row] = gunicorn_report_rows(hostvars(web1=gunicorn_facts()), ["ghost"])
    assert (row["host"], row["status"]) == ("ghost", "no facts")


def test_no_running_instance_has_nothing_to_compare():
    [row] = gunicorn_report_rows(hostvars(web1=gunicorn_facts()))
    assert row["instances"] == [] and row["sized_instance"] is None and row["current"] is None
    assert row["changes"] == []
    assert row["difference"] == "no running instance to compare (0 running, none sized)"
    assert row["recommendation"]["per_worker_memory_source"] == "expected"


def test_several_instances_only_the_sized_one_is_compared():
    facts = gunicorn_facts(memory=4 * GIB, cpu_source="host", memory_source="host", instances=[
        instance(master_pid=100, sized=False, workers=3),
        instance(master_pid=200, unit=None, wsgi_app="shop.wsgi:application", workers=5, sized=True),
        instance(master_pid=300, unit=None, wsgi_app=None, workers=1, worker_bytes=(), sized=False),
    ])
    [row] = gunicorn_report_rows(hostvars(web1=facts))
    assert [item["name"] for item in row["instances"]] == ["gunicorn-mysite.service", "shop.wsgi:application",
                                                           "pid 300"]
    assert [item["sized"] for item in row["instances"]] == [False, True, False]
    assert row["instances"][2]["running_workers"] == 0 and row["instances"][2]["worker_memory_bytes"] is None
    assert row["sized_instance"] == "shop.wsgi:application"
    assert row["current"]["workers"] == 5
    assert row["cpu"]["source"] == "host" and row["memory"]["source"] == "host"


def test_warnings_are_carried():
    facts = gunicorn_facts(instances=[instance()], workers=12)
    facts["recommendation"]["warnings"].insert(0, "2 Gunicorn instances match app mysite; sizing master 100")
    [row] = gunicorn_report_rows(hostvars(web1=facts))
    assert row["warnings"][0].startswith("2 Gunicorn instances match")
    assert any("memory limit" in warning for warning in row["warnings"])
    assert row["recommendation"]["bound_by"] == "explicit"


def test_default_hosts_are_sorted_names():
    rows = gunicorn_report_rows(hostvars(web2=gunicorn_facts(), web1=gunicorn_facts(), db=None))
    assert [row["host"] for row in rows] == ["db", "web1", "web2"]


def test_rows_are_json_serialisable():
    rows = gunicorn_report_rows(hostvars(web1=gunicorn_facts(instances=[instance()]), down=None))
    assert json.loads(json.dumps(rows)) == rows


@pytest.mark.parametrize("value, hosts, message", [
    pytest.param([], None, "mapping of host name", id="list-input"),
    pytest.param({}, "web1", "list of host names", id="hosts-as-string"),
    pytest.param({}, [1], "list of host names", id="hosts-not-names"),
    pytest.param(hostvars(web1={"cpu": {}}), None, "not what gunicorn_facts returns", id="broken-facts"),
])
def test_bad_input_fails_clearly(value, hosts, message):
    with pytest.raises(AnsibleFilterError, match=message):
        gunicorn_report_rows(value, hosts)


def test_registered_by_the_filter_module():
    assert FilterModule().filters()["gunicorn_report_rows"] is gunicorn_report_rows


def test_real_module_output_makes_a_row(capsys, tmp_path, monkeypatch):
    """The rows filter reads exactly what gunicorn_facts returns (no hand-made shapes)."""
    pytest.importorskip("psutil", reason="psutil is required by gunicorn_facts")
    from ansible.module_utils.common import warnings
    from ansible_collections.djangoops.gunicorn.plugins.modules import gunicorn_facts as module

    # The module runs as on a target (see tests/unit/plugins/modules/conftest.py).
    try:
        from ansible.module_utils import _internal  # ansible-core 2.19+
    except ImportError:
        pass  # 2.16-2.18: module.warn() always returns the warning
    else:
        monkeypatch.setattr(_internal, "is_controller", False)
    monkeypatch.setattr(warnings, "_global_warnings", type(warnings._global_warnings)())

    for relative, text in {"cgroup.controllers": "cpu memory", "cpu.max": "150000 100000",
                           "memory.max": str(GIB), "cpu/cpu.cfs_quota_us": "150000",
                           "cpu/cpu.cfs_period_us": "100000", "memory/memory.limit_in_bytes": str(GIB)}.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    with patch_module_args({"cgroup_root": str(tmp_path), "app": "no-such-app-for-the-report"}):
        with pytest.raises(SystemExit):
            module.main()
    result = json.loads(capsys.readouterr().out)
    facts = result["ansible_facts"]["gunicorn"]
    row = report_row("web1", facts)
    assert row["status"] == "ok"
    assert row["cpu"]["effective"] == 1.5 and row["cpu"]["source"] in ("cgroup_v1", "cgroup_v2")
    assert row["memory"]["effective_bytes"] == GIB
    assert row["recommendation"]["per_worker_memory_source"] == "expected"
    assert row["sized_instance"] is None
    assert any("no-such-app-for-the-report" in warning for warning in row["warnings"])
    assert len(result["warnings"]) == len(row["warnings"])
    assert len(row["instances"]) == len(facts["instances"])
