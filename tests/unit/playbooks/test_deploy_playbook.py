# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/deploy.yml on local hosts, with a stand-in for the role: batches, stops, summary.

The real role needs systemd hosts (Molecule's fleet scenario runs it). Here a copy of the collection
keeps the real playbooks and plugins but replaces the gunicorn_django role with one task that returns
what each host's inventory says the release module returned, so that every path of the playbook runs:
a failure that stops the rollout, failures within deploy_max_fail_percentage, an unreachable host, a
preflight failure, and check mode drift.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from ansible_collections.djangoops.gunicorn.plugins.filter import deploy as deploy_filters

REAL = os.path.abspath(os.path.join(os.path.dirname(deploy_filters.__file__), "..", ".."))
CONFIG_TEXT = "workers = 3\n"
CONFIG_SHA = hashlib.sha256(CONFIG_TEXT.encode()).hexdigest()

ROLE_TASKS = [
    {"name": "Check the bind address",
     "ansible.builtin.assert": {"that": "not (fake_preflight_fails | default(false))",
                                "fail_msg": "gunicorn_django_bind must be a loopback address"}},
    {"name": "Release and publish the result", "block": [
        {"name": "Release gunicorn-{{ gunicorn_django_app_name }}",
         "djangoops.gunicorn.fake_release": {
             "outcome": "{{ fake_outcome }}",
             "marker": "{{ fake_dir }}/{{ inventory_hostname }}.reached",
             "rollout": "{{ gunicorn_django_rollout_id }}",
             "config_path": "{{ gunicorn_django_config_dir }}/{{ gunicorn_django_app_name }}/gunicorn.conf.py",
             "config": CONFIG_TEXT},
         "register": "fake_release"}],
     # The role's documented result variable, as tasks/release.yml publishes it.
     "always": [{"name": "Publish the release's result as gunicorn_django_result", "ansible.builtin.set_fact": {
         "gunicorn_django_result": {
             "config_file": "{{ gunicorn_django_config_dir }}/{{ gunicorn_django_app_name }}/gunicorn.conf.py",
             "message": "{{ fake_release.msg }}", "module": "{{ fake_release }}"}}}]},
    {"name": "Summarise the release", "ansible.builtin.debug": {"msg": "{{ gunicorn_django_result.message }}"}},
]

FAKE_MODULE = '''#!/usr/bin/python
import os
from ansible.module_utils.basic import AnsibleModule


def main():
    module = AnsibleModule(argument_spec=dict(outcome=dict(type="dict", required=True),
                                              marker=dict(type="path", required=True),
                                              rollout=dict(type="str", required=True),
                                              config_path=dict(type="path", required=True),
                                              config=dict(type="str", required=True)),
                           supports_check_mode=True)
    params = module.params
    with open(params["marker"], "w") as handle:
        handle.write(params["rollout"])
    outcome = dict(params["outcome"])
    fail = outcome.pop("fail", False)
    outcome.setdefault("msg", "mysite: %s" % outcome.get("result"))
    if not module.check_mode and outcome.get("result") in ("started", "reloaded", "restarted"):
        os.makedirs(os.path.dirname(params["config_path"]), exist_ok=True)
        with open(params["config_path"], "w") as handle:
            handle.write(params["config"])
    if fail:
        module.fail_json(**outcome)
    module.exit_json(**outcome)


if __name__ == "__main__":
    main()
'''

SIZING = {"auto": False, "workers": 3, "threads": 1, "worker_class": "sync", "bound_by": "explicit"}
RELOADED = {"result": "reloaded", "changed": True, "service_action": "reload", "changed_files": ["config"],
            "healthy": True, "rolled_back": False, "reason": "only gunicorn.conf.py changed: reload with HUP",
            "record": {"release_id": "r1", "sizing": SIZING}}
UNCHANGED = {"result": "unchanged", "changed": False, "service_action": "none", "changed_files": [],
             "healthy": True, "rolled_back": False, "reason": "nothing changed",
             "record": {"release_id": "r0", "sizing": SIZING}}
ROLLED_BACK = {"fail": True, "msg": "Release FAILED at step 'health-gate': /items/: status 500, expected 200",
               "result": "rolled_back", "service_action": "restart", "changed_files": ["config", "app_env"],
               "healthy": True, "rolled_back": True,
               "error": {"step": "health-gate", "detail": "/items/: status 500, expected 200",
                         "evidence": ["Internal Server Error: /items/"],
                         "summary": "Release FAILED at step 'health-gate': /items/: status 500, expected 200\n"
                                    "Rolled back: restored config, app_env. Service healthy on last-known-good: yes"},
               "record": {"release_id": "r2", "sizing": SIZING}}
WOULD_RELOAD = {"result": "would reload", "changed": True, "service_action": "reload", "changed_files": ["config"],
                "reason": "only gunicorn.conf.py changed: reload with HUP",
                "diff": [{"before": "workers = 3\nmax_requests = 1000\n", "after": "workers = 3\nmax_requests = 1200\n",
                          "before_header": "/etc/gunicorn/mysite/gunicorn.conf.py",
                          "after_header": "/etc/gunicorn/mysite/gunicorn.conf.py"}]}
PREFLIGHT = {"fake_preflight_fails": True}
UNREACHABLE = {"ansible_connection": "ssh", "ansible_host": "127.0.0.1", "ansible_port": 9,
               "ansible_ssh_common_args": "-o ConnectTimeout=3 -o StrictHostKeyChecking=no"}


@pytest.fixture(scope="module")
def collections_path(tmp_path_factory):
    """A copy of the collection with the real playbooks and plugins and a stand-in role."""
    root = tmp_path_factory.mktemp("collections")
    collection = root / "ansible_collections" / "djangoops" / "gunicorn"
    (collection / "plugins" / "modules").mkdir(parents=True)
    (collection / "roles" / "gunicorn_django" / "tasks").mkdir(parents=True)
    (collection / "playbooks").symlink_to(os.path.join(REAL, "playbooks"))
    for name in ("filter", "plugin_utils", "module_utils"):
        (collection / "plugins" / name).symlink_to(os.path.join(REAL, "plugins", name))
    (collection / "plugins" / "modules" / "fake_release.py").write_text(FAKE_MODULE)
    # The budget check before the rollout (playbooks/db_budget.yml) runs the real module when a server is named.
    (collection / "plugins" / "modules" / "gunicorn_postgres_budget.py").symlink_to(
        os.path.join(REAL, "plugins", "modules", "gunicorn_postgres_budget.py"))
    (collection / "roles" / "gunicorn_django" / "tasks" / "main.yml").write_text(yaml.safe_dump(ROLE_TASKS))
    return str(root)


def run_deploy(tmp_path, collections_path, hosts, *args, **extra_vars):
    """ansible-playbook djangoops.gunicorn.deploy on local hosts; returns (rc, output, summary, reached)."""
    inventory = tmp_path / "inventory.yml"
    markers = tmp_path / "markers"
    markers.mkdir()
    out = tmp_path / "summary"
    inventory.write_text(yaml.safe_dump({"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                 "gunicorn_django_app_name": "mysite", "fake_dir": str(markers),
                 "gunicorn_django_config_dir": str(tmp_path / "etc" / "{{ inventory_hostname }}")},
        "hosts": dict((name, host_vars) for name, host_vars in hosts),
    }}, sort_keys=False))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=collections_path, ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_RETRY_FILES_ENABLED="false",
               ANSIBLE_HOST_KEY_CHECKING="false")
    env.pop("PYTHONPATH", None)
    extra_vars = dict({"deploy_become": False, "deploy_summary_dir": str(out)}, **extra_vars)
    run = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(inventory),
         "djangoops.gunicorn.deploy", "-e", json.dumps(extra_vars)] + list(args),
        env=env, cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
        timeout=300, check=False)
    summary = None
    if (out / "deploy-summary.json").exists():
        summary = json.loads((out / "deploy-summary.json").read_text())
        markdown = (out / "deploy-summary.md").read_text()
        assert markdown.startswith("# Gunicorn rollout summary\n\n" + summary["headline"] + "\n")
    reached = sorted(name[:-len(".reached")] for name in os.listdir(str(markers)))
    return run.returncode, run.stdout, summary, reached


def states(summary):
    return [(row["host"], row["batch"], row["state"]) for row in summary["rows"]]


def host(name, outcome, **host_vars):
    return name, dict({"fake_outcome": outcome}, **host_vars)


def test_failure_in_the_second_batch_stops_the_rollout(tmp_path, collections_path):
    rc, output, summary, reached = run_deploy(tmp_path, collections_path, [
        host("stg1", RELOADED), host("stg2", ROLLED_BACK), host("web1", RELOADED), host("web2", RELOADED)])
    assert rc == 2, output
    assert reached == ["stg1", "stg2"]
    assert states(summary) == [("stg1", 1, "reloaded"), ("stg2", 2, "rolled back"), ("web1", None, "not reached"),
                               ("web2", None, "not reached")]
    assert summary["headline"] == "Rollout stopped after batch 2: 1 reloaded, 1 rolled back, 2 not reached"
    stg1, stg2 = summary["rows"][:2]
    assert stg1["live_config_sha256"] == CONFIG_SHA and stg1["sizing"] == SIZING and stg1["sizing_applied"]
    assert stg2["step"] == "health-gate" and stg2["healthy"] is True and not stg2["sizing_applied"]
    assert stg2["task"] == "Release gunicorn-mysite"
    assert "batch stg2: every host of the batch failed: stg2 rolled back; stopping the rollout" in output
    assert "fatal: [stg2]: FAILED! => {\"changed\": false, \"msg\": \"rolled back: Release FAILED" in output
    # The hosts that were not reached are not failed: only the host whose release failed is.
    assert "fatal: [web1]" not in output and "fatal: [stg1]" not in output


def rollouts(tmp_path):
    markers = tmp_path / "markers"
    return dict((name[:-len(".reached")], (markers / name).read_text()) for name in os.listdir(str(markers)))


def test_every_batch_stamps_the_same_rollout_id_chosen_once(tmp_path, collections_path):
    rc, output, _summary, _reached = run_deploy(tmp_path, collections_path, [
        host("a", RELOADED), host("b", RELOADED), host("c", RELOADED)], deploy_serial=1)
    assert rc == 0, output
    stamped = rollouts(tmp_path)
    assert len(stamped) == 3 and len(set(stamped.values())) == 1
    assert re.fullmatch(r"\d{8}T\d{6}Z", stamped["a"])
    assert "Rollout %s, batch c:" % stamped["a"] in output


def test_deploy_rollout_id_sets_the_rollout_id(tmp_path, collections_path):
    rc, output, _summary, _reached = run_deploy(tmp_path, collections_path, [
        host("a", RELOADED), host("b", RELOADED)], "--limit", "b", deploy_rollout_id="release-42")
    assert rc == 0, output
    assert rollouts(tmp_path) == {"b": "release-42"}


def test_healthy_rollout_runs_every_batch(tmp_path, collections_path):
    rc, output, summary, reached = run_deploy(tmp_path, collections_path, [
        host("a", RELOADED), host("b", UNCHANGED), host("c", RELOADED), host("d", RELOADED), host("e", RELOADED)])
    assert rc == 0, output
    assert reached == ["a", "b", "c", "d", "e"]
    # serial [1, "25%"] of 5 hosts: 1, then int(1.25) = 1 at a time.
    assert states(summary) == [("a", 1, "reloaded"), ("b", 2, "unchanged"), ("c", 3, "reloaded"),
                               ("d", 4, "reloaded"), ("e", 5, "reloaded")]
    assert summary["ok"] and not summary["stopped"]
    assert summary["headline"] == "Rollout complete in 5 batches: 4 reloaded, 1 unchanged"


@pytest.mark.parametrize("percentage, expected", [
    pytest.param(50, [("a", 1, "reloaded"), ("b", 1, "failed"), ("c", 2, "reloaded"), ("d", 2, "reloaded")],
                 id="half-a-batch-allowed"),
    pytest.param(49, [("a", 1, "reloaded"), ("b", 1, "failed"), ("c", None, "not reached"),
                      ("d", None, "not reached")], id="half-a-batch-too-many"),
])
def test_max_fail_percentage_per_batch(tmp_path, collections_path, percentage, expected):
    rc, output, summary, reached = run_deploy(
        tmp_path, collections_path,
        [host("a", RELOADED), host("b", RELOADED, **PREFLIGHT), host("c", RELOADED), host("d", RELOADED)],
        deploy_serial=2, deploy_max_fail_percentage=percentage)
    assert rc == 2, output
    assert states(summary) == expected
    assert reached == [name for name, batch, state in expected if state == "reloaded"]
    failed = summary["rows"][1]
    assert failed["task"] == "Check the bind address"
    assert failed["message"] == "gunicorn_django_bind must be a loopback address"
    assert failed["live_config_sha256"] is None
    assert summary["failed"] == ["b"]


def test_unreachable_canary_stops_the_rollout(tmp_path, collections_path):
    rc, output, summary, reached = run_deploy(tmp_path, collections_path, [
        host("down", RELOADED, **UNREACHABLE), host("b", RELOADED), host("c", RELOADED)])
    assert rc == 2, output
    assert reached == []
    assert states(summary) == [("down", 1, "unreachable"), ("b", None, "not reached"), ("c", None, "not reached")]
    assert "127.0.0.1 port 9" in summary["rows"][0]["message"]


def test_a_bad_percentage_stops_before_any_host_is_touched(tmp_path, collections_path):
    rc, output, summary, reached = run_deploy(tmp_path, collections_path, [host("a", RELOADED)],
                                              deploy_max_fail_percentage="150")
    assert rc == 2 and reached == [] and summary is None
    assert "max_fail_percentage must be a number from 0 to 100, got '150'" in output


# What the playbook's design relies on: Ansible ends the whole run when a serial batch fails (no
# later play runs, not even on localhost), while `meta: end_play` ends the remaining batches and
# lets the next play run.
ANSIBLE_BEHAVIOUR = [
    {"name": "serial", "hosts": "all", "serial": 1, "max_fail_percentage": 100, "gather_facts": False,
     "tasks": [{"name": "fail on b", "ansible.builtin.fail": {"msg": "boom"}, "when": "inventory_hostname == 'b'"},
               {"name": "stop", "ansible.builtin.meta": "end_play", "when": "stop | default(false) | bool"}]},
    {"name": "after", "hosts": "localhost", "gather_facts": False,
     "tasks": [{"name": "later play", "ansible.builtin.debug": {"msg": "LATER PLAY RAN"}}]},
]


@pytest.mark.parametrize("hosts, stop, later_play_runs", [
    pytest.param(["a", "b", "c"], False, False, id="failed-batch-ends-the-run"),
    pytest.param(["a", "c"], True, True, id="end-play-lets-the-next-play-run"),
])
def test_ansible_behaviour_the_playbook_relies_on(tmp_path, hosts, stop, later_play_runs):
    playbook = tmp_path / "behaviour.yml"
    playbook.write_text(yaml.safe_dump(ANSIBLE_BEHAVIOUR, sort_keys=False))
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
        "hosts": dict((name, {}) for name in hosts)}}))
    run = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(inventory), str(playbook),
         "-e", json.dumps({"stop": stop})],
        env=dict(os.environ, ANSIBLE_NOCOLOR="1", ANSIBLE_LOCALHOST_WARNING="false"), cwd=str(tmp_path),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True, timeout=120, check=False)
    assert ("LATER PLAY RAN" in run.stdout) is later_play_runs, run.stdout
    assert ("ok: [c]" in run.stdout) is False, run.stdout


@pytest.mark.parametrize("fail_on_drift, rc", [(False, 0), (True, 2)])
def test_check_mode_reports_drift_with_the_diff(tmp_path, collections_path, fail_on_drift, rc):
    got_rc, output, summary, reached = run_deploy(
        tmp_path, collections_path, [host("a", WOULD_RELOAD), host("b", UNCHANGED), host("c", UNCHANGED)],
        "--check", "--diff", deploy_fail_on_drift=fail_on_drift)
    assert got_rc == rc, output
    assert reached == ["a", "b", "c"]
    assert not (tmp_path / "etc").exists()
    assert summary["mode"] == "check" and summary["drift"] == ["a"] and summary["failed"] == []
    # A drift check runs every host in one batch.
    assert states(summary) == [("a", 1, "would reload"), ("b", 1, "unchanged"), ("c", 1, "unchanged")]
    [diff] = summary["rows"][0]["diff"]
    assert "-max_requests = 1000\n+max_requests = 1200\n" in diff["unified"]
    assert summary["headline"] == "Drift check (1 of 3 hosts differ from the inventory) complete in 1 batch: " \
                                  "2 unchanged, 1 would reload"
    assert ("fatal: [a]" in output) is fail_on_drift


BUDGET = {"database": "main", "max_connections": 40, "reserved_connections": 3}


@pytest.mark.parametrize("check_mode", [False, True], ids=["deploy", "check"])
def test_a_rollout_over_the_database_budget_is_refused_before_any_host(tmp_path, collections_path, check_mode):
    # serial [1, "25%"] of 3 hosts is one host at a time: 3 x 9 sync workers = 27 held, + 9 while one host
    # reloads (2x headroom) = 36 of 40 - 3 reserved; a tenth worker on web3 breaks it (28 + 10 = 38 > 37).
    hosts = [host(name, RELOADED, gunicorn_django_workers=9, gunicorn_django_db_budget=BUDGET)
             for name in ("web1", "web2", "web3")]
    args = ["--check"] if check_mode else []
    rc, output, summary, reached = run_deploy(tmp_path, collections_path, hosts, *args)
    assert rc == 0, output
    assert "database main: 36 of 37 connections at most during the rollout" in output
    hosts[2][1]["gunicorn_django_workers"] = 10
    tmp = tmp_path / "over"
    tmp.mkdir()
    rc, output, summary, reached = run_deploy(tmp, collections_path, hosts, *args)
    assert rc == 2, output
    assert reached == [] and summary is None
    assert "Database main: the rollout needs up to 38 connections, above the 37" in output
    assert "web3 10 x 1" in output
