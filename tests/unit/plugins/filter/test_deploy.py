# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet rollout outcome, batch verdict, summary and Markdown filters."""

from __future__ import annotations

import json

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.djangoops.gunicorn.plugins.filter.deploy import (
    FilterModule, gunicorn_deploy_markdown as markdown, gunicorn_deploy_outcome as outcome,
    gunicorn_deploy_summary as summary, gunicorn_deploy_verdict as verdict,
)
from ansible_collections.djangoops.gunicorn.plugins.plugin_utils.deploy_summary import (
    EVIDENCE_LINES, HEADER, STATES,
)

from deploy_results import CONFIG, SHA, checked, release_failed, released, task_failed, unreachable
from markdown_cells import table_cells

OUTCOME_KEYS = {"state", "failed", "drift", "result", "service_action", "changed_files", "healthy", "rolled_back",
                "reason", "step", "task", "message", "evidence", "release_id", "sizing", "sizing_applied",
                "recovered", "diff"}


# -- one host's outcome ----------------------------------------------------------------------

@pytest.mark.parametrize("result, failed_task, state, failed, drift, applied", [
    pytest.param(released("started", "start", ("config", "unit")), None, "started", False, False, True, id="started"),
    pytest.param(released(), None, "reloaded", False, False, True, id="reloaded"),
    pytest.param(released("restarted", "restart", ("app_env",)), None, "restarted", False, False, True,
                 id="restarted"),
    pytest.param(released("unchanged", "none", ()), None, "unchanged", False, False, True, id="unchanged"),
    pytest.param(release_failed(), "Release gunicorn-mysite", "rolled back", True, False, False, id="rolled-back"),
    pytest.param(release_failed("rejected", "canary"), "Release gunicorn-mysite", "rejected", True, False, False,
                 id="rejected"),
    pytest.param(release_failed("failed", healthy=False), "Release gunicorn-mysite", "failed", True, False, False,
                 id="rollback-failed"),
    pytest.param(task_failed(), "Check the bind address", "failed", True, False, False, id="preflight"),
    pytest.param(unreachable(), None, "unreachable", True, False, False, id="unreachable"),
    pytest.param(checked("reload"), None, "would reload", False, True, False, id="would-reload"),
    pytest.param(checked("restart", ("app_env",)), None, "would restart", False, True, False, id="would-restart"),
    pytest.param(checked("start", ()), None, "would start", False, True, False, id="would-start"),
    pytest.param(checked("resocket", ("socket",)), None, "would resocket", False, True, False, id="would-resocket"),
    pytest.param(dict(checked(), result="would teleport"), None, "would teleport", False, True, False,
                 id="unknown-check-mode-action-is-drift"),
    pytest.param(checked("none", ()), None, "unchanged", False, False, True, id="in-sync"),
    pytest.param({"skipped": True, "changed": False, "skip_reason": "Conditional result was False"}, None, "skipped",
                 False, False, False, id="skipped"),
    pytest.param({}, None, "skipped", False, False, False, id="did-not-run"),
    pytest.param(None, None, "skipped", False, False, False, id="none"),
])
def test_state_of_every_release_result(result, failed_task, state, failed, drift, applied):
    got = outcome(result, failed_task=failed_task)
    assert set(got) == OUTCOME_KEYS
    assert (got["state"], got["failed"], got["drift"], got["sizing_applied"]) == (state, failed, drift, applied)
    assert got["state"] in STATES or got["state"] == "would teleport"
    assert got["task"] == failed_task
    json.dumps(got)


def test_rolled_back_outcome_keeps_step_reason_and_first_line_of_the_summary():
    got = outcome(release_failed(evidence=["line %d" % number for number in range(50)]), "Release gunicorn-mysite")
    assert got["step"] == "health-gate"
    assert got["message"] == "Release FAILED at step 'health-gate': /items/: status 500, expected 200"
    assert got["healthy"] is True and got["rolled_back"] is True
    assert got["service_action"] == "restart" and got["changed_files"] == ["config", "app_env"]
    assert got["evidence"] == ["line %d" % number for number in range(50 - EVIDENCE_LINES, 50)]
    assert got["sizing"] == {"auto": False, "workers": 3, "threads": 1, "worker_class": "sync", "bound_by": "explicit"}
    assert got["release_id"] == "20261126T150814Z-1a2b"


def test_failure_outside_the_release_names_the_task():
    got = outcome(task_failed("gunicorn_django_workers must be >= 1 or auto"), "Check workers and threads")
    assert got["message"] == "gunicorn_django_workers must be >= 1 or auto"
    assert got["step"] is None and got["result"] is None and got["sizing"] is None


def test_check_mode_diff_becomes_unified_text():
    got = outcome(checked(before="bind = ['127.0.0.1:8000']\nworkers = 3\n",
                          after="bind = ['127.0.0.1:8000']\nworkers = 4\n"))
    [entry] = got["diff"]
    assert entry["path"] == CONFIG
    assert entry["unified"].splitlines() == [
        "--- %s (live)" % CONFIG, "+++ %s (inventory)" % CONFIG, "@@ -1,2 +1,2 @@",
        " bind = ['127.0.0.1:8000']", "-workers = 3", "+workers = 4"]


def test_diff_as_a_single_dict_and_without_trailing_newline():
    result = checked()
    result["diff"] = {"before": "a", "after": "b", "before_header": CONFIG, "after_header": CONFIG}
    [entry] = outcome(result)["diff"]
    assert entry["unified"].endswith("+b\n")


def test_unknown_result_is_a_failure():
    got = outcome({"changed": True, "result": "teleported", "msg": "?"})
    assert got["state"] == "failed" and got["failed"]
    assert "teleported" in got["message"]


@pytest.mark.parametrize("bad", ["reloaded", ["reloaded"], 3])
def test_outcome_refuses_what_is_not_a_result(bad):
    with pytest.raises(AnsibleFilterError, match="gunicorn_deploy_outcome: the release result must be a dict"):
        outcome(bad)


# -- the batch verdict --------------------------------------------------------------------------

def hostvars(**states):
    """hostvars with a deploy_outcome of the given state per host (None: no outcome recorded)."""
    results = {"reloaded": released(), "unchanged": released("unchanged", "none", ()),
               "rolled back": release_failed(), "rejected": release_failed("rejected", "canary"),
               "failed": task_failed(), "unreachable": unreachable(), "would reload": checked()}
    made = {}
    for host, state in states.items():
        made[host] = {"inventory_hostname": host}
        if state is not None:
            made[host]["deploy_outcome"] = outcome(results[state])
    return made


@pytest.mark.parametrize("states, percentage, stop", [
    pytest.param(["reloaded"], 0, False, id="healthy-canary"),
    pytest.param(["rolled back"], 0, True, id="failed-canary"),
    pytest.param(["rolled back"], 100, True, id="whole-batch-failed-stops-whatever-the-percentage"),
    pytest.param(["reloaded", "rolled back", "reloaded", "reloaded"], 0, True, id="first-failure-stops"),
    pytest.param(["reloaded", "rolled back", "reloaded", "reloaded"], 25, False, id="25-is-not-more-than-25"),
    pytest.param(["reloaded", "rolled back", "reloaded", "reloaded"], "25%", False, id="percent-text"),
    pytest.param(["reloaded", "rolled back", "reloaded", "reloaded"], "24", True, id="24-allowed"),
    pytest.param(["reloaded", "rejected", "failed", "reloaded"], 50, False, id="two-of-four-at-50"),
    pytest.param(["reloaded", "rejected", "failed", "unreachable"], 50, True, id="three-of-four-at-50"),
    pytest.param(["unchanged", None], 60, False, id="host-without-outcome-counts-as-failed"),
    pytest.param(["unchanged", None], 49.9, True, id="host-without-outcome-over-the-limit"),
    pytest.param(["would reload", "unchanged"], 0, False, id="drift-is-not-a-failure"),
])
def test_verdict(states, percentage, stop):
    hosts = ["web%d" % number for number in range(len(states))]
    got = verdict(hostvars(**dict(zip(hosts, states))), hosts, percentage)
    assert got["stop"] is stop
    failed = [host for host, state in zip(hosts, states)
              if state in (None, "rolled back", "rejected", "failed", "unreachable")]
    assert [item["host"] for item in got["failed"]] == failed
    assert got["failed_percentage"] == round(100.0 * len(failed) / len(hosts), 1)
    assert got["hosts"] == hosts
    assert ("stopping" not in got["reason"]) and got["reason"]


def test_verdict_reasons():
    assert verdict(hostvars(a="reloaded"), ["a"])["reason"] == "no host of the batch failed"
    assert verdict(hostvars(a="rolled back"), ["a"], 100)["reason"] == "every host of the batch failed: a rolled back"
    assert verdict(hostvars(a="reloaded", b="rejected", c="reloaded"), ["a", "b", "c"], 0)["reason"] == \
        "1 of 3 hosts of the batch failed (33.3% > 0% allowed): b rejected"
    assert verdict(hostvars(a="reloaded", b=None), ["a", "b"], 50)["reason"] == \
        "1 of 2 hosts of the batch failed (50%, up to 50% allowed): b failed"


@pytest.mark.parametrize("percentage", [-1, 101, "lots", True, "50%%"])
def test_verdict_refuses_a_bad_percentage(percentage):
    with pytest.raises(AnsibleFilterError, match="max_fail_percentage must be a number from 0 to 100"):
        verdict(hostvars(a="reloaded"), ["a"], percentage)


@pytest.mark.parametrize("host_vars, batch, message", [
    pytest.param([], ["a"], "mapping of host name", id="hostvars-not-a-mapping"),
    pytest.param({}, "a", "batch must be a list of host names", id="batch-a-string"),
    pytest.param({"a": {"deploy_outcome": "reloaded"}}, ["a"], "not what gunicorn_deploy_outcome returns",
                 id="outcome-not-from-the-filter"),
])
def test_verdict_refuses_bad_input(host_vars, batch, message):
    with pytest.raises(AnsibleFilterError, match=message):
        verdict(host_vars, batch)


# -- the summary ------------------------------------------------------------------------------

def rollout(**hosts):
    """hostvars after a rollout: each host (batch, state, live config sha) in play order."""
    made = {}
    for host, (batch, state, sha) in hosts.items():
        made.update(hostvars(**{host: state}))
        if batch is not None:
            made[host]["deploy_batch"] = batch
        else:
            made[host].pop("deploy_outcome", None)
        if sha is not None:
            made[host]["deploy_live_config"] = {"changed": False,
                                                "stat": {"exists": sha != "absent", "checksum": sha}}
    return made


STOPPED = dict(stg1=(["stg1"], "reloaded", SHA), stg2=(["stg2"], "rolled back", "b" * 64),
               web1=(None, None, None), web2=(None, None, None))


def test_stopped_rollout_summary():
    got = summary(rollout(**STOPPED), ["stg1", "stg2", "web1", "web2"])
    assert [(row["host"], row["batch"], row["state"]) for row in got["rows"]] == [
        ("stg1", 1, "reloaded"), ("stg2", 2, "rolled back"), ("web1", None, "not reached"),
        ("web2", None, "not reached")]
    assert got["counts"] == {"reloaded": 1, "rolled back": 1, "not reached": 2}
    assert (got["failed"], got["not_reached"], got["drift"]) == (["stg2"], ["web1", "web2"], [])
    assert got["stopped"] is True and got["stopped_after_batch"] == 2 and got["batches"] == 2
    assert got["ok"] is False and got["mode"] == "deploy" and got["hosts"] == 4
    assert got["headline"] == "Rollout stopped after batch 2: 1 reloaded, 1 rolled back, 2 not reached"
    assert got["rows"][0]["live_config_sha256"] == SHA
    assert got["rows"][1]["live_config_sha256"] == "b" * 64 and got["rows"][1]["healthy"] is True
    assert got["rows"][2]["live_config_sha256"] is None and got["rows"][2]["message"]
    assert all(set(row) == OUTCOME_KEYS | {"host", "batch", "live_config_sha256"} for row in got["rows"])
    json.dumps(got)


@pytest.mark.parametrize("hosts, check_mode, headline, ok", [
    pytest.param(dict(a=(["a"], "reloaded", SHA), b=(["b", "c"], "unchanged", SHA), c=(["b", "c"], "reloaded", SHA)),
                 False, "Rollout complete in 2 batches: 2 reloaded, 1 unchanged", True, id="complete"),
    pytest.param(dict(a=(["a"], "reloaded", SHA)), False, "Rollout complete in 1 batch: 1 reloaded", True,
                 id="one-batch"),
    pytest.param(dict(a=(["a", "b"], "reloaded", SHA), b=(["a", "b"], "rolled back", SHA)), False,
                 "Rollout complete in 1 batch: 1 reloaded, 1 rolled back", False, id="failure-within-tolerance"),
    pytest.param(dict(a=(["a", "b"], "would reload", SHA), b=(["a", "b"], "unchanged", SHA)), True,
                 "Drift check (1 of 2 hosts differ from the inventory) complete in 1 batch: 1 unchanged, "
                 "1 would reload", True, id="drift"),
    pytest.param(dict(a=(["a"], "unchanged", SHA)), True,
                 "Drift check (every checked host matches the inventory) complete in 1 batch: 1 unchanged", True,
                 id="in-sync"),
    pytest.param(dict(a=(["a"], None, None), b=(None, None, None)), False,
                 "Rollout stopped after batch 1: 1 failed, 1 not reached", False, id="host-dropped-out"),
    pytest.param({}, False, "Rollout complete in 0 batches: no hosts", True, id="no-hosts"),
])
def test_summary_headline(hosts, check_mode, headline, ok):
    got = summary(rollout(**hosts), list(hosts), check_mode)
    assert got["headline"] == headline
    assert got["ok"] is ok
    assert list(got["counts"]) == [state for state in STATES if state in got["counts"]]


def test_states_the_summary_does_not_know_are_counted_last_and_drift():
    host_vars = rollout(a=(["a", "b"], "would reload", SHA), b=(["a", "b"], "unchanged", SHA))
    host_vars["a"]["deploy_outcome"] = outcome(dict(checked(), result="would teleport"))
    got = summary(host_vars, ["a", "b"], True)
    assert got["counts"] == {"unchanged": 1, "would teleport": 1}
    assert got["drift"] == ["a"] and got["ok"]


def test_host_that_dropped_out_is_failed_with_a_message():
    got = summary(rollout(a=(["a"], None, None)), ["a"])
    [row] = got["rows"]
    assert row["state"] == "failed" and row["failed"] and "no outcome recorded" in row["message"]
    assert got["failed"] == ["a"]


def test_absent_config_and_missing_hosts():
    got = summary(rollout(a=(["a"], "unchanged", "absent")), ["a", "ghost"])
    assert got["rows"][0]["live_config_sha256"] is None
    assert got["rows"][1]["state"] == "not reached"


@pytest.mark.parametrize("host_vars, hosts, message", [
    pytest.param("hostvars", ["a"], "mapping of host name", id="hostvars-a-string"),
    pytest.param({}, "a,b", "hosts must be a list of host names", id="hosts-a-string"),
    pytest.param({}, [1], "hosts must be a list of host names", id="hosts-not-names"),
])
def test_summary_refuses_bad_input(host_vars, hosts, message):
    with pytest.raises(AnsibleFilterError, match="gunicorn_deploy_summary: .*" + message):
        summary(host_vars, hosts)


# -- Markdown ---------------------------------------------------------------------------------


def test_stopped_rollout_markdown():
    lines = markdown(summary(rollout(**STOPPED), ["stg1", "stg2", "web1", "web2"])).splitlines()
    assert lines[0] == "Rollout stopped after batch 2: 1 reloaded, 1 rolled back, 2 not reached"
    assert lines[1] == ""
    header, separator, stg1, stg2, web1, web2 = table_cells(lines[2:])
    assert header == list(HEADER) and separator == ["---"] * len(HEADER)
    assert stg1 == ["stg1", "1", "reloaded", "reload", "config", "yes", SHA[:12],
                    "3 sync x 1 thread (explicit)", "only gunicorn.conf.py changed: reload with HUP"]
    assert stg2 == ["stg2", "2", "rolled back", "restart", "config, app_env", "yes", "b" * 12,
                    "3 sync x 1 thread (explicit), not applied",
                    "step health-gate: Release FAILED at step 'health-gate': /items/: status 500, expected 200"]
    for host, cells in (("web1", web1), ("web2", web2)):
        assert cells == [host, "-", "not reached", "-", "-", "-", "-", "-",
                         "the rollout stopped before this host's batch"]
    assert "```" not in "\n".join(lines)


@pytest.mark.parametrize("sizing, applied_state, text", [
    pytest.param({"workers": 2, "threads": 8, "worker_class": "gthread", "auto": True, "bound_by": "memory"},
                 "reloaded", "2 gthread x 8 threads (auto, bound by memory)", id="auto"),
    pytest.param({"workers": 5, "threads": 1, "worker_class": "sync", "auto": False, "bound_by": "explicit"},
                 "rejected", "5 sync x 1 thread (explicit), not applied", id="rejected"),
    pytest.param(None, "reloaded", "-", id="no-sizing"),
])
def test_sizing_cell(sizing, applied_state, text):
    host_vars = rollout(a=(["a"], applied_state, SHA))
    host_vars["a"]["deploy_outcome"]["sizing"] = sizing
    lines = markdown(summary(host_vars, ["a"])).splitlines()
    assert table_cells(lines[4:])[0][7] == text


def test_drift_markdown_has_the_diff_and_escapes_pipes():
    host_vars = rollout(a=(["a"], "would reload", SHA), b=(["b"], "unchanged", "absent"))
    host_vars["b"]["deploy_outcome"]["reason"] = "nothing | changed"
    lines = markdown(summary(host_vars, ["a", "b"], True)).splitlines()
    rows = table_cells(lines[2:6])
    assert rows[2][:7] == ["a", "1", "would reload", "reload", "config", "-", SHA[:12]]
    assert rows[3][6] == "absent" and rows[3][8] == "nothing \\| changed"
    diff_start = lines.index("a: %s" % CONFIG)
    assert lines[diff_start + 2:] == ["```diff", "--- %s (live)" % CONFIG, "+++ %s (inventory)" % CONFIG,
                                      "@@ -1 +1 @@", "-workers = 3", "+workers = 4", "```"]


@pytest.mark.parametrize("bad", [[], {"rows": "x"}, {"rows": [{"host": "a"}]}])
def test_markdown_refuses_what_is_not_a_summary(bad):
    with pytest.raises(AnsibleFilterError, match="gunicorn_deploy_markdown: "):
        markdown(bad)


@pytest.mark.parametrize("function, name", [
    (outcome, "gunicorn_deploy_outcome"), (verdict, "gunicorn_deploy_verdict"),
    (summary, "gunicorn_deploy_summary"), (markdown, "gunicorn_deploy_markdown"),
])
def test_filter_names(function, name):
    assert FilterModule().filters()[name] is function


def test_deploy_filters_are_these_four():
    assert sorted(FilterModule().filters()) == ["gunicorn_deploy_markdown", "gunicorn_deploy_outcome",
                                                "gunicorn_deploy_summary", "gunicorn_deploy_verdict"]
