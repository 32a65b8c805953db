"""playbooks/tune.yml on a podman guest limited to 1.5 CPUs and 1 GiB (testinfra).

side_effect.yml tuned the sample app twice: for the CPU-bound page (report "cpu", baseline put
back) and then for the I/O-bound page (report "io", winner applied). The reports are on the
controller under the scenario's ephemeral directory; the host must run the I/O winner, healthy.
"""
import json
import os
import pathlib
import re

import pytest
import yaml

HOST = "djangoops-tune"
UNIT = "gunicorn-mysite.service"
CONFIG = "/etc/gunicorn/mysite/gunicorn.conf.py"
BASELINE = {"worker_class": "sync", "workers": 3, "threads": 1}
REPORT_DIR = pathlib.Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / "tune"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def report(name):
    return json.loads((REPORT_DIR / f"{name}.json").read_text())


def winner(name):
    data = report(name)
    assert data["choice"]["best"] is not None, f"{name}: no configuration met the SLO: {data['choice']['summary']}"
    return data["choice"]["settings"]


@pytest.mark.parametrize("name", ["cpu", "io"])
def test_report_files_exist_and_parse(name):
    data = report(name)
    assert data["phases"] == ["workers", "threads"]
    markdown = (REPORT_DIR / f"{name}.md").read_text()
    assert markdown.startswith("# Gunicorn tuning: mysite on djangoops-tune")
    chart = (REPORT_DIR / f"{name}.png").read_bytes()
    assert chart.startswith(PNG_MAGIC) and len(chart) > 10000
    snippet = yaml.safe_load((REPORT_DIR / f"{name}-settings.yml").read_text())
    assert snippet == {f"gunicorn_django_{key}": value for key, value in data["choice"]["settings"].items()}


@pytest.mark.parametrize("name", ["cpu", "io"])
def test_every_step_is_in_the_table_with_its_verdict(name):
    data = report(name)
    markdown = (REPORT_DIR / f"{name}.md").read_text()
    rows = {int(m.group(1)): m.group(0) for m in re.finditer(r"^\| (\d+) \| .*\|$", markdown, re.MULTILINE)}
    steps = data["steps"]
    assert sorted(rows) == [step["id"] for step in steps]
    verdicts = {v["id"]: v for v in data["choice"]["verdicts"]}
    for step in steps:
        row = rows[step["id"]]
        assert f"| {step['settings']['workers']} | {step['settings']['threads']} |" in row
        assert verdicts[step["id"]]["verdict"] in row
        if step["status"] == "measured":
            assert f"| {step['metrics']['rps']:g} |" in row
            assert step["metrics"]["requests"] > 0 and step["metrics"]["memory_total_mb"] > 0
    assert [v["verdict"] for v in verdicts.values()].count("chosen") == 1
    # The final config was measured again after the sweep, and the report compares the two.
    assert data["context"]["control"]["metrics"]["rps"] > 0
    assert "Control: " in markdown and "measured again at the end" in markdown
    # The baseline is the inventory's settings, measured first; one variable changes per step.
    assert steps[0]["variable"] == "baseline" and steps[0]["settings"] == BASELINE
    assert len(steps) >= 3, "the sweep measured too few candidates to mean anything"


@pytest.mark.parametrize("name", ["cpu", "io"])
def test_one_variable_changes_per_step(name):
    steps = report(name)["steps"]
    for step in steps[1:]:
        same = [key for key in ("workers", "threads") if key != step["variable"]]
        start = [s for s in steps if s["phase"] < step["phase"]]
        assert any(all(s["settings"][key] == step["settings"][key] for key in same) for s in start), step


def test_io_bound_page_favours_threads_and_more_concurrency():
    cpu, io = winner("cpu"), winner("io")
    assert io["worker_class"] == "gthread" and io["threads"] > 1, io
    assert io["workers"] * io["threads"] > cpu["workers"] * cpu["threads"], (cpu, io)
    io_steps = report("io")["steps"]
    best = max(s["metrics"]["rps"] for s in io_steps if s["status"] == "measured")
    assert best > 1.5 * io_steps[0]["metrics"]["rps"], "threads should beat 3 sync workers on a sleeping page"
    assert all(s["metrics"]["errors"] == 0 for s in io_steps if s["status"] == "measured")


def cpu_per_request(name):
    """Gunicorn's CPU seconds per request at the busiest step of a report (fixed costs, such as the
    master's and idle threads', weigh least there)."""
    busiest = max((s for s in report(name)["steps"] if s["status"] == "measured"), key=lambda s: s["metrics"]["rps"])
    return busiest["metrics"]["cpu_cores"] / busiest["metrics"]["rps"]


def test_cpu_bound_page_was_measured_busy():
    # Each /cpu/ request burns 20 ms of CPU, each /io/ request waits 200 ms: the sampler must see it.
    assert cpu_per_request("cpu") > 3 * cpu_per_request("io"), (cpu_per_request("cpu"), cpu_per_request("io"))


def test_host_ends_healthy_on_the_applied_winner(host):
    io = winner("io")
    config = host.file(CONFIG).content_string
    assert f"workers = {io['workers']}\n" in config
    assert f"threads = {io['threads']}\n" in config
    assert f"worker_class = '{io['worker_class']}'" in config or f'worker_class = "{io["worker_class"]}"' in config
    assert host.service(UNIT).is_running
    master = int(host.check_output(f"systemctl show --property=MainPID --value {UNIT}"))
    workers = host.check_output(f"ps -o pid= --ppid {master}").split()
    assert len(workers) == io["workers"]
    page = host.run("curl -fsS http://127.0.0.1:8000/items/")
    assert page.rc == 0 and "Catalog: 50 items" in page.stdout
    state = json.loads(host.file("/var/lib/gunicorn-tune/mysite.json").content_string)
    assert state["state"] == "finished" and state["final"] == "winner"


def test_cpu_run_put_the_baseline_back():
    data = report("cpu")
    assert "the baseline" in data["context"]["final"]
    # The I/O run started from the inventory's settings again.
    assert report("io")["steps"][0]["settings"] == BASELINE


def test_wrk_was_installed_by_the_playbook(host):
    assert host.package("wrk").is_installed


def test_an_interrupted_run_is_reported_and_undone_by_the_next():
    # side_effect.yml killed a run once its first candidate (4 workers) was live, then ran it again.
    assert not (REPORT_DIR / "interrupted.json").exists(), "the killed run must not have written a report"
    log = (REPORT_DIR / "resumed.log").read_text()
    assert "did not finish" in log, "the second run must report the interrupted one"
    resumed = report("resumed")
    assert resumed["steps"][0]["settings"] == BASELINE, "the second run must start from the inventory's settings"
    assert [s["settings"]["workers"] for s in resumed["steps"][1:]] == [4, 2]
    assert "the baseline" in resumed["context"]["final"]
