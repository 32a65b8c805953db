# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Effective CPU and memory of a service: host, CPU affinity, cgroup v1/v2 and systemd limits.

Parsers take file contents and readers take a cgroup mount root, so tests feed them real
files written to a temporary directory. In containers the limits of the cgroup, not the
host's cores and RAM, are the real machine size (gunicorn #2028). On a systemd host the
service's own unit and slices may be smaller still (CPUQuota=, AllowedCPUs=, MemoryMax=):
what counts is the cgroup of the service being sized, not the one of the process that reads
it (over SSH that is a user session's scope).
"""

from __future__ import annotations

import os
import traceback

try:
    import psutil
    HAS_PSUTIL = True
    PSUTIL_IMPORT_ERROR = None
except ImportError:
    psutil = None
    HAS_PSUTIL = False
    PSUTIL_IMPORT_ERROR = traceback.format_exc()

DEFAULT_CGROUP_ROOT = "/sys/fs/cgroup"
PROC_SELF_CGROUP = "/proc/self/cgroup"
# cgroup v1 "no limit" is the page-rounded PAGE_COUNTER_MAX (9223372036854771712 with 4 KiB
# pages, slightly different with other page sizes): anything this large means unlimited.
V1_MEMORY_UNLIMITED_FLOOR = 1 << 62


def read_text(path):
    """File contents stripped, or None when absent or unreadable."""
    try:
        with open(path) as handle:
            return handle.read().strip()
    except (IOError, OSError):
        return None


def parse_proc_cgroup(text):
    """Parse /proc/<pid>/cgroup into {"v2": path or None, "v1": {controller: (mount name, path)}}.

    Lines are "hierarchy:controllers:path": "0::/x" is the unified (v2) hierarchy,
    "4:memory:/x" or "2:cpu,cpuacct:/x" a v1 one. Named hierarchies (name=systemd) are kept too.
    """
    result = {"v2": None, "v1": {}}
    for line in (text or "").splitlines():
        parts = line.strip().split(":", 2)
        if len(parts) != 3:
            continue
        hierarchy, controllers, path = parts
        if hierarchy == "0" and controllers == "":
            result["v2"] = path
            continue
        for controller in controllers.split(","):
            if controller:
                result["v1"][controller] = (controllers, path)
    return result


def parse_cpu_max(text):
    """cgroup v2 cpu.max "QUOTA PERIOD" as CPUs (float), None for "max" (unlimited) or garbage."""
    fields = (text or "").split()
    if not fields or fields[0] == "max":
        return None
    try:
        quota = int(fields[0])
        period = int(fields[1]) if len(fields) > 1 else 100000
    except ValueError:
        return None
    if quota <= 0 or period <= 0:
        return None
    return quota / float(period)


def parse_cfs_quota(quota_text, period_text):
    """cgroup v1 cpu.cfs_quota_us / cpu.cfs_period_us as CPUs, None when -1 (unlimited)."""
    try:
        quota = int(quota_text)
        period = int(period_text)
    except (TypeError, ValueError):
        return None
    if quota <= 0 or period <= 0:
        return None
    return quota / float(period)


def parse_memory_max(text, host_total=None):
    """cgroup v2 memory.max in bytes, None for "max" or a limit at or above the host's RAM."""
    value = (text or "").strip()
    if not value or value == "max":
        return None
    return _memory_limit(value, host_total)


def parse_memory_limit_in_bytes(text, host_total=None):
    """cgroup v1 memory.limit_in_bytes, None for the huge "unlimited" sentinel or >= host RAM."""
    return _memory_limit((text or "").strip(), host_total)


def _memory_limit(value, host_total):
    try:
        limit = int(value)
    except ValueError:
        return None
    if limit <= 0 or limit >= V1_MEMORY_UNLIMITED_FLOOR:
        return None
    if host_total and limit >= host_total:
        return None
    return limit


def cgroup_dirs(mount_dir, cgroup_path):
    """The process's cgroup directory under mount_dir and its ancestors, leaf first.

    In containers /proc/self/cgroup may say "/" or name a host-side path that is not
    visible under the mount: then the mount root itself is this process's cgroup.
    """
    parts = [part for part in (cgroup_path or "/").split("/") if part and part != ".."]
    if not os.path.isdir(os.path.join(mount_dir, *parts)):
        parts = []
    dirs = []
    while True:
        dirs.append(os.path.join(mount_dir, *parts))
        if not parts:
            return dirs
        parts.pop()


def _v1_mount(root, mount_name, controller):
    for candidate in (mount_name, controller):
        path = os.path.join(root, candidate)
        if os.path.isdir(path):
            return path
    return None


def _v2_mount(root):
    # Pure v2 mounts at the root; hybrid systems put the unified tree under "unified".
    for path in (root, os.path.join(root, "unified")):
        if os.path.isfile(os.path.join(path, "cgroup.controllers")):
            return path
    return None


def _smallest(values):
    known = [value for value in values if value is not None]
    return min(known) if known else None


def cgroup_cpu_quota(root=DEFAULT_CGROUP_ROOT, proc_cgroup_text=None):
    """(CPUs, source) of the tightest CPU quota on this cgroup or an ancestor, or (None, None)."""
    layout = parse_proc_cgroup(proc_cgroup_text)
    found = []
    v2_mount = _v2_mount(root)
    if v2_mount and layout["v2"] is not None:
        quota = _smallest(parse_cpu_max(read_text(os.path.join(path, "cpu.max")))
                          for path in cgroup_dirs(v2_mount, layout["v2"]))
        found.append((quota, "cgroup_v2"))
    if "cpu" in layout["v1"]:
        mount_name, path = layout["v1"]["cpu"]
        v1_mount = _v1_mount(root, mount_name, "cpu")
        if v1_mount:
            quota = _smallest(parse_cfs_quota(read_text(os.path.join(cg, "cpu.cfs_quota_us")),
                                              read_text(os.path.join(cg, "cpu.cfs_period_us")))
                              for cg in cgroup_dirs(v1_mount, path))
            found.append((quota, "cgroup_v1"))
    found = [item for item in found if item[0] is not None]
    return min(found) if found else (None, None)


def cgroup_memory_limit(root=DEFAULT_CGROUP_ROOT, proc_cgroup_text=None, host_total=None):
    """(bytes, source) of the tightest memory limit on this cgroup or an ancestor, or (None, None)."""
    layout = parse_proc_cgroup(proc_cgroup_text)
    found = []
    v2_mount = _v2_mount(root)
    if v2_mount and layout["v2"] is not None:
        limit = _smallest(parse_memory_max(read_text(os.path.join(path, "memory.max")), host_total)
                          for path in cgroup_dirs(v2_mount, layout["v2"]))
        found.append((limit, "cgroup_v2"))
    if "memory" in layout["v1"]:
        mount_name, path = layout["v1"]["memory"]
        v1_mount = _v1_mount(root, mount_name, "memory")
        if v1_mount:
            limit = _smallest(parse_memory_limit_in_bytes(read_text(os.path.join(cg, "memory.limit_in_bytes")),
                                                          host_total)
                              for cg in cgroup_dirs(v1_mount, path))
            found.append((limit, "cgroup_v1"))
    found = [item for item in found if item[0] is not None]
    return min(found) if found else (None, None)


def affinity_cpus(pid=0):
    """CPUs process `pid` (0: this one) may run on (taskset, cpuset), or None where the OS cannot
    tell or the process is gone."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    try:
        return len(os.sched_getaffinity(pid))
    except OSError:
        return None


# -- systemd's view of a unit and its slices ---------------------------------------------------

SYSTEMD_PROPERTIES = ("CPUQuotaPerSecUSec", "AllowedCPUs", "MemoryMax", "MemoryHigh", "Slice", "MainPID")
_TIMESPAN_UNITS = (("min", 60.0), ("ms", 1e-3), ("us", 1e-6), ("s", 1.0))
ROOT_SLICE = "-.slice"


def parse_systemd_cpu_quota(text):
    """CPUQuotaPerSecUSec ("1.500000s", "500ms", "2s 500ms") as CPUs, None for infinity or empty."""
    text = (text or "").strip()
    if not text or text == "infinity":
        return None
    seconds = 0.0
    for part in text.split():
        for suffix, factor in _TIMESPAN_UNITS:
            if part.endswith(suffix):
                try:
                    seconds += float(part[:-len(suffix)]) * factor
                except ValueError:
                    return None
                break
        else:
            return None
    return seconds if seconds > 0 else None


def parse_systemd_bytes(text):
    """MemoryMax= / MemoryHigh= as shown by systemctl (bytes or "infinity"), None when unlimited."""
    text = (text or "").strip()
    if not text.isdigit():
        return None
    value = int(text)
    return value if 0 < value < V1_MEMORY_UNLIMITED_FLOOR else None


def parse_cpu_list(text):
    """Number of CPUs in a list such as "0-3,6" (AllowedCPUs=, cpuset), None when empty or garbage."""
    count = 0
    for part in (text or "").replace(" ", ",").split(","):
        if not part:
            continue
        first, _sep, last = part.partition("-")
        try:
            low, high = int(first), int(last or first)
        except ValueError:
            return None
        if high < low:
            return None
        count += high - low + 1
    return count or None


def systemd_chain(show, unit, max_depth=8):
    """[(name, properties)] of `unit` and each slice above it, from systemctl show.

    `show(name)` returns the SYSTEMD_PROPERTIES of a unit as a dict (the module runs systemctl).
    """
    chain, name = [], unit
    while name and len(chain) < max_depth and name not in [entry[0] for entry in chain]:
        properties = show(name)
        chain.append((name, properties))
        if name == ROOT_SLICE:
            break
        name = properties.get("Slice") or (ROOT_SLICE if name.endswith(".slice") else None)
    return chain


def systemd_limits(chain):
    """The tightest limit of each kind over a unit and its slices: {kind: (value, unit) or (None, None)}."""
    parsers = {"cpu_quota": ("CPUQuotaPerSecUSec", parse_systemd_cpu_quota),
               "allowed_cpus": ("AllowedCPUs", parse_cpu_list),
               "memory_max": ("MemoryMax", parse_systemd_bytes),
               "memory_high": ("MemoryHigh", parse_systemd_bytes)}
    limits = {}
    for kind, (prop, parse) in parsers.items():
        found = [(parse(properties.get(prop)), name) for name, properties in chain]
        found = [item for item in found if item[0] is not None]
        limits[kind] = min(found) if found else (None, None)
    return limits


def _proc_cgroup_text(proc_cgroup_text):
    if proc_cgroup_text is None:
        return read_text(PROC_SELF_CGROUP) or ""
    return proc_cgroup_text


def cpu_facts(root=DEFAULT_CGROUP_ROOT, proc_cgroup_text=None, logical=None, affinity=None, systemd=None):
    """Effective CPUs = min(logical, affinity, cgroup quota, systemd's quota and AllowedCPUs of the
    unit and its slices), with the source of the minimum."""
    logical = logical if logical is not None else (os.cpu_count() or 1)
    affinity = affinity if affinity is not None else affinity_cpus()
    quota, quota_source = cgroup_cpu_quota(root, _proc_cgroup_text(proc_cgroup_text))
    systemd = systemd or {}
    systemd_quota, quota_unit = systemd.get("cpu_quota") or (None, None)
    allowed, allowed_unit = systemd.get("allowed_cpus") or (None, None)
    effective, source = float(logical), "host"
    for value, name in ((affinity, "affinity"), (quota, quota_source), (systemd_quota, "systemd"),
                        (allowed, "systemd")):
        if value is not None and value < effective:
            effective, source = float(value), name
    return {
        "logical": logical,
        "affinity": affinity,
        "cgroup_quota": quota,
        "systemd_quota": systemd_quota,
        "systemd_quota_unit": quota_unit,
        "allowed_cpus": allowed,
        "allowed_cpus_unit": allowed_unit,
        "effective": effective,
        "source": source,
    }


def host_memory():
    """(total, available, swap total) bytes from psutil."""
    virtual = psutil.virtual_memory()
    return virtual.total, virtual.available, psutil.swap_memory().total


def memory_facts(total, available, swap_total, root=DEFAULT_CGROUP_ROOT, proc_cgroup_text=None, systemd=None):
    """Effective memory = min(host total, cgroup limit, systemd's MemoryMax= and MemoryHigh= of the
    unit and its slices: above MemoryHigh the kernel throttles); available is capped at it."""
    limit, limit_source = cgroup_memory_limit(root, _proc_cgroup_text(proc_cgroup_text), total)
    systemd = systemd or {}
    memory_max, max_unit = systemd.get("memory_max") or (None, None)
    memory_high, high_unit = systemd.get("memory_high") or (None, None)
    effective, source = total, "host"
    for value, name in ((limit, limit_source), (memory_max, "systemd"), (memory_high, "systemd")):
        if value is not None and value < effective:
            effective, source = value, name
    return {
        "total_bytes": total,
        "available_bytes": min(available, effective),
        "swap_total_bytes": swap_total,
        "cgroup_limit_bytes": limit,
        "systemd_max_bytes": memory_max,
        "systemd_max_unit": max_unit,
        "systemd_high_bytes": memory_high,
        "systemd_high_unit": high_unit,
        "effective_bytes": effective,
        "source": source,
    }
