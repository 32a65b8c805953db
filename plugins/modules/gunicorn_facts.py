#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gunicorn_facts
short_description: Measure CPU, memory and running Gunicorn instances, and recommend a worker size
version_added: 0.1.0
description:
  - Reads the effective CPUs (logical CPUs, CPU affinity, cgroup v1 or v2 CPU quota) and the effective
    memory (host RAM, cgroup v1 or v2 memory limit) of the target.
  - Finds running Gunicorn masters and their workers, reads their worker class, workers, threads, bind and
    config file from the command line, C(GUNICORN_CMD_ARGS) or the config file (literal assignments only;
    the file is never executed), and measures their memory (USS, or RSS when USS is not readable).
  - Recommends C(worker_class), C(workers) and C(threads) for one instance from CPU, memory (with reload
    headroom, because a HUP runs old and new workers together), database connections and explicit bounds,
    and explains the result in sentences. See C(docs/sizing.md) in the collection for the model.
  - Read-only; never changes anything on the target.
author: "djangoops.gunicorn contributors (@djangoops)"
requirements:
  - psutil
extends_documentation_fragment:
  - action_common_attributes
  - action_common_attributes.facts
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  facts:
    support: full
  platform:
    platforms: posix
options:
  app:
    description:
      - The instance being sized, as a systemd unit name (V(gunicorn-mysite.service)) or an app name
        (V(mysite) matches units V(mysite.service), V(gunicorn-mysite.service), V(gunicorn@mysite.service),
        V(mysite-gunicorn.service) or a WSGI app V(mysite.wsgi:application)).
      - The measured per-worker memory of that instance drives the memory limit; the memory of every other
        Gunicorn instance counts against the memory budget.
      - When omitted and exactly one instance runs, that instance is sized.
      - The CPU and memory limits are those of this instance's service (its unit's and slices' C(CPUQuota=),
        C(AllowedCPUs=), C(MemoryMax=), C(MemoryHigh=), its master's cgroup and affinity), or of the unit
        named here when it is not running; see RV(ansible_facts.gunicorn.scope).
    type: str
  pidfile:
    description:
      - Path of the Gunicorn pidfile of the instance being sized. Takes precedence over O(app).
    type: path
  expected_worker_memory_mb:
    description:
      - Memory of one worker in MiB, used when no worker of the sized instance runs yet.
    type: int
    default: 300
  memory_reserve_mb:
    description:
      - Memory in MiB kept for the OS and co-located services (nginx, PostgreSQL, Redis, page cache).
    type: int
    default: 512
  reload_headroom:
    description:
      - Factor applied to worker memory and database connections for the reload peak (HUP starts new
        workers before the old ones exit). Must be at least 1.
    type: float
    default: 2.0
  db_max_connections:
    description:
      - The database server's C(max_connections). When given, workers x threads x O(reload_headroom) x
        O(app_hosts) must fit O(db_max_connections) - O(db_reserved_connections).
    type: int
  db_reserved_connections:
    description:
      - Connections the app may not use (PostgreSQL C(superuser_reserved_connections), workers of Celery,
        cron jobs, admin sessions).
    type: int
    default: 3
  app_hosts:
    description:
      - Number of hosts running this app against the same database.
    type: int
    default: 1
  profile:
    description:
      - How requests use the CPU. V(cpu) keeps one slot per CPU plus one (sync), V(mixed) is the classic
        2 x CPUs + 1 sync workers, V(io) serves mostly-waiting requests with gthread threads
        (10 x CPUs + 1 slots).
    type: str
    choices: [cpu, mixed, io]
    default: mixed
  cpu_busy_fraction:
    description:
      - Fraction of a request's time spent on the CPU, greater than 0 and at most 1. Overrides O(profile)
        (V(cpu) is 1.0, V(mixed) 0.5, V(io) 0.1). Targets floor(CPUs / fraction) + 1 slots; below 0.5
        the slots are gthread threads.
    type: float
  min_workers:
    description:
      - Lower bound on the recommended workers; wins over the limits, with a warning.
    type: int
  max_workers:
    description:
      - Upper bound on the recommended workers.
    type: int
  max_threads:
    description:
      - Upper bound on the recommended threads per gthread worker.
    type: int
    default: 8
  workers:
    description:
      - Workers chosen by the user. Always used as given; a warning names every limit it breaks.
    type: int
  threads:
    description:
      - Threads per worker chosen by the user. Always used as given, with warnings like O(workers).
    type: int
  worker_class:
    description:
      - Worker class chosen by the user (V(sync), V(gthread), V(gevent), V(uvicorn.workers.UvicornWorker)...).
        Always used as given.
    type: str
  cgroup_root:
    description:
      - Mount point of the cgroup file systems.
    type: path
    default: /sys/fs/cgroup
notes:
  - Memory is measured as USS (private memory) when the module can read C(/proc/<pid>/smaps) of the
    Gunicorn processes (same user or root, so use become), else as RSS, which counts shared pages in
    every worker and so overestimates.
  - Settings a config file computes (C(workers = cpu_count() * 2 + 1)) are not read; they are listed in
    the instance's RV(ansible_facts.gunicorn.instances[].notes).
seealso:
  - name: Gunicorn settings
    description: Gunicorn's documentation of workers, threads and worker_class.
    link: https://docs.gunicorn.org/en/stable/settings.html
"""

EXAMPLES = r"""
- name: Gather Gunicorn facts for the mysite instance
  djangoops.gunicorn.gunicorn_facts:
    app: mysite
  become: true

- name: Size a fleet of 20 app servers sharing one PostgreSQL
  djangoops.gunicorn.gunicorn_facts:
    app: gunicorn-mysite.service
    profile: io
    db_max_connections: 400
    app_hosts: "{{ groups['app'] | length }}"
    memory_reserve_mb: 1024
  become: true

- name: Write the recommended size into the Gunicorn config
  ansible.builtin.template:
    src: gunicorn.conf.py.j2
    dest: /etc/mysite/gunicorn.conf.py
    mode: "0644"
  vars:
    workers: "{{ ansible_facts.gunicorn.recommendation.workers }}"
    threads: "{{ ansible_facts.gunicorn.recommendation.threads }}"
    worker_class: "{{ ansible_facts.gunicorn.recommendation.worker_class }}"

- name: Show why
  ansible.builtin.debug:
    msg: "{{ ansible_facts.gunicorn.recommendation.reasons + ansible_facts.gunicorn.recommendation.warnings }}"
"""

RETURN = r"""
psutil_missing:
  description:
    - True when the module failed because psutil cannot be imported by the target's Python, so
      that a playbook can install it and run the module again (the role does).
  returned: failure, when psutil is missing
  type: bool
  sample: true
ansible_facts:
  description: Facts to add to ansible_facts.
  returned: always
  type: dict
  contains:
    gunicorn:
      description: CPU, memory, Gunicorn instances and the sizing recommendation.
      returned: always
      type: dict
      contains:
        cpu:
          description: Effective CPUs of the target.
          returned: always
          type: dict
          sample:
            logical: 64
            affinity: 64
            cgroup_quota: 2.0
            effective: 2.0
            source: cgroup_v2
          contains:
            logical:
              description: Logical CPUs of the host.
              type: int
              returned: always
            affinity:
              description: CPUs this process may run on (CPU affinity, cpuset); null where unknown.
              type: int
              returned: always
            cgroup_quota:
              description: Tightest cgroup CPU quota in CPUs (may be fractional) of the cgroup read (see
                RV(ansible_facts.gunicorn.scope)) and its ancestors; null when unlimited.
              type: float
              returned: always
            systemd_quota:
              description: Tightest C(CPUQuota=) of the service's unit and its slices, in CPUs; null when
                none is set or no unit is known.
              type: float
              returned: always
            systemd_quota_unit:
              description: The unit or slice that sets RV(ansible_facts.gunicorn.cpu.systemd_quota).
              type: str
              returned: always
            allowed_cpus:
              description: Fewest CPUs in C(AllowedCPUs=) of the service's unit and its slices; null when unset.
              type: int
              returned: always
            allowed_cpus_unit:
              description: The unit or slice that sets RV(ansible_facts.gunicorn.cpu.allowed_cpus).
              type: str
              returned: always
            effective:
              description: The smallest of the logical CPUs, the affinity, the cgroup quota and systemd's
                quota and C(AllowedCPUs=).
              type: float
              returned: always
            source:
              description: Which value is the effective one.
              type: str
              returned: always
              choices: [host, affinity, cgroup_v1, cgroup_v2, systemd]
        memory:
          description: Effective memory of the target.
          returned: always
          type: dict
          sample:
            total_bytes: 8589934592
            available_bytes: 6442450944
            swap_total_bytes: 0
            cgroup_limit_bytes: null
            effective_bytes: 8589934592
            source: host
          contains:
            total_bytes:
              description: Host RAM.
              type: int
              returned: always
            available_bytes:
              description: Host available memory, capped at the effective memory.
              type: int
              returned: always
            swap_total_bytes:
              description: Host swap.
              type: int
              returned: always
            cgroup_limit_bytes:
              description: Tightest cgroup memory limit; null when unlimited or not below the host RAM.
              type: int
              returned: always
            systemd_max_bytes:
              description: Tightest C(MemoryMax=) of the service's unit and its slices; null when unset.
              type: int
              returned: always
            systemd_max_unit:
              description: The unit or slice that sets RV(ansible_facts.gunicorn.memory.systemd_max_bytes).
              type: str
              returned: always
            systemd_high_bytes:
              description: Tightest C(MemoryHigh=) (where the kernel starts to throttle) of the service's unit
                and its slices; null when unset.
              type: int
              returned: always
            systemd_high_unit:
              description: The unit or slice that sets RV(ansible_facts.gunicorn.memory.systemd_high_bytes).
              type: str
              returned: always
            effective_bytes:
              description: The smallest of the host RAM, the cgroup limit and systemd's C(MemoryMax=) and
                C(MemoryHigh=).
              type: int
              returned: always
            source:
              description: Which value is the effective one.
              type: str
              returned: always
              choices: [host, cgroup_v1, cgroup_v2, systemd]
        scope:
          description:
            - Whose limits were read. The service being sized (the instance matched by O(app) or
              O(pidfile)) - its unit and slices as systemd reports them, its master's cgroup and CPU
              affinity. Only when no service is known does the module read its own process's, which
              over SSH is a user session's, not the service's.
          returned: always
          type: dict
          sample:
            kind: service
            unit: gunicorn-mysite.service
            pid: 4242
            slices: [system.slice, "-.slice"]
            cgroup_v2: /system.slice/gunicorn-mysite.service
            cgroup_v1_cpu: null
            cgroup_v1_memory: null
          contains:
            kind:
              description: C(service) (a running service), C(unit) (a known unit that is not running - its
                systemd limits apply, the cgroup is read from the module's own process) or C(self) (no
                service known).
              type: str
              returned: always
              choices: [service, unit, self]
            unit:
              description: The service's unit; null for C(self).
              type: str
              returned: always
            pid:
              description: The process whose cgroup and affinity were read (the master), or the module's own.
              type: int
              returned: always
            slices:
              description: The slices above the unit, innermost first.
              type: list
              elements: str
              returned: always
            cgroup_v2:
              description: Path of the cgroup read in the unified hierarchy, null where there is none.
              type: str
              returned: always
            cgroup_v1_cpu:
              description: Path of the cgroup read in the v1 cpu hierarchy, null where there is none.
              type: str
              returned: always
            cgroup_v1_memory:
              description: Path of the cgroup read in the v1 memory hierarchy, null where there is none.
              type: str
              returned: always
        instances:
          description: Running Gunicorn instances, by master PID.
          returned: always
          type: list
          elements: dict
          sample:
            - master_pid: 812
              worker_pids: [815, 816, 817]
              unit: gunicorn-mysite.service
              wsgi_app: mysite.wsgi:application
              config: /etc/mysite/gunicorn.conf.py
              pidfile: null
              worker_class: sync
              workers: 3
              threads: 1
              bind: ["unix:/run/mysite/gunicorn.sock"]
              settings_source: {worker_class: default, workers: config, threads: default, bind: config}
              sized: true
              notes: []
              memory:
                metric: uss
                master_bytes: 27262976
                worker_mean_bytes: 30408704
                worker_max_bytes: 31457280
                workers_total_bytes: 91226112
                total_bytes: 118489088
                pss_total_bytes: 140509184
          contains:
            master_pid:
              description: PID of the master.
              type: int
              returned: always
            worker_pids:
              description: PIDs of the running workers (children of the master).
              type: list
              elements: int
              returned: always
            unit:
              description: The systemd service the master runs in, null when none.
              type: str
              returned: always
            wsgi_app:
              description: The WSGI app argument, null when not found.
              type: str
              returned: always
            config:
              description: Absolute path of the config file read, null when none.
              type: str
              returned: always
            pidfile:
              description: The pidfile setting, null when unset.
              type: str
              returned: always
            worker_class:
              description: Worker class (V(sync) with threads > 1 reported as V(gthread), as Gunicorn runs it).
              type: str
              returned: always
            workers:
              description: Configured number of workers.
              type: int
              returned: always
            threads:
              description: Configured threads per worker.
              type: int
              returned: always
            bind:
              description: Configured listen addresses.
              type: list
              elements: str
              returned: always
            settings_source:
              description: Where each of worker_class, workers, threads and bind came from
                (V(cmdline), V(env), V(config) or V(default)).
              type: dict
              returned: always
            sized:
              description: Whether this is the instance the recommendation is for.
              type: bool
              returned: always
            notes:
              description: Settings that could not be read and why.
              type: list
              elements: str
              returned: always
            memory:
              description:
                - Memory of the instance in bytes, all in one metric, plus the PSS total where readable.
                - Keys are metric (V(uss) or V(rss)), master_bytes, worker_mean_bytes, worker_max_bytes,
                  workers_total_bytes, total_bytes and pss_total_bytes.
              type: dict
              returned: always
        recommendation:
          description: The recommended size of the sized instance and why.
          returned: always
          type: dict
          sample:
            worker_class: sync
            workers: 3
            threads: 1
            slots: 3
            bound_by: memory
            limits: {cpu: 5, memory: 3, database: 12, explicit_max: null}
            limit_reasons:
              cpu: "CPU allows 5 sync workers x 1 thread: 2 effective CPUs at busy fraction 0.5 (profile mixed) target
                5 concurrent slots"
              memory: "memory allows 3 workers at 310 MB each with 2x reload headroom (budget 2560 MB = 3072 MB
                effective - 512 MB reserve - 0 MB other Gunicorn instances)"
              database: "database allows 12 workers x 1 thread: 12 connections per host = (51 max - 3 reserved) /
                (2x reload headroom x 2 app hosts)"
              explicit_max: null
            busy_fraction: 0.5
            cpu_slot_target: 5
            per_worker_memory_bytes: 325058560
            per_worker_memory_source: measured
            other_instances_memory_bytes: 0
            reload_headroom: 2.0
            reasons:
              - "3 sync workers x 1 thread (3 slots), bound by memory"
              - "memory allows 3 workers at 310 MB each with 2x reload headroom (budget 2560 MB = 3072 MB
                effective - 512 MB reserve - 0 MB other Gunicorn instances); CPU alone would allow 5"
            warnings: []
          contains:
            worker_class:
              description: Worker class to use.
              type: str
              returned: always
            workers:
              description: Workers to use, at least 1.
              type: int
              returned: always
            threads:
              description: Threads per worker (1 for sync).
              type: int
              returned: always
            slots:
              description: Concurrent requests, workers x threads.
              type: int
              returned: always
            bound_by:
              description:
                - The constraint that set RV(ansible_facts.gunicorn.recommendation.workers).
                - V(explicit) means O(workers) was given; V(explicit_min) means O(min_workers) raised it.
              type: str
              returned: always
              choices: [cpu, memory, database, explicit_max, explicit_min, explicit]
            limits:
              description:
                - Most workers each constraint allows at the recommended threads per worker, null when it does
                  not apply. A 0 means not even one worker fits; the recommendation still uses 1 and warns.
                - Keys are cpu, memory, database and explicit_max.
              type: dict
              returned: always
            limit_reasons:
              description:
                - The sentence of each limit in RV(ansible_facts.gunicorn.recommendation.limits), by the same keys;
                  null where the limit does not apply. RV(ansible_facts.gunicorn.recommendation.reasons) lists the
                  same sentences, the binding one first.
              type: dict
              returned: always
              version_added: 0.1.0
            busy_fraction:
              description: CPU busy fraction used (from O(cpu_busy_fraction) or O(profile)).
              type: float
              returned: always
            cpu_slot_target:
              description: Concurrent slots the CPU model targets, floor(effective CPUs / busy fraction) + 1.
              type: int
              returned: always
            per_worker_memory_bytes:
              description: Memory of one worker used for the memory limit.
              type: int
              returned: always
            per_worker_memory_source:
              description: V(measured) (largest running worker of the sized instance) or V(expected)
                (O(expected_worker_memory_mb)).
              type: str
              returned: always
              choices: [measured, expected]
            other_instances_memory_bytes:
              description: Memory of the other Gunicorn instances, counted against the budget.
              type: int
              returned: always
            reload_headroom:
              description: The reload headroom the recommendation used (O(reload_headroom)).
              type: float
              returned: always
            reasons:
              description: Sentences explaining the result; the first is the summary, the second the binding limit.
              type: list
              elements: str
              returned: always
            warnings:
              description: Limits the result breaks (explicit values win) and inconsistent settings.
              type: list
              elements: str
              returned: always
"""

import os
import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.djangoops.gunicorn.plugins.module_utils import gunicorn_procs, host_limits, sizing

PSUTIL_HINT = "psutil is required on the target: pip install psutil / apt install python3-psutil"


def argument_spec():
    return dict(
        app=dict(type="str"),
        pidfile=dict(type="path"),
        expected_worker_memory_mb=dict(type="int", default=sizing.DEFAULT_WORKER_MEMORY_MB),
        memory_reserve_mb=dict(type="int", default=sizing.DEFAULT_MEMORY_RESERVE_MB),
        reload_headroom=dict(type="float", default=sizing.DEFAULT_RELOAD_HEADROOM),
        db_max_connections=dict(type="int"),
        db_reserved_connections=dict(type="int", default=sizing.DEFAULT_DB_RESERVED_CONNECTIONS),
        app_hosts=dict(type="int", default=1),
        profile=dict(type="str", choices=sorted(sizing.PROFILE_BUSY_FRACTION), default=sizing.DEFAULT_PROFILE),
        cpu_busy_fraction=dict(type="float"),
        min_workers=dict(type="int"),
        max_workers=dict(type="int"),
        max_threads=dict(type="int", default=sizing.DEFAULT_MAX_THREADS),
        workers=dict(type="int"),
        threads=dict(type="int"),
        worker_class=dict(type="str"),
        cgroup_root=dict(type="path", default=host_limits.DEFAULT_CGROUP_ROOT),
    )


def select_instance(instances, pidfile_pid, params, warnings):
    """The instance being sized, or None; warnings explain when none or several match."""
    if params["pidfile"]:
        for instance in instances:
            if instance["master_pid"] == pidfile_pid:
                return instance
        warnings.append("no running Gunicorn master found from pidfile %s" % params["pidfile"])
        return None
    if params["app"]:
        matches = gunicorn_procs.match_instances(instances, params["app"])
        if len(matches) > 1:
            warnings.append("%d Gunicorn instances match app %s; sizing master %d" % (
                len(matches), params["app"], matches[0]["master_pid"]))
        if not matches:
            warnings.append("no running Gunicorn instance matches app %s" % params["app"])
        return matches[0] if matches else None
    if len(instances) > 1:
        warnings.append("%d Gunicorn instances run and app is not set: all count against the memory budget"
                        % len(instances))
    return instances[0] if len(instances) == 1 else None


def systemctl_show(module, unit):
    """The properties host_limits reads of a unit, or {} where systemctl cannot tell."""
    args = ["systemctl", "show", unit]
    for prop in host_limits.SYSTEMD_PROPERTIES:
        args.extend(["--property", prop])
    rc, out, _err = module.run_command(args)
    if rc != 0:
        return {}
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def limits_scope(module, params, target):
    """Whose limits size the workers: the service's (its unit's and slices' systemd limits, its master's
    cgroup and affinity), or this module's own process where no service is known (over SSH that is a
    user session, whose limits are not the service's)."""
    unit = (target or {}).get("unit")
    if not unit and params["app"] and params["app"].endswith(".service"):
        unit = params["app"]
    scope = {"kind": "self", "unit": None, "pid": os.getpid(), "slices": [], "systemd": {}}
    if unit and module.get_bin_path("systemctl"):
        chain = host_limits.systemd_chain(lambda name: systemctl_show(module, name), unit)
        if chain and chain[0][1]:
            main_pid = int(chain[0][1].get("MainPID") or 0)
            pid = target["master_pid"] if target else main_pid
            scope.update(kind="service" if pid else "unit", unit=unit, pid=pid or None,
                         slices=[name for name, _properties in chain[1:]],
                         systemd=host_limits.systemd_limits(chain))
    pid = scope["pid"] if scope["kind"] != "unit" else None
    text = host_limits.read_text("/proc/%d/cgroup" % pid) if pid else None
    if text is None:
        # The unit is not running: its systemd limits apply, and the cgroup is read from here.
        text = host_limits.read_text(host_limits.PROC_SELF_CGROUP) or ""
        pid = None
    scope["proc_cgroup_text"] = text
    scope["affinity"] = host_limits.affinity_cpus(pid or 0)
    scope["cgroup"] = host_limits.parse_proc_cgroup(text)
    return scope


def public_scope(scope):
    cgroup = scope["cgroup"]
    return {"kind": scope["kind"], "unit": scope["unit"], "pid": scope["pid"], "slices": scope["slices"],
            "cgroup_v2": cgroup["v2"], "cgroup_v1_cpu": (cgroup["v1"].get("cpu") or (None, None))[1],
            "cgroup_v1_memory": (cgroup["v1"].get("memory") or (None, None))[1]}


def check_params(params):
    """Checks of options sizing.recommend() does not see in this form (it checks the rest)."""
    if params["expected_worker_memory_mb"] < 1:
        return "expected_worker_memory_mb must be at least 1"
    if params["memory_reserve_mb"] < 0:
        return "memory_reserve_mb must not be negative"
    return None


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    if not (host_limits.HAS_PSUTIL and gunicorn_procs.HAS_PSUTIL):
        module.fail_json(msg=missing_required_lib("psutil", reason=PSUTIL_HINT),
                         exception=host_limits.PSUTIL_IMPORT_ERROR, psutil_missing=True)
    params = module.params
    error = check_params(params)
    if error:
        module.fail_json(msg=error)

    instances, pidfile_pid = gunicorn_procs.discover_instances(params["pidfile"])
    selection_warnings = []
    target = select_instance(instances, pidfile_pid, params, selection_warnings)
    scope = limits_scope(module, params, target)
    cpu = host_limits.cpu_facts(root=params["cgroup_root"], proc_cgroup_text=scope["proc_cgroup_text"],
                                affinity=scope["affinity"], systemd=scope["systemd"])
    total, available, swap_total = host_limits.host_memory()
    memory = host_limits.memory_facts(total, available, swap_total, root=params["cgroup_root"],
                                      proc_cgroup_text=scope["proc_cgroup_text"], systemd=scope["systemd"])
    for instance in instances:
        instance["sized"] = instance is target
    measured = target["memory"]["worker_max_bytes"] if target else None
    per_worker = measured or params["expected_worker_memory_mb"] * sizing.MIB
    others = sum(instance["memory"]["total_bytes"] for instance in instances if instance is not target)

    try:
        recommendation = sizing.recommend(
            cpu["effective"], memory["effective_bytes"], per_worker_memory_bytes=per_worker,
            memory_reserve_bytes=params["memory_reserve_mb"] * sizing.MIB, other_instances_memory_bytes=others,
            reload_headroom=params["reload_headroom"], db_max_connections=params["db_max_connections"],
            db_reserved_connections=params["db_reserved_connections"], app_hosts=params["app_hosts"],
            profile=params["profile"], cpu_busy_fraction=params["cpu_busy_fraction"],
            min_workers=params["min_workers"], max_workers=params["max_workers"],
            max_threads=params["max_threads"], workers=params["workers"], threads=params["threads"],
            worker_class=params["worker_class"])
    except ValueError as exc:
        module.fail_json(msg=str(exc), exception=traceback.format_exc())

    recommendation.update(
        per_worker_memory_bytes=per_worker,
        per_worker_memory_source="measured" if measured else "expected",
        other_instances_memory_bytes=others,
        reload_headroom=params["reload_headroom"],
    )
    recommendation["warnings"] = selection_warnings + recommendation["warnings"]
    for warning in recommendation["warnings"]:
        module.warn(warning)
    module.exit_json(changed=False, ansible_facts={"gunicorn": {
        "cpu": cpu, "memory": memory, "scope": public_scope(scope), "instances": instances,
        "recommendation": recommendation}})


if __name__ == "__main__":
    main()
