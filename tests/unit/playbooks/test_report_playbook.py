# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""playbooks/report.yml: its options follow the module's, and a real run on two local hosts."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from ansible_collections.djangoops.gunicorn.plugins.modules import gunicorn_facts

COLLECTION = os.path.abspath(os.path.join(os.path.dirname(gunicorn_facts.__file__), "..", ".."))
COLLECTIONS_PATH = os.path.abspath(os.path.join(COLLECTION, "..", "..", ".."))
PLAYBOOK = os.path.join(COLLECTION, "playbooks", "report.yml")
GIB = 1024 ** 3


def report_tasks():
    with open(PLAYBOOK) as handle:
        [play] = yaml.safe_load(handle)
    return play["tasks"]


def task_using(action):
    [task] = [task for task in report_tasks() if action in task]
    return task


def test_every_module_option_is_passed_through():
    options = set(gunicorn_facts.argument_spec())
    task = task_using("djangoops.gunicorn.gunicorn_facts")
    assert set(task["djangoops.gunicorn.gunicorn_facts"]) == options
    for name, value in task["djangoops.gunicorn.gunicorn_facts"].items():
        assert value == "{{ report_facts_options.%s | default(omit) }}" % name


def test_the_options_check_knows_every_module_option():
    task = task_using("ansible.builtin.assert")
    assert set(task["vars"]["report_known_options"]) == set(gunicorn_facts.argument_spec())


@pytest.fixture
def limited_cgroup(tmp_path):
    """A 1.5 CPU / 1 GiB cgroup, as v1 and v2 files so any /proc/self/cgroup layout finds it."""
    root = tmp_path / "cgroup"
    for relative, text in {"cgroup.controllers": "cpu memory", "cpu.max": "150000 100000",
                           "memory.max": str(GIB), "cpu/cpu.cfs_quota_us": "150000",
                           "cpu/cpu.cfs_period_us": "100000", "memory/memory.limit_in_bytes": str(GIB)}.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    return str(root)


def test_report_run_on_two_local_hosts(tmp_path, limited_cgroup):
    """web1 is measured under the fake cgroup; broken gets an invalid option, fails, and stays in the table."""
    pytest.importorskip("psutil", reason="psutil is required by gunicorn_facts")
    out = tmp_path / "report"
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(yaml.safe_dump({"all": {
        "vars": {"ansible_connection": "local", "ansible_python_interpreter": sys.executable},
        "hosts": {
            "web1": {"report_facts_options": {"cgroup_root": limited_cgroup, "app": "no-such-app",
                                              "profile": "cpu"}},
            "broken": {"report_facts_options": {"profile": "web"}},
        },
    }}, sort_keys=False))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS_PATH, ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false",
               ANSIBLE_RETRY_FILES_ENABLED="false")
    run = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", str(inventory),
         "djangoops.gunicorn.report", "-e", "report_become=false", "-e", "report_output_dir=%s" % out],
        env=env, cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, universal_newlines=True,
        timeout=300, check=False)
    assert run.returncode == 2, run.stdout      # broken failed, as it should
    assert "profile" in run.stdout and "web" in run.stdout

    rows = json.loads((out / "gunicorn-report.json").read_text())["rows"]
    assert [row["host"] for row in rows] == ["web1", "broken"]
    web1, broken = rows
    assert web1["status"] == "ok" and broken["status"] == "no facts"
    assert web1["cpu"]["effective"] == 1.5 and web1["memory"]["effective_bytes"] == GIB
    # profile cpu: floor(1.5 / 1.0) + 1 = 2; expected 300 MB workers: (1024 - 512) / 600 = 0, so memory binds.
    assert web1["recommendation"]["limits"]["cpu"] == 2
    assert web1["recommendation"]["bound_by"] == "memory"
    assert web1["recommendation"]["per_worker_memory_source"] == "expected"
    assert any("no-such-app" in warning for warning in web1["warnings"])

    markdown = (out / "gunicorn-report.md").read_text()
    lines = markdown.splitlines()
    assert lines[0] == "# Gunicorn fleet report"
    assert [line.split(" | ")[0] for line in lines if line.startswith("| ")][2:] == ["| web1", "| broken"]
    assert "| 1.5 (cgroup_v" in markdown and "1.0 GiB (cgroup_v" in markdown
    # The table is printed on the controller too.
    assert "Print the fleet table" in run.stdout and "| web1 | 1.5 (cgroup_v" in run.stdout
