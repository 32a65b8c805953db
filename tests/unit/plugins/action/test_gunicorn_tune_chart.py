# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gunicorn_tune_chart through ansible-playbook on localhost: it draws on the controller (an action plugin), so a
task needs no delegate_to; check mode draws nothing; steps that are not a tuning run fail with a clear message."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from ansible_collections.djangoops.gunicorn.plugins.plugin_utils import tuning

pytest.importorskip("matplotlib", reason="gunicorn_tune_chart draws with matplotlib")

COLLECTIONS = os.path.abspath(os.path.join(os.path.dirname(tuning.__file__), "..", "..", "..", "..", ".."))


def measured(id_, phase, variable, direction, workers, threads, rps, p95):
    return {"id": id_, "phase": phase, "variable": variable, "direction": direction,
            "settings": tuning.settings_of("gthread" if threads > 1 else "sync", workers, threads),
            "status": "measured", "note": "",
            "metrics": {"rps": rps, "p50_ms": p95 / 2, "p95_ms": p95, "p99_ms": p95, "errors": 0, "requests": 1000,
                        "error_rate": 0.0, "memory_total_mb": 90.0, "memory_per_worker_mb": 30.0,
                        "cpu_cores": 1.0}}


STEPS = [measured(0, -1, "baseline", "baseline", 2, 1, 100.0, 90.0), measured(1, 0, "workers", "up", 3, 1, 140.0, 70.0),
         measured(2, 1, "threads", "up", 3, 2, 150.0, 65.0)]
CHOICE = {"best": 2, "settings": STEPS[2]["settings"], "summary": "3 gthread x 2 threads", "verdicts": []}


def run_chart(tmp_path, *args, **chart_args):
    task = {"name": "Draw", "djangoops.gunicorn.gunicorn_tune_chart": dict(
        {"steps": STEPS, "phases": ["workers", "threads"], "choice": CHOICE, "slo": {"p95_ms": 100},
         "path": str(tmp_path / "chart.png")}, **chart_args), "register": "chart"}
    playbook = tmp_path / "chart.yml"
    playbook.write_text(yaml.safe_dump([{"hosts": "localhost", "gather_facts": False, "tasks": [
        task, {"name": "Show", "ansible.builtin.debug": {"msg": "CHART={{ chart | to_json }}"}}]}]))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCALHOST_WARNING="false", ANSIBLE_INVENTORY_UNPARSED_WARNING="false")
    env.pop("PYTHONPATH", None)
    run = subprocess.run([os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), str(playbook)] + list(args),
                         env=env, cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         universal_newlines=True, timeout=180, check=False)
    shown = [line for line in run.stdout.splitlines() if '"msg": "CHART=' in line]
    result = json.loads(json.loads("{%s}" % shown[0].strip())["msg"][len("CHART="):]) if shown else None
    return run, result


def test_draws_one_panel_per_phase_on_the_controller(tmp_path):
    run, result = run_chart(tmp_path)
    assert run.returncode == 0, run.stdout
    assert result["changed"] and result["panels"] == 2 and result["path"] == str(tmp_path / "chart.png")
    with open(tmp_path / "chart.png", "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    assert oct(os.stat(tmp_path / "chart.png").st_mode & 0o777) == "0o644"


def test_check_mode_draws_nothing(tmp_path):
    run, result = run_chart(tmp_path, "--check")
    assert run.returncode == 0, run.stdout
    assert result["changed"] and result["panels"] == 2
    assert not (tmp_path / "chart.png").exists()


@pytest.mark.parametrize("chart_args, message", [
    pytest.param({"steps": [{"id": 0}]}, "gunicorn_tune_chart: the steps are not those of a tuning run",
                 id="not-a-tuning-run"),
    pytest.param({"path": "/nonexistent-dir/chart.png"}, "gunicorn_tune_chart: cannot write /nonexistent-dir/chart.png",
                 id="unwritable"),
    pytest.param({"phases": None}, "phases", id="missing-phases"),
])
def test_failures_name_the_problem(tmp_path, chart_args, message):
    run, _result = run_chart(tmp_path, **chart_args)
    assert run.returncode == 2 and message in run.stdout, run.stdout
