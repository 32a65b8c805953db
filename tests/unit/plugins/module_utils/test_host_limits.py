# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""cgroup v1/v2 parsing and readers, fed with real files written under tmp_path."""

from __future__ import annotations

import os

import pytest

from ansible_collections.djangoops.gunicorn.plugins.module_utils import host_limits
from ansible_collections.djangoops.gunicorn.plugins.module_utils.host_limits import (
    cgroup_dirs, cpu_facts, memory_facts, parse_cfs_quota, parse_cpu_max, parse_memory_limit_in_bytes,
    parse_memory_max, parse_proc_cgroup,
)

GIB = 1024 ** 3
HYBRID_PROC_CGROUP = """\
9:name=systemd:/system.slice/gunicorn-mysite.service
8:pids:/system.slice/gunicorn-mysite.service
4:memory:/system.slice/gunicorn-mysite.service
2:cpu,cpuacct:/system.slice/gunicorn-mysite.service
1:cpuset:/
0::/system.slice/gunicorn-mysite.service
"""


def write(root, relative, text):
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n")
    return path


@pytest.mark.parametrize("text, expected", [
    ("0::/system.slice/app.service\n", {"v2": "/system.slice/app.service", "v1": {}}),
    ("0::/\n", {"v2": "/", "v1": {}}),
    ("4:memory:/docker/abc\n2:cpu,cpuacct:/docker/abc\n", {"v2": None, "v1": {
        "memory": ("memory", "/docker/abc"), "cpu": ("cpu,cpuacct", "/docker/abc"),
        "cpuacct": ("cpu,cpuacct", "/docker/abc")}}),
    ("9:name=systemd:/\n", {"v2": None, "v1": {"name=systemd": ("name=systemd", "/")}}),
    ("", {"v2": None, "v1": {}}),
    ("garbage\n", {"v2": None, "v1": {}}),
])
def test_parse_proc_cgroup(text, expected):
    assert parse_proc_cgroup(text) == expected


def test_parse_proc_cgroup_hybrid_keeps_both_hierarchies():
    layout = parse_proc_cgroup(HYBRID_PROC_CGROUP)
    assert layout["v2"] == "/system.slice/gunicorn-mysite.service"
    assert layout["v1"]["cpu"] == ("cpu,cpuacct", "/system.slice/gunicorn-mysite.service")
    assert layout["v1"]["cpuset"] == ("cpuset", "/")


@pytest.mark.parametrize("text, expected", [
    ("max 100000", None),
    ("max", None),
    ("200000 100000", 2.0),
    ("150000 100000", 1.5),
    ("50000 100000", 0.5),
    ("100000", 1.0),
    ("", None),
    (None, None),
    ("lots 100000", None),
])
def test_parse_cpu_max(text, expected):
    assert parse_cpu_max(text) == expected


@pytest.mark.parametrize("quota, period, expected", [
    ("-1", "100000", None),
    ("150000", "100000", 1.5),
    ("200000", "100000", 2.0),
    ("25000", "50000", 0.5),
    (None, "100000", None),
    ("100000", None, None),
    ("100000", "0", None),
])
def test_parse_cfs_quota(quota, period, expected):
    assert parse_cfs_quota(quota, period) == expected


@pytest.mark.parametrize("text, host_total, expected", [
    ("max", 8 * GIB, None),
    ("2147483648", 8 * GIB, 2 * GIB),
    ("8589934592", 8 * GIB, None),          # at the host size: no real limit
    ("17179869184", 8 * GIB, None),
    ("2147483648", None, 2 * GIB),
    ("", 8 * GIB, None),
])
def test_parse_memory_max(text, host_total, expected):
    assert parse_memory_max(text, host_total) == expected


@pytest.mark.parametrize("text, host_total, expected", [
    ("9223372036854771712", 8 * GIB, None),  # v1 "unlimited" with 4 KiB pages
    ("9223372036854710272", 8 * GIB, None),  # the same with 64 KiB pages
    ("9223372036854775807", None, None),
    ("1073741824", 8 * GIB, GIB),
    ("68719476736", 8 * GIB, None),          # above the host: not a limit
    ("-1", 8 * GIB, None),
])
def test_parse_memory_limit_in_bytes(text, host_total, expected):
    assert parse_memory_limit_in_bytes(text, host_total) == expected


def test_cgroup_dirs_walks_up_to_the_mount(tmp_path):
    (tmp_path / "system.slice" / "app.service").mkdir(parents=True)
    assert cgroup_dirs(str(tmp_path), "/system.slice/app.service") == [
        str(tmp_path / "system.slice" / "app.service"), str(tmp_path / "system.slice"), str(tmp_path)]


@pytest.mark.parametrize("path", ["/", "", None, "/not/visible/in/this/container", "/../.."])
def test_cgroup_dirs_falls_back_to_the_mount_root(tmp_path, path):
    assert cgroup_dirs(str(tmp_path), path) == [str(tmp_path)]


def test_cgroup_v2_quota_on_a_64_core_host(tmp_path):
    write(tmp_path, "cgroup.controllers", "cpu memory pids")
    write(tmp_path, "system.slice/app.service/cpu.max", "200000 100000")
    cpu = cpu_facts(str(tmp_path), "0::/system.slice/app.service\n", logical=64, affinity=64)
    assert cpu == {"logical": 64, "affinity": 64, "cgroup_quota": 2.0, "systemd_quota": None,
                   "systemd_quota_unit": None, "allowed_cpus": None, "allowed_cpus_unit": None, "effective": 2.0,
                   "source": "cgroup_v2"}


def test_cgroup_v2_parent_quota_limits_the_child(tmp_path):
    write(tmp_path, "cgroup.controllers", "cpu memory")
    write(tmp_path, "machine.slice/cpu.max", "150000 100000")
    write(tmp_path, "machine.slice/box/cpu.max", "max 100000")
    cpu = cpu_facts(str(tmp_path), "0::/machine.slice/box\n", logical=16, affinity=16)
    assert (cpu["effective"], cpu["source"]) == (1.5, "cgroup_v2")


def test_cgroup_v2_container_sees_its_limits_at_the_mount_root(tmp_path):
    write(tmp_path, "cgroup.controllers", "cpu memory")
    write(tmp_path, "cpu.max", "100000 100000")
    write(tmp_path, "memory.max", str(GIB))
    for proc_text in ("0::/\n", "0::/host/side/path.scope\n"):
        assert cpu_facts(str(tmp_path), proc_text, logical=8, affinity=8)["effective"] == 1.0
        memory = memory_facts(16 * GIB, 12 * GIB, 0, str(tmp_path), proc_text)
        assert (memory["effective_bytes"], memory["source"]) == (GIB, "cgroup_v2")


def test_cgroup_v1_quota_and_memory_limit(tmp_path):
    write(tmp_path, "cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "150000")
    write(tmp_path, "cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000")
    write(tmp_path, "memory/docker/abc/memory.limit_in_bytes", str(2 * GIB))
    write(tmp_path, "memory/memory.limit_in_bytes", "9223372036854771712")
    proc_text = "4:memory:/docker/abc\n2:cpu,cpuacct:/docker/abc\n"
    cpu = cpu_facts(str(tmp_path), proc_text, logical=64, affinity=64)
    assert (cpu["cgroup_quota"], cpu["effective"], cpu["source"]) == (1.5, 1.5, "cgroup_v1")
    memory = memory_facts(64 * GIB, 60 * GIB, GIB, str(tmp_path), proc_text)
    assert memory == {"total_bytes": 64 * GIB, "available_bytes": 2 * GIB, "swap_total_bytes": GIB,
                      "cgroup_limit_bytes": 2 * GIB, "systemd_max_bytes": None, "systemd_max_unit": None,
                      "systemd_high_bytes": None, "systemd_high_unit": None, "effective_bytes": 2 * GIB,
                      "source": "cgroup_v1"}


def test_cgroup_v1_single_controller_mounts_and_podman_fallback(tmp_path):
    # Hybrid hosts like this one mount "cpu" alone; in a podman container the host-side
    # path in /proc/self/cgroup does not exist under the container's mount.
    write(tmp_path, "cpu/cpu.cfs_quota_us", "200000")
    write(tmp_path, "cpu/cpu.cfs_period_us", "100000")
    write(tmp_path, "memory/memory.limit_in_bytes", str(GIB))
    write(tmp_path, "unified/cgroup.controllers", "")
    proc_text = "4:memory:/libpod_parent/libpod-1234\n1:cpu:/libpod_parent/libpod-1234\n0::/\n"
    assert cpu_facts(str(tmp_path), proc_text, logical=8, affinity=8)["effective"] == 2.0
    assert memory_facts(8 * GIB, 6 * GIB, 0, str(tmp_path), proc_text)["effective_bytes"] == GIB


def test_unlimited_cgroups_leave_the_host_values(tmp_path):
    write(tmp_path, "cpu/cpu.cfs_quota_us", "-1")
    write(tmp_path, "cpu/cpu.cfs_period_us", "100000")
    write(tmp_path, "memory/memory.limit_in_bytes", "9223372036854771712")
    proc_text = "4:memory:/\n1:cpu:/\n"
    assert cpu_facts(str(tmp_path), proc_text, logical=2, affinity=2) == {
        "logical": 2, "affinity": 2, "cgroup_quota": None, "systemd_quota": None, "systemd_quota_unit": None,
        "allowed_cpus": None, "allowed_cpus_unit": None, "effective": 2.0, "source": "host"}
    memory = memory_facts(24 * GIB, 23 * GIB, 0, str(tmp_path), proc_text)
    assert (memory["cgroup_limit_bytes"], memory["effective_bytes"], memory["source"]) == (None, 24 * GIB, "host")


@pytest.mark.parametrize("logical, affinity, quota, effective, source", [
    (8, 2, None, 2.0, "affinity"),
    (8, 4, "300000 100000", 3.0, "cgroup_v2"),
    (8, 2, "300000 100000", 2.0, "affinity"),
    (8, 8, "max 100000", 8.0, "host"),
    (4, 4, "400000 100000", 4.0, "host"),          # ties keep the simplest explanation
])
def test_effective_cpu_is_the_minimum(tmp_path, logical, affinity, quota, effective, source):
    write(tmp_path, "cgroup.controllers", "cpu")
    if quota:
        write(tmp_path, "app/cpu.max", quota)
    (tmp_path / "app").mkdir(exist_ok=True)
    cpu = cpu_facts(str(tmp_path), "0::/app\n", logical=logical, affinity=affinity)
    assert (cpu["effective"], cpu["source"]) == (effective, source)


def test_no_cgroup_files_at_all(tmp_path):
    cpu = cpu_facts(str(tmp_path / "missing"), "", logical=4, affinity=4)
    assert (cpu["cgroup_quota"], cpu["effective"]) == (None, 4.0)
    memory = memory_facts(4 * GIB, 3 * GIB, 0, str(tmp_path / "missing"), "")
    assert (memory["cgroup_limit_bytes"], memory["effective_bytes"]) == (None, 4 * GIB)


def test_this_machine():
    """The real host: effective values are positive and never above the host's."""
    cpu = cpu_facts()
    assert cpu["logical"] == os.cpu_count()
    assert 0 < cpu["effective"] <= cpu["logical"]
    assert cpu["source"] in ("host", "affinity", "cgroup_v1", "cgroup_v2", "systemd")
    total, available, swap = host_limits.host_memory()
    memory = memory_facts(total, available, swap)
    assert 0 < memory["effective_bytes"] <= total
    assert memory["available_bytes"] <= memory["effective_bytes"]


@pytest.mark.parametrize("text, cpus", [
    ("1.500000s", 1.5),
    ("500ms", 0.5),
    ("2s 500ms", 2.5),
    ("1min", 60.0),
    ("250000us", 0.25),
    ("infinity", None),
    ("", None),
    (None, None),
    ("1.5x", None),
])
def test_parse_systemd_cpu_quota(text, cpus):
    assert host_limits.parse_systemd_cpu_quota(text) == cpus


@pytest.mark.parametrize("text, value", [
    ("805306368", 805306368),
    ("infinity", None),
    ("", None),
    ("0", None),
    ("18446744073709551615", None),
])
def test_parse_systemd_bytes(text, value):
    assert host_limits.parse_systemd_bytes(text) == value


@pytest.mark.parametrize("text, count", [
    ("0-3", 4), ("0-1,3", 3), ("5", 1), ("0 2", 2), ("", None), (None, None), ("3-1", None), ("a-b", None),
])
def test_parse_cpu_list(text, count):
    assert host_limits.parse_cpu_list(text) == count


def fake_show(units):
    def show(name):
        return units.get(name, {})
    return show


def test_systemd_chain_walks_the_slices_up_to_the_root():
    units = {
        "gunicorn-mysite.service": {"Slice": "apps-web.slice", "CPUQuotaPerSecUSec": "infinity"},
        "apps-web.slice": {"Slice": "apps.slice"},
        "apps.slice": {"Slice": "-.slice"},
        "-.slice": {"Slice": ""},
    }
    chain = host_limits.systemd_chain(fake_show(units), "gunicorn-mysite.service")
    assert [name for name, _props in chain] == ["gunicorn-mysite.service", "apps-web.slice", "apps.slice", "-.slice"]


def test_systemd_chain_stops_on_a_loop():
    units = {"a.service": {"Slice": "b.slice"}, "b.slice": {"Slice": "b.slice"}}
    assert [name for name, _p in host_limits.systemd_chain(fake_show(units), "a.service")] == ["a.service", "b.slice"]


def test_systemd_limits_take_the_tightest_of_the_unit_and_its_slices():
    chain = [
        ("gunicorn-mysite.service", {"CPUQuotaPerSecUSec": "1.500000s", "MemoryMax": "805306368",
                                     "MemoryHigh": "infinity", "AllowedCPUs": ""}),
        ("system.slice", {"CPUQuotaPerSecUSec": "infinity", "MemoryMax": str(512 * 1024 * 1024),
                          "MemoryHigh": "infinity", "AllowedCPUs": "0"}),
    ]
    assert host_limits.systemd_limits(chain) == {
        "cpu_quota": (1.5, "gunicorn-mysite.service"),
        "allowed_cpus": (1, "system.slice"),
        "memory_max": (512 * 1024 * 1024, "system.slice"),
        "memory_high": (None, None),
    }


def test_systemd_limits_of_the_service_beat_the_host_and_the_container():
    """A unit with CPUQuota=150% and MemoryMax=768M in a 2-CPU / 2 GiB container."""
    systemd = host_limits.systemd_limits([("gunicorn-mysite.service", {
        "CPUQuotaPerSecUSec": "1.500000s", "MemoryMax": str(768 * 1024 * 1024), "MemoryHigh": "infinity",
        "AllowedCPUs": ""})])
    cpu = cpu_facts("/nonexistent", "", logical=8, affinity=2, systemd=systemd)
    assert (cpu["effective"], cpu["source"], cpu["systemd_quota_unit"]) == (1.5, "systemd", "gunicorn-mysite.service")
    memory = memory_facts(2 * GIB, GIB, 0, "/nonexistent", "", systemd=systemd)
    assert (memory["effective_bytes"], memory["source"]) == (768 * 1024 * 1024, "systemd")
    assert memory["available_bytes"] == 768 * 1024 * 1024


def test_memory_high_throttles_below_memory_max():
    systemd = host_limits.systemd_limits([("app.service", {"MemoryMax": str(GIB), "MemoryHigh": str(GIB // 2)})])
    memory = memory_facts(4 * GIB, 3 * GIB, 0, "/nonexistent", "", systemd=systemd)
    assert (memory["effective_bytes"], memory["systemd_high_unit"]) == (GIB // 2, "app.service")


def test_affinity_of_a_process_that_is_gone():
    assert host_limits.affinity_cpus(2 ** 22 + 7) is None
    assert host_limits.affinity_cpus() == len(os.sched_getaffinity(0))


def test_the_real_cgroup_v2_hierarchy_of_this_machine():
    """Read the kernel's own unified hierarchy, not files written by a test.

    Where the cpu and memory controllers are bound to cgroup v1 (hybrid hosts such as these test
    machines), the unified tree has no cpu.max or memory.max to set: then this checks that the
    reader finds the mount and this process's own cgroup in it, and reports no v2 limit.
    """
    root = host_limits.DEFAULT_CGROUP_ROOT
    mount = host_limits._v2_mount(root)
    if mount is None:
        pytest.skip("no cgroup v2 hierarchy is mounted under %s" % root)
    text = host_limits.read_text(host_limits.PROC_SELF_CGROUP)
    layout = host_limits.parse_proc_cgroup(text)
    assert layout["v2"] is not None
    leaf = host_limits.cgroup_dirs(mount, layout["v2"])[0]
    assert str(os.getpid()) in host_limits.read_text(os.path.join(leaf, "cgroup.procs")).split()
    controllers = (host_limits.read_text(os.path.join(mount, "cgroup.controllers")) or "").split()
    _quota, source = host_limits.cgroup_cpu_quota(root, text)
    _limit, limit_source = host_limits.cgroup_memory_limit(root, text, host_total=2 ** 50)
    if "cpu" not in controllers:
        assert source != "cgroup_v2"
    if "memory" not in controllers:
        assert limit_source != "cgroup_v2"
