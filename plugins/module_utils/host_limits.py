# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Effective CPU and memory of this process: host, CPU affinity and cgroup v1/v2 limits.

Parsers take file contents and readers take a cgroup mount root, so tests feed them real
files written to a temporary directory. In containers the limits of the cgroup, not the
host's cores and RAM, are the real machine size (gunicorn #2028).
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


def affinity_cpus():
    """CPUs this process may run on (taskset, cpuset), or None where the OS cannot tell."""
    if not hasattr(os, "sched_getaffinity"):
        return None
    try:
        return len(os.sched_getaffinity(0))
    except OSError:
        return None


def _proc_cgroup_text(proc_cgroup_text):
    if proc_cgroup_text is None:
        return read_text(PROC_SELF_CGROUP) or ""
    return proc_cgroup_text


def cpu_facts(root=DEFAULT_CGROUP_ROOT, proc_cgroup_text=None, logical=None, affinity=None):
    """Effective CPUs = min(logical, affinity, cgroup quota), with the source of the minimum."""
    logical = logical if logical is not None else (os.cpu_count() or 1)
    affinity = affinity if affinity is not None else affinity_cpus()
    quota, quota_source = cgroup_cpu_quota(root, _proc_cgroup_text(proc_cgroup_text))
    effective, source = float(logical), "host"
    if affinity is not None and affinity < effective:
        effective, source = float(affinity), "affinity"
    if quota is not None and quota < effective:
        effective, source = quota, quota_source
    return {
        "logical": logical,
        "affinity": affinity,
        "cgroup_quota": quota,
        "effective": effective,
        "source": source,
    }


def host_memory():
    """(total, available, swap total) bytes from psutil."""
    virtual = psutil.virtual_memory()
    return virtual.total, virtual.available, psutil.swap_memory().total


def memory_facts(total, available, swap_total, root=DEFAULT_CGROUP_ROOT, proc_cgroup_text=None):
    """Effective memory = min(host total, cgroup limit); available is capped at the limit."""
    limit, limit_source = cgroup_memory_limit(root, _proc_cgroup_text(proc_cgroup_text), total)
    effective, source = total, "host"
    if limit is not None and limit < total:
        effective, source = limit, limit_source
    return {
        "total_bytes": total,
        "available_bytes": min(available, effective),
        "swap_total_bytes": swap_total,
        "cgroup_limit_bytes": limit,
        "effective_bytes": effective,
        "source": source,
    }
