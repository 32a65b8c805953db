"""gunicorn_facts on a podman guest limited to 1.5 CPUs and 1 GiB, and the fleet report (testinfra).

converge.yml saves what gunicorn_facts returned to SNAPSHOT; side_effect.yml runs
playbooks/report.yml, which writes its files on the controller under the scenario's ephemeral
directory. Expected recommendations are computed with the same pure sizing function the module
uses, from the numbers the module reported, so a change of defaults does not need a test edit.
"""
import json
import os
import pathlib

import pytest

from ansible_collections.djangoops.gunicorn.plugins.module_utils import sizing

HOST = "djangoops-facts"
APP = "mysite"
UNIT = f"gunicorn-{APP}.service"
CONFIGURED_WORKERS = 2
SNAPSHOT = "/var/tmp/gunicorn_facts.json"
# What molecule.yml passes to `podman run` (--cpus=1.5 --memory=1g).
LIMIT_CPUS = 1.5
LIMIT_MEMORY_BYTES = 1024 ** 3
CGROUP_CPU = "/sys/fs/cgroup/cpu"
CGROUP_MEMORY = "/sys/fs/cgroup/memory"
REPORT_DIR = pathlib.Path(os.environ.get("MOLECULE_EPHEMERAL_DIRECTORY", "/nonexistent")) / "report"


def read_int(host, path):
    return int(host.file(path).content_string.strip())


def main_pid(host):
    pid = int(host.check_output(f"systemctl show --property=MainPID --value {UNIT}"))
    assert pid > 0, f"{UNIT} has no main PID"
    return pid


def worker_pids(host):
    return sorted(int(pid) for pid in host.check_output(f"ps -o pid= --ppid {main_pid(host)}").split())


def live_uss(host, pid):
    """USS of a process read directly from the kernel: private clean + private dirty pages."""
    fields = dict(line.split(":", 1) for line in host.file(f"/proc/{pid}/smaps_rollup").content_string.splitlines()
                  if line.startswith("Private_"))
    return sum(int(value.split()[0]) for value in fields.values()) * 1024


def module_defaults():
    """The options gunicorn_facts passes to sizing.recommend() when the play sets none."""
    return dict(memory_reserve_bytes=sizing.DEFAULT_MEMORY_RESERVE_MB * sizing.MIB,
                reload_headroom=sizing.DEFAULT_RELOAD_HEADROOM, profile=sizing.DEFAULT_PROFILE)


def assert_matches(recommendation, expected):
    for key in ("worker_class", "workers", "threads", "slots", "bound_by", "limits", "cpu_slot_target"):
        assert recommendation[key] == expected[key], key


@pytest.fixture(scope="module")
def snapshot(host):
    return json.loads(host.file(SNAPSHOT).content_string)


@pytest.fixture(scope="module")
def mysite(snapshot):
    return snapshot["mysite"]["facts"]


@pytest.fixture(scope="module")
def new_app(snapshot):
    return snapshot["new_app"]


@pytest.fixture(scope="module")
def sized_instance(mysite):
    sized = [instance for instance in mysite["instances"] if instance["sized"]]
    assert len(sized) == 1, mysite["instances"]
    return sized[0]


# --- the podman limits reach the guest as cgroup v1 files ------------------------------------

def test_podman_cpu_quota_is_in_the_guests_cgroup(host):
    quota = read_int(host, f"{CGROUP_CPU}/cpu.cfs_quota_us") / read_int(host, f"{CGROUP_CPU}/cpu.cfs_period_us")
    assert quota == LIMIT_CPUS
    assert int(host.check_output("nproc")) > LIMIT_CPUS, "the machine must be bigger than the limit"


def test_podman_memory_limit_is_in_the_guests_cgroup(host):
    assert read_int(host, f"{CGROUP_MEMORY}/memory.limit_in_bytes") == LIMIT_MEMORY_BYTES
    mem_total_kib = int(host.check_output("awk '/^MemTotal:/ {print $2}' /proc/meminfo"))
    assert mem_total_kib * 1024 > LIMIT_MEMORY_BYTES, "the machine must be bigger than the limit"


# --- facts: the cgroup, not the machine ----------------------------------------------------

def test_cpu_facts_report_the_cgroup_quota(host, mysite):
    cpu = mysite["cpu"]
    assert cpu["logical"] == int(host.check_output("nproc"))
    assert cpu["cgroup_quota"] == LIMIT_CPUS
    assert cpu["effective"] == LIMIT_CPUS
    assert cpu["source"] == "cgroup_v1"


def test_memory_facts_report_the_cgroup_limit(mysite):
    memory = mysite["memory"]
    assert memory["cgroup_limit_bytes"] == LIMIT_MEMORY_BYTES
    assert memory["effective_bytes"] == LIMIT_MEMORY_BYTES
    assert memory["source"] == "cgroup_v1"
    assert memory["total_bytes"] > LIMIT_MEMORY_BYTES
    assert 0 < memory["available_bytes"] <= LIMIT_MEMORY_BYTES


# --- the running instance and its measured memory ----------------------------------------

def test_mysite_instance_is_found_with_its_workers(host, mysite, sized_instance):
    assert len(mysite["instances"]) == 1
    assert sized_instance["unit"] == UNIT
    assert sized_instance["master_pid"] == main_pid(host)
    assert sized_instance["workers"] == CONFIGURED_WORKERS
    assert sorted(sized_instance["worker_pids"]) == worker_pids(host)
    assert (sized_instance["worker_class"], sized_instance["threads"]) == ("sync", 1)
    assert sized_instance["settings_source"]["workers"] == "config"


def test_worker_memory_is_measured_from_the_live_processes(host, sized_instance):
    memory = sized_instance["memory"]
    assert memory["metric"] == "uss", "become: true must make /proc/<pid>/smaps readable"
    assert memory["pss_total_bytes"] > memory["workers_total_bytes"] > 0
    assert memory["worker_max_bytes"] >= memory["worker_mean_bytes"] > 0
    assert memory["workers_total_bytes"] == pytest.approx(memory["worker_mean_bytes"] * CONFIGURED_WORKERS, abs=2)
    # The same workers read now, straight from the kernel: idle workers barely change.
    live = max(live_uss(host, pid) for pid in sized_instance["worker_pids"])
    assert live / 2 <= memory["worker_max_bytes"] <= live * 2


def test_recommendation_uses_the_measured_worker_memory(mysite, sized_instance):
    recommendation = mysite["recommendation"]
    assert recommendation["per_worker_memory_source"] == "measured"
    assert recommendation["per_worker_memory_bytes"] == sized_instance["memory"]["worker_max_bytes"]
    assert recommendation["other_instances_memory_bytes"] == 0
    assert recommendation["warnings"] == []


def test_recommendation_follows_the_limits_not_the_machine(mysite):
    recommendation = mysite["recommendation"]
    per_worker = recommendation["per_worker_memory_bytes"]
    expected = sizing.recommend(LIMIT_CPUS, LIMIT_MEMORY_BYTES, per_worker_memory_bytes=per_worker,
                                **module_defaults())
    assert_matches(recommendation, expected)
    busy = sizing.PROFILE_BUSY_FRACTION[sizing.DEFAULT_PROFILE]
    assert recommendation["cpu_slot_target"] == sizing.cpu_slot_target(LIMIT_CPUS, busy)
    # A small sample-app worker: the 1.5 CPU quota binds, not the 1 GiB.
    assert recommendation["bound_by"] == "cpu"
    assert recommendation["limits"]["memory"] > recommendation["limits"]["cpu"]
    machine = sizing.recommend(mysite["cpu"]["logical"], mysite["memory"]["total_bytes"],
                               per_worker_memory_bytes=per_worker, **module_defaults())
    assert recommendation["workers"] < machine["workers"], "the machine's cores would give more workers"


# --- a new app on the same host: expected memory and the reserve bind ---------------------

def test_new_app_is_sized_from_expected_memory(new_app, mysite):
    options, facts = new_app["options"], new_app["facts"]
    recommendation = facts["recommendation"]
    assert not any(instance["sized"] for instance in facts["instances"])
    assert any(f"no running Gunicorn instance matches app {options['app']}" in warning
               for warning in recommendation["warnings"])
    assert recommendation["per_worker_memory_source"] == "expected"
    assert recommendation["per_worker_memory_bytes"] == options["expected_worker_memory_mb"] * sizing.MIB
    mysite_instance = [instance for instance in facts["instances"] if instance["unit"] == UNIT]
    assert len(mysite_instance) == 1
    assert recommendation["other_instances_memory_bytes"] == mysite_instance[0]["memory"]["total_bytes"] > 0
    assert facts["cpu"]["effective"] == mysite["cpu"]["effective"] == LIMIT_CPUS
    assert facts["memory"]["effective_bytes"] == LIMIT_MEMORY_BYTES


def test_new_app_recommendation_is_memory_bound_on_1_gib(new_app):
    options, recommendation = new_app["options"], new_app["facts"]["recommendation"]
    expected = sizing.recommend(
        LIMIT_CPUS, LIMIT_MEMORY_BYTES,
        per_worker_memory_bytes=options["expected_worker_memory_mb"] * sizing.MIB,
        memory_reserve_bytes=options["memory_reserve_mb"] * sizing.MIB,
        other_instances_memory_bytes=recommendation["other_instances_memory_bytes"],
        reload_headroom=sizing.DEFAULT_RELOAD_HEADROOM, profile=sizing.DEFAULT_PROFILE)
    assert_matches(recommendation, expected)
    assert recommendation["bound_by"] == "memory"
    assert 1 <= recommendation["workers"] == recommendation["limits"]["memory"] < recommendation["limits"]["cpu"]
    budget = LIMIT_MEMORY_BYTES - options["memory_reserve_mb"] * sizing.MIB \
        - recommendation["other_instances_memory_bytes"]
    peak = recommendation["workers"] * recommendation["per_worker_memory_bytes"] * sizing.DEFAULT_RELOAD_HEADROOM
    assert peak <= budget < peak + recommendation["per_worker_memory_bytes"] * sizing.DEFAULT_RELOAD_HEADROOM


# --- literal figures: what the sizing must give on this host, written down, not computed ---
# 1.5 CPUs, 1 GiB (molecule.yml). The tests above compare with sizing.recommend() itself, which
# cannot catch a wrong model; these numbers were worked out by hand from docs/sizing.md.

def test_literal_figures_mixed_profile_on_1_5_cpus(mysite):
    recommendation = mysite["recommendation"]
    # mixed (busy 0.5): 1.5 / 0.5 = 3 busy slots + 1 = 4 sync workers.
    assert recommendation["cpu_slot_target"] == 4
    assert recommendation["limits"]["cpu"] == 4
    assert (recommendation["worker_class"], recommendation["threads"]) == ("sync", 1)
    assert recommendation["workers"] == 4, recommendation["reasons"]


def test_literal_figures_new_app_of_150_mb_workers_with_256_mb_reserved(new_app):
    recommendation = new_app["facts"]["recommendation"]
    # 1024 - 256 reserved - mysite (< 168 MiB measured) leaves < 768 MiB; 150 MiB x 2 (reload) per
    # worker: 2 workers, memory-bound (the CPU would allow 4).
    assert recommendation["other_instances_memory_bytes"] < 168 * sizing.MIB
    assert (recommendation["workers"], recommendation["bound_by"]) == (2, "memory")
    assert recommendation["limits"]["cpu"] == 4 and recommendation["limits"]["memory"] == 2


def test_literal_figures_io_profile_is_two_gthread_workers_of_eight_threads(snapshot):
    recommendation = snapshot["io"]["facts"]["recommendation"]
    # io (busy 0.1): 1.5 / 0.1 = 15 + 1 = 16 slots; gthread with 8 threads: 2 workers.
    assert recommendation["cpu_slot_target"] == 16
    assert (recommendation["worker_class"], recommendation["workers"], recommendation["threads"]) == (
        "gthread", 2, 8)
    assert (recommendation["slots"], recommendation["bound_by"]) == (16, "cpu")


def test_literal_figures_a_database_budget_of_23_connections_on_two_hosts(snapshot):
    recommendation = snapshot["db"]["facts"]["recommendation"]
    # (23 - 3 reserved) / 2 hosts = 10 connections per host, / 2 (reload overlap) = 5 slots.
    assert (recommendation["workers"], recommendation["threads"], recommendation["slots"]) == (1, 5, 5)
    assert recommendation["bound_by"] == "database"


# --- the fleet report (playbooks/report.yml, written on the controller) -------------------

@pytest.fixture(scope="module")
def report_row():
    rows = json.loads((REPORT_DIR / "gunicorn-report.json").read_text())["rows"]
    assert [row["host"] for row in rows] == [HOST]
    return rows[0]


@pytest.fixture(scope="module")
def report_markdown():
    return (REPORT_DIR / "gunicorn-report.md").read_text().splitlines()


def expected_difference(current, recommended):
    return "matches the recommendation" if current == recommended else \
        f"workers {current} -> {recommended} ({recommended - current:+d})"


def test_report_json_row_holds_the_limits_and_the_instance(host, report_row):
    assert report_row["status"] == "ok"
    assert report_row["cpu"] == {"effective": LIMIT_CPUS, "source": "cgroup_v1",
                                 "logical": int(host.check_output("nproc"))}
    assert report_row["memory"]["effective_bytes"] == LIMIT_MEMORY_BYTES
    assert report_row["memory"]["source"] == "cgroup_v1"
    assert report_row["sized_instance"] == UNIT
    [instance] = report_row["instances"]
    assert instance["master_pid"] == main_pid(host), "the report must come from this run's host"
    assert (instance["workers"], instance["running_workers"], instance["memory_metric"]) == (
        CONFIGURED_WORKERS, CONFIGURED_WORKERS, "uss")
    assert instance["worker_memory_bytes"] == report_row["recommendation"]["per_worker_memory_bytes"]


def test_report_json_row_compares_current_and_recommended(report_row):
    recommendation = report_row["recommendation"]
    expected = sizing.recommend(LIMIT_CPUS, LIMIT_MEMORY_BYTES,
                                per_worker_memory_bytes=recommendation["per_worker_memory_bytes"],
                                **module_defaults())
    for key in ("worker_class", "workers", "threads", "bound_by", "limits"):
        assert recommendation[key] == expected[key], key
    assert recommendation["per_worker_memory_source"] == "measured"
    assert report_row["current"] == {"worker_class": "sync", "workers": CONFIGURED_WORKERS, "threads": 1}
    assert report_row["difference"] == expected_difference(CONFIGURED_WORKERS, expected["workers"])
    assert report_row["changes"] == [{"setting": "workers", "current": CONFIGURED_WORKERS,
                                      "recommended": expected["workers"],
                                      "delta": expected["workers"] - CONFIGURED_WORKERS}]


def test_report_markdown_table_has_the_hosts_row(report_markdown, report_row):
    assert report_markdown[0] == "# Gunicorn fleet report"
    table = [line for line in report_markdown if line.startswith("|")]
    header, separator, rows = table[0], table[1], table[2:]
    columns = header.count(" | ") + 1
    assert separator == "| " + " | ".join(["---"] * columns) + " |"
    assert len(rows) == 1 and rows[0].startswith(f"| {HOST} |")
    cells = [cell.strip() for cell in rows[0].strip("|").split(" | ")]
    assert len(cells) == columns
    recommendation = report_row["recommendation"]
    assert cells[1] == "1.5 (cgroup_v1)"
    assert cells[2] == "1.0 GiB (cgroup_v1)"
    assert cells[3].startswith(f"{UNIT}: {CONFIGURED_WORKERS} sync workers x 1 thread, {CONFIGURED_WORKERS} running")
    assert cells[4].startswith(f"{recommendation['workers']} sync workers x 1 thread")
    assert cells[5].startswith(f"{recommendation['bound_by']} (cpu {recommendation['limits']['cpu']}, memory ")
    assert cells[6] == report_row["difference"]
