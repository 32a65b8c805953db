# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Baseline record and Markdown filters, on captures shaped as gunicorn_facts and gunicorn_baseline return
them on the fleet scenario's hosts."""

from __future__ import annotations

import copy
import json
import os

import pytest
import yaml

from ansible.errors import AnsibleFilterError

from ansible_collections.djangoops.gunicorn.plugins.filter import baseline as baseline_module
from ansible_collections.djangoops.gunicorn.plugins.filter.baseline import (
    FilterModule, gunicorn_baseline, gunicorn_baseline_markdown,
)
from ansible_collections.djangoops.gunicorn.plugins.module_utils.host_baseline import (
    COUNTED, JOURNAL_CATEGORIES, parse_journal,
)
from ansible_collections.djangoops.gunicorn.plugins.module_utils.sizing import MIB

from report_facts import GIB, gunicorn_facts, instance
from journal_sample import JOURNAL

PLAYBOOK = os.path.join(os.path.dirname(baseline_module.__file__), "..", "..", "playbooks", "baseline.yml")
KIB = 1024


# What gunicorn_baseline captured on the host (the figures of the fleet scenario's hosts): every listening
# socket, Gunicorn's or not, as the module returns them.
LISTENERS = [
    {"proto": "unix", "address": "/run/systemd/private", "queued": 0, "backlog": 4096, "processes": ["systemd"]},
    {"proto": "unix", "address": "/run/gunicorn-mysite/gunicorn.ctl", "queued": 0, "backlog": 100,
     "processes": ["gunicorn"]},
    {"proto": "unix", "address": "/run/shop.sock", "queued": 0, "backlog": 2048, "processes": []},
    {"proto": "tcp", "address": "127.0.0.1:8000", "queued": 3, "backlog": 2048, "processes": ["gunicorn"]},
    {"proto": "tcp", "address": "0.0.0.0:80", "queued": 0, "backlog": 511, "processes": ["nginx"]},
]


def capture_result(**overrides):
    made = {
        "changed": False,
        "cpu": {"load": [3.47, 3.92, 3.48], "run_queue": 2, "busy_percent": 65, "iowait_percent": 4,
                "steal_percent": 1, "idle_percent": 30, "sample_seconds": 1},
        "memory": {"total_bytes": 24731708 * KIB, "available_bytes": 23485324 * KIB},
        "swap": {"total_bytes": 2097148 * KIB, "used_bytes": (2097148 - 1048572) * KIB, "in_kib_per_second": 12,
                 "out_kib_per_second": 3},
        "listeners": copy.deepcopy(LISTENERS),
        "db_connections": {"ports": [5432, 6432], "total": 3, "by_peer": {"10.0.0.9:5432": 2, "10.0.0.10:6432": 1}},
        "journal": parse_journal(JOURNAL, "24 hours ago"),
        "errors": [],
    }
    made.update(overrides)
    return made


def facts_result(**facts_args):
    facts = gunicorn_facts(instances=[instance(workers=2, worker_bytes=(30 * MIB, 32 * MIB))], cpus=2,
                           memory=4 * GIB, **facts_args)
    facts["memory"]["available_bytes"] = 3 * GIB
    return {"changed": False, "ansible_facts": {"gunicorn": facts}}


def results(**overrides):
    made = {"facts": facts_result(), "baseline": capture_result()}
    made.update(overrides)
    return made


def record(**overrides):
    return gunicorn_baseline({"host": "web1", "captured_at": "2026-11-26T16:05:00Z", "results": results(**overrides)})


def test_full_record():
    got = record()
    assert got["host"] == "web1" and got["captured_at"] == "2026-11-26T16:05:00Z" and got["errors"] == []
    assert got["cpu"] == {"effective": 2, "source": "cgroup_v1", "logical": 2, "load": [3.47, 3.92, 3.48],
                          "load_per_cpu": 1.74, "run_queue": 2, "busy_percent": 65, "iowait_percent": 4,
                          "steal_percent": 1, "idle_percent": 30, "sample_seconds": 1}
    assert got["memory"] == {"effective_bytes": 4 * GIB, "source": "cgroup_v1", "total_bytes": 24731708 * 1024,
                             "available_bytes": 3 * GIB, "available_percent": 75.0}
    assert got["swap"] == {"total_bytes": 2097148 * 1024, "used_bytes": (2097148 - 1048572) * 1024,
                           "in_kib_per_second": 12, "out_kib_per_second": 3}
    [only] = got["instances"]
    assert only == {"name": "gunicorn-mysite.service", "master_pid": 100, "worker_class": "sync", "workers": 2,
                    "threads": 1, "running_workers": 2, "bind": ["127.0.0.1:8000"], "worker_max_bytes": 32 * MIB,
                    "worker_mean_bytes": 31 * MIB, "total_bytes": 26 * MIB + 62 * MIB, "memory_metric": "uss"}
    assert set(got["recommendation"]) == {"workers", "threads", "worker_class", "bound_by"}
    assert got["db_connections"] == {"ports": [5432, 6432], "total": 3,
                                     "by_peer": {"10.0.0.9:5432": 2, "10.0.0.10:6432": 1}}
    json.dumps(got)


def test_listeners_kept_and_matched_to_instances():
    got = record()["listeners"]
    assert got == [
        {"proto": "unix", "address": "/run/gunicorn-mysite/gunicorn.ctl", "queued": 0, "backlog": 100,
         "processes": ["gunicorn"], "instance": None},
        {"proto": "tcp", "address": "127.0.0.1:8000", "queued": 3, "backlog": 2048, "processes": ["gunicorn"],
         "instance": "gunicorn-mysite.service"},
        {"proto": "tcp", "address": "0.0.0.0:80", "queued": 0, "backlog": 511, "processes": ["nginx"],
         "instance": None},
    ]


def test_unix_bind_matched_without_process_names():
    facts = facts_result()
    facts["ansible_facts"]["gunicorn"]["instances"][0]["bind"] = ["unix:/run/shop.sock"]
    listeners = record(facts=facts)["listeners"]
    assert [(item["address"], item["instance"]) for item in listeners if item["proto"] == "unix"] == [
        ("/run/gunicorn-mysite/gunicorn.ctl", None), ("/run/shop.sock", "gunicorn-mysite.service")]


def test_journal_is_the_capture_s():
    journal = record()["journal"]
    assert journal == parse_journal(JOURNAL, "24 hours ago")
    assert journal["counts"]["worker_timeouts"] == 2 and journal["canary_counts"]["service_starts"] == 1


PSUTIL_MISSING = {"failed": True, "psutil_missing": True,
                  "msg": "Failed to import the required Python library (psutil) on web1's Python /usr/bin/python3."}


@pytest.mark.parametrize("overrides, errors, missing", [
    pytest.param({"facts": {"changed": False, "msg": "psutil is required for gunicorn_facts"}},
                 ["facts: psutil is required for gunicorn_facts"], "instances", id="facts-failed"),
    pytest.param({"baseline": PSUTIL_MISSING},
                 ["baseline: Failed to import the required Python library (psutil) on web1's Python "
                  "/usr/bin/python3."], "cpu.busy_percent", id="capture-failed"),
    pytest.param({"baseline": capture_result(journal=None, errors=["journal: Failed to add filter"])},
                 ["journal: Failed to add filter"], "journal", id="journal-failed"),
    pytest.param({"baseline": capture_result(db_connections=None)}, [], "db_connections", id="db-skipped"),
    pytest.param({"baseline": capture_result(
        listeners=None, errors=["listeners: cannot open a sock_diag netlink socket: [Errno 93] Protocol not "
                                "supported"])},
                 ["listeners: cannot open a sock_diag netlink socket: [Errno 93] Protocol not supported"],
                 "listeners", id="listeners-unreadable"),
    pytest.param({"baseline": {"unreachable": True, "msg": "lost"}}, ["baseline: lost"], "cpu.load",
                 id="capture-unreachable"),
    pytest.param({"baseline": {"skipped": True, "changed": False}}, [], "swap.total_bytes", id="capture-skipped"),
])
def test_sources_that_could_not_be_read(overrides, errors, missing):
    got = record(**overrides)
    assert got["errors"] == errors
    if missing:
        value = got
        for key in missing.split("."):
            value = value[key]
        assert value in (None, [])
    json.dumps(got)


def test_memory_falls_back_on_the_capture_without_facts():
    got = record(facts={"changed": False, "msg": "failed"})["memory"]
    assert got == {"effective_bytes": None, "source": None, "total_bytes": 24731708 * KIB,
                   "available_bytes": 23485324 * KIB, "available_percent": None}


@pytest.mark.parametrize("bad, message", [
    pytest.param("web1", "input must be a dict", id="string"),
    pytest.param({"results": {}}, "input must be a dict", id="no-host"),
    pytest.param({"host": "web1"}, "input must be a dict", id="no-results"),
    pytest.param({"host": "web1", "results": results(baseline=capture_result(cpu={"load": "high"}))},
                 "the results are not those of gunicorn_facts and gunicorn_baseline", id="capture-garbage"),
])
def test_baseline_refuses_bad_input(bad, message):
    with pytest.raises(AnsibleFilterError, match="gunicorn_baseline: " + message):
        gunicorn_baseline(bad)


def test_playbook_reads_the_host_through_the_collection_s_modules_only():
    with open(PLAYBOOK) as handle:
        [play] = yaml.safe_load(handle)
    modules = [key for task in play["tasks"] for key in task if key.startswith(("djangoops.", "ansible."))]
    assert "djangoops.gunicorn.gunicorn_facts" in modules and "djangoops.gunicorn.gunicorn_baseline" in modules
    assert not set(modules) & {"ansible.builtin.command", "ansible.builtin.shell", "ansible.builtin.raw"}
    [capture] = [task for task in play["tasks"] if "djangoops.gunicorn.gunicorn_baseline" in task]
    assert set(capture["djangoops.gunicorn.gunicorn_baseline"]) == {"sample_seconds", "db_ports", "journal_units",
                                                                    "journal_since"}
    assert [name for name, pattern in JOURNAL_CATEGORIES] == list(COUNTED)


# -- Markdown ---------------------------------------------------------------------------------

def table(markdown):
    return [line for line in markdown.splitlines() if line.startswith("| ")]


def test_markdown_of_one_capture():
    markdown = gunicorn_baseline_markdown(record())
    lines = markdown.splitlines()
    assert lines[0] == "# Baseline of web1 at 2026-11-26T16:05:00Z"
    rows = table(markdown)
    assert rows[:2] == ["| Metric | Value |", "| --- | --- |"]
    assert "| CPU (effective) | 2 (cgroup_v1), 2 logical |" in rows
    assert "| Load 1 / 5 / 15 min | 3.47 / 3.92 / 3.48 (1.74 per CPU) |" in rows
    assert "| CPU busy / iowait / steal | 65% / 4% / 1% over 1 s, run queue 2 |" in rows
    assert "| Memory | 3.0 GiB available of 4.0 GiB (cgroup_v1), 75% |" in rows
    assert "| Swap | 1.0 GiB used of 2.0 GiB, in 12 / out 3 KiB/s |" in rows
    assert ("| Instance gunicorn-mysite.service | 2 sync workers x 1 thread, 2 running; worker 32 MiB uss "
            "(largest), 31 MiB mean; 88 MiB in all |") in rows
    assert "| Listener 127.0.0.1:8000 | tcp, 3 queued of 2048, gunicorn-mysite.service |" in rows
    assert "| Listener 0.0.0.0:80 | tcp, 0 queued of 511, nginx |" in rows
    assert "| Database connections (port 5432, 6432) | 3 (10.0.0.10:6432: 1, 10.0.0.9:5432: 2) |" in rows
    assert "| Worker timeouts (WORKER TIMEOUT) since 24 hours ago | 2 |" in rows
    assert "| Service starts since 24 hours ago | 1 |" in rows
    assert lines[-1] == "```" and "Last notable journal lines:" in lines
    assert "2026-11-26T16:01:00Z gunicorn-mysite.service: [2026-11-26 16:01:00 +0000] [1534] [CRITICAL] WORKER " \
           "TIMEOUT (pid:1535)" in lines


def test_markdown_before_and_now():
    before = record(baseline=capture_result(journal=parse_journal("", "24 hours ago")))
    before["captured_at"] = "2026-11-25T10:00:00Z"
    before["instances"][0]["workers"] = 3
    before["listeners"].append({"proto": "tcp", "address": "127.0.0.1:9000", "queued": 0, "backlog": 64,
                                "processes": [], "instance": None})
    rows = table(gunicorn_baseline_markdown(record(), before=before))
    assert rows[0] == "| Metric | Before (2026-11-25T10:00:00Z) | Now (2026-11-26T16:05:00Z) |"
    assert rows[1] == "| --- | --- | --- |"
    [instance_row] = [row for row in rows if row.startswith("| Instance ")]
    assert instance_row.startswith("| Instance gunicorn-mysite.service | 3 sync workers x 1 thread, 2 running;")
    assert "| 2 sync workers x 1 thread, 2 running;" in instance_row
    assert rows[-1] == "| Listener 127.0.0.1:9000 | tcp, 0 queued of 64 | - |"
    assert "| Worker timeouts (WORKER TIMEOUT) since 24 hours ago | 0 | 2 |" in rows


def test_markdown_of_a_host_without_facts():
    markdown = gunicorn_baseline_markdown(record(facts={"msg": "psutil is required", "changed": False},
                                                 baseline={"failed": True, "msg": "psutil is required"}))
    rows = table(markdown)
    assert "| CPU (effective) | ? (?), ? logical |" in rows
    assert "| Gunicorn instances | none running |" in rows
    assert "| Not captured | facts: psutil is required; baseline: psutil is required |" in rows
    assert not any(row.startswith("| CPU busy") for row in rows)


@pytest.mark.parametrize("bad, before, message", [
    pytest.param([], None, "input must be a gunicorn_baseline record", id="list"),
    pytest.param({"host": "web1"}, {"host": "web2"}, "earlier gunicorn_baseline record of host web1",
                 id="other-host"),
    pytest.param({"host": "web1", "cpu": "fast"}, None, "not a gunicorn_baseline record", id="garbage"),
])
def test_markdown_refuses_bad_input(bad, before, message):
    with pytest.raises(AnsibleFilterError, match=message):
        gunicorn_baseline_markdown(bad, before=before)


def test_filter_names():
    assert FilterModule().filters() == {"gunicorn_baseline": gunicorn_baseline,
                                        "gunicorn_baseline_markdown": gunicorn_baseline_markdown}


def test_markdown_labels_every_journal_category_the_capture_counts():
    assert [key for key, label in baseline_module.JOURNAL_LABELS] == list(COUNTED)


# -- PostgreSQL's own counts and the proxy's access log ------------------------------------------

POSTGRES = {"changed": False, "max_connections": 40, "superuser_reserved_connections": 3, "reserved_connections": 0,
            "reserved_total": 3, "usable": 37, "client_connections": 9, "server_version_num": 150014,
            "by_user": [{"user": "mysite", "database": "mysite", "application": "mysite-app1", "count": 9, "idle": 9}],
            "by_application": [{"application": "mysite-app1", "count": 9}]}
PROXY = {"changed": False, "access_log": "/var/log/nginx/mysite.access.log", "window_seconds": 300, "requests": 4000,
         "by_status": {"200": 3996, "502": 3, "504": 1}, "status_502": 3, "status_504": 1, "proxy_errors": 4,
         "error_rate_percent": 0.1, "non_2xx": 4, "upstream_p50_s": 0.012, "upstream_p95_s": 0.048,
         "upstream_max_s": 30.0, "request_p95_s": 0.05, "timed_lines": 4000, "unparsed_lines": 0}


def test_postgres_and_proxy_parts():
    got = record(postgres=POSTGRES, proxy=PROXY)
    assert got["postgres"]["client_connections"] == 9 and got["postgres"]["usable"] == 37
    assert got["proxy"]["status_502"] == 3 and got["proxy"]["upstream_p95_s"] == 0.048
    markdown = gunicorn_baseline_markdown(got)
    assert "| PostgreSQL connections (server's own count) | 9 of 37 usable (max_connections 40 - 3 reserved); " \
           "mysite/mysite/mysite-app1: 9 |" in markdown
    assert "| Proxy 502 / 504 over 300 s | 3 / 1 of 4000 requests (0.1%) |" in markdown
    assert "| Proxy upstream time p50 / p95 / max (s) | 0.012 / 0.048 / 30 |" in markdown


@pytest.mark.parametrize("extra, error", [
    pytest.param({"postgres": {"failed": True, "msg": "psql not found"}}, "postgres: psql not found", id="pg-failed"),
    pytest.param({"proxy": {"failed": True, "msg": "cannot read /x: No such file"}}, "proxy: cannot read /x",
                 id="log-missing"),
])
def test_postgres_and_proxy_failures_are_listed(extra, error):
    got = record(**extra)
    assert error in " ".join(got["errors"])
    assert got["postgres"] is None and got["proxy"] is None


def test_postgres_and_proxy_are_null_when_not_asked_for():
    got = record(postgres={"skipped": True}, proxy={"skipped": True})
    assert got["postgres"] is None and got["proxy"] is None and got["errors"] == []
