# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gunicorn_facts end to end: main() with patched module args, and one real subprocess run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from core_compat import patch_module_args

from ansible_collections.djangoops.gunicorn.plugins.modules import gunicorn_facts

psutil = pytest.importorskip("psutil", reason="psutil is required by gunicorn_facts")

GIB = 1024 ** 3
FACT_KEYS = {"cpu", "memory", "scope", "instances", "recommendation"}
CPU_KEYS = {"logical", "affinity", "cgroup_quota", "systemd_quota", "systemd_quota_unit", "allowed_cpus",
            "allowed_cpus_unit", "effective", "source"}
MEMORY_KEYS = {"total_bytes", "available_bytes", "swap_total_bytes", "cgroup_limit_bytes", "systemd_max_bytes",
               "systemd_max_unit", "systemd_high_bytes", "systemd_high_unit", "effective_bytes", "source"}
SCOPE_KEYS = {"kind", "unit", "pid", "slices", "cgroup_v2", "cgroup_v1_cpu", "cgroup_v1_memory"}
RECOMMENDATION_KEYS = {"worker_class", "workers", "threads", "slots", "bound_by", "limits", "limit_reasons",
                       "busy_fraction", "cpu_slot_target", "per_worker_memory_bytes", "per_worker_memory_source",
                       "other_instances_memory_bytes", "reload_headroom", "reasons", "warnings"}
INSTANCE_KEYS = {"master_pid", "worker_pids", "unit", "wsgi_app", "config", "pidfile", "worker_class", "workers",
                 "threads", "bind", "settings_source", "memory", "notes", "sized"}


def run_module(capsys, **args):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            gunicorn_facts.main()
    return json.loads(capsys.readouterr().out)


def warning_texts(result):
    """Module warnings as text: plain strings before ansible-core 2.19, summaries with an event after."""
    return [w if isinstance(w, str) else w["event"]["msg"] for w in result.get("warnings", [])]


@pytest.fixture
def small_cgroup(tmp_path):
    """A 1.5 CPU / 2 GiB cgroup, as both v1 and v2 files so any /proc/self/cgroup layout finds it."""
    files = {
        "cgroup.controllers": "cpu memory",
        "cpu.max": "150000 100000",
        "memory.max": str(2 * GIB),
        "cpu/cpu.cfs_quota_us": "150000",
        "cpu/cpu.cfs_period_us": "100000",
        "memory/memory.limit_in_bytes": str(2 * GIB),
    }
    for relative, text in files.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text + "\n")
    return str(tmp_path)


def test_facts_have_the_documented_keys(capsys):
    result = run_module(capsys, profile="io")
    assert result["changed"] is False
    facts = result["ansible_facts"]["gunicorn"]
    assert set(facts) == FACT_KEYS
    assert set(facts["cpu"]) == CPU_KEYS and set(facts["memory"]) == MEMORY_KEYS
    assert set(facts["scope"]) == SCOPE_KEYS
    assert set(facts["recommendation"]) == RECOMMENDATION_KEYS
    assert set(facts["recommendation"]["limits"]) == {"cpu", "memory", "database", "explicit_max"}
    assert set(facts["recommendation"]["limit_reasons"]) == set(facts["recommendation"]["limits"])
    assert facts["recommendation"]["worker_class"] == "gthread"
    for instance in facts["instances"]:
        assert set(instance) == INSTANCE_KEYS


def test_sizes_from_the_cgroup_not_the_host(capsys, small_cgroup):
    # No app matches, so the expected 300 MB per worker is used whatever Gunicorn instances run here.
    facts = run_module(capsys, cgroup_root=small_cgroup, app="no-such-app-here")["ansible_facts"]["gunicorn"]
    assert facts["cpu"]["effective"] == 1.5 and facts["cpu"]["source"] in ("cgroup_v1", "cgroup_v2")
    assert facts["memory"]["effective_bytes"] == 2 * GIB and facts["memory"]["source"] in ("cgroup_v1", "cgroup_v2")
    recommendation = facts["recommendation"]
    # floor(2 x 1.5) + 1 = 4 by CPU; (2048 - 512 - other Gunicorns' memory) / (300 x 2) by memory:
    # 2 on an idle machine (Gunicorns of test hosts on this kernel count as other instances).
    others_mb = recommendation["other_instances_memory_bytes"] / (1024 * 1024)
    by_memory = int((2048 - 512 - others_mb) // 600)
    assert recommendation["limits"]["cpu"] == 4 and recommendation["limits"]["memory"] == max(by_memory, 0)
    assert (recommendation["workers"], recommendation["bound_by"]) == (max(by_memory, 1), "memory")
    assert recommendation["per_worker_memory_source"] == "expected"


def test_database_bound_fleet(capsys, small_cgroup):
    recommendation = run_module(capsys, cgroup_root=small_cgroup, memory_reserve_mb=0, expected_worker_memory_mb=50,
                                db_max_connections=100, app_hosts=20)["ansible_facts"]["gunicorn"]["recommendation"]
    # (100 - 3) / (2 x 20) = 2 connections per host.
    assert (recommendation["workers"], recommendation["bound_by"]) == (2, "database")


def test_explicit_values_win_and_are_warned(capsys, small_cgroup):
    # No app matches, so the expected 300 MB per worker is used whatever Gunicorn instances run on this
    # machine (with exactly one, its small measured workers would be sized and 12 would fit 2 GiB).
    result = run_module(capsys, cgroup_root=small_cgroup, app="no-such-app-here", workers=12, threads=1,
                        worker_class="sync")
    recommendation = result["ansible_facts"]["gunicorn"]["recommendation"]
    assert (recommendation["workers"], recommendation["threads"], recommendation["worker_class"]) == (12, 1, "sync")
    assert recommendation["bound_by"] == "explicit"
    assert any("memory limit" in warning for warning in recommendation["warnings"])
    assert warning_texts(result) == recommendation["warnings"]


def test_check_mode_reports_the_same(capsys, small_cgroup):
    normal = run_module(capsys, cgroup_root=small_cgroup)
    checked = run_module(capsys, cgroup_root=small_cgroup, _ansible_check_mode=True)
    assert checked["changed"] is False
    assert checked["ansible_facts"]["gunicorn"]["recommendation"]["workers"] == \
        normal["ansible_facts"]["gunicorn"]["recommendation"]["workers"]


@pytest.mark.parametrize("args, message", [
    ({"min_workers": 5, "max_workers": 4}, "min_workers"),
    ({"reload_headroom": 0.5}, "reload_headroom"),
    ({"cpu_busy_fraction": 0.0}, "cpu_busy_fraction"),
    ({"db_max_connections": 3}, "db_reserved_connections"),
    ({"expected_worker_memory_mb": 0}, "expected_worker_memory_mb"),
    ({"memory_reserve_mb": -1}, "memory_reserve_mb"),
    ({"profile": "web"}, "profile"),
])
def test_bad_options_fail(capsys, args, message):
    result = run_module(capsys, **args)
    assert result["failed"] is True and message in result["msg"]


def test_unknown_app_warns_and_uses_the_expected_size(capsys):
    result = run_module(capsys, app="no-such-app-here")
    recommendation = result["ansible_facts"]["gunicorn"]["recommendation"]
    assert recommendation["per_worker_memory_source"] == "expected"
    assert recommendation["per_worker_memory_bytes"] == 300 * 1024 * 1024
    assert any("no-such-app-here" in warning for warning in warning_texts(result))


@pytest.fixture
def running_gunicorn(tmp_path):
    pytest.importorskip("gunicorn", reason="gunicorn is not installed in this Python (pip install gunicorn)")
    (tmp_path / "factsapp.py").write_text(
        'def app(environ, start_response):\n    start_response("200 OK", [])\n    return [b"ok"]\n')
    env = dict(os.environ, HOME=str(tmp_path), PYTHONPATH=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "2", "--no-control-socket",
                             "-b", "unix:%s" % (tmp_path / "g.sock"), "factsapp:app"],
                            cwd=str(tmp_path), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while len(psutil.Process(proc.pid).children()) < 2 and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    yield proc
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)


def test_measured_instance_drives_the_memory_limit(capsys, running_gunicorn):
    facts = run_module(capsys, app="factsapp")["ansible_facts"]["gunicorn"]
    sized = [instance for instance in facts["instances"] if instance["sized"]]
    assert [instance["master_pid"] for instance in sized] == [running_gunicorn.pid]
    recommendation = facts["recommendation"]
    assert recommendation["per_worker_memory_source"] == "measured"
    assert recommendation["per_worker_memory_bytes"] == sized[0]["memory"]["worker_max_bytes"]
    others = sum(i["memory"]["total_bytes"] for i in facts["instances"] if not i["sized"])
    assert recommendation["other_instances_memory_bytes"] == others


def test_runs_as_a_subprocess_with_an_args_file(tmp_path, small_cgroup):
    args_file = tmp_path / "args.json"
    args_file.write_text(json.dumps({"ANSIBLE_MODULE_ARGS": {"cgroup_root": small_cgroup, "profile": "cpu"}}))
    collections = os.path.abspath(os.path.join(os.path.dirname(gunicorn_facts.__file__), "..", "..", "..", "..", ".."))
    env = dict(os.environ, PYTHONPATH=collections)
    output = subprocess.run([sys.executable, "-m", "ansible_collections.djangoops.gunicorn.plugins.modules.gunicorn_facts",
                             str(args_file)], env=env, stdout=subprocess.PIPE, check=True).stdout
    recommendation = json.loads(output)["ansible_facts"]["gunicorn"]["recommendation"]
    assert recommendation["limits"]["cpu"] == 2      # floor(1.5) + 1
    assert recommendation["busy_fraction"] == 1.0


def test_without_a_known_service_the_module_reads_its_own_cgroup(capsys, small_cgroup):
    scope = run_module(capsys, cgroup_root=small_cgroup, app="no-such-app-here")["ansible_facts"]["gunicorn"]["scope"]
    assert (scope["kind"], scope["unit"], scope["pid"]) == ("self", None, os.getpid())


def test_a_unit_that_is_not_running_still_gives_its_systemd_limits(capsys, small_cgroup, monkeypatch):
    units = {
        "gunicorn-shop.service": {"Slice": "system.slice", "MainPID": "0", "CPUQuotaPerSecUSec": "500ms",
                                  "MemoryMax": str(768 * 1024 * 1024), "MemoryHigh": "infinity", "AllowedCPUs": ""},
        "system.slice": {"Slice": "-.slice", "MemoryMax": "infinity"},
        "-.slice": {},
    }

    def run_command(self, args, **_kwargs):
        assert args[:2] == ["systemctl", "show"]
        props = units.get(args[2], {})
        return 0, "".join("%s=%s\n" % item for item in props.items()), ""

    monkeypatch.setattr(gunicorn_facts.AnsibleModule, "run_command", run_command)
    monkeypatch.setattr(gunicorn_facts.AnsibleModule, "get_bin_path", lambda self, name, *a, **k: "/bin/" + name)
    facts = run_module(capsys, cgroup_root=small_cgroup, app="gunicorn-shop.service")["ansible_facts"]["gunicorn"]
    assert (facts["scope"]["kind"], facts["scope"]["unit"], facts["scope"]["slices"]) == (
        "unit", "gunicorn-shop.service", ["system.slice", "-.slice"])
    assert (facts["cpu"]["effective"], facts["cpu"]["source"]) == (0.5, "systemd")
    assert (facts["memory"]["effective_bytes"], facts["memory"]["source"]) == (768 * 1024 * 1024, "systemd")
