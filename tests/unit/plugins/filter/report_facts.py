# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ansible_facts.gunicorn of hosts for the report filter tests, shaped as gunicorn_facts returns them."""

from __future__ import annotations

from ansible_collections.djangoops.gunicorn.plugins.module_utils.sizing import MIB, recommend
from ansible_collections.djangoops.gunicorn.plugins.plugin_utils.markdown import GIB


def instance(master_pid=100, unit="gunicorn-mysite.service", wsgi_app="mysite.wsgi:application", workers=2,
             threads=1, worker_class="sync", worker_bytes=(30 * MIB, 32 * MIB), sized=True, metric="uss"):
    """One entry of ansible_facts.gunicorn.instances, as gunicorn_facts returns it."""
    return {
        "master_pid": master_pid, "worker_pids": [master_pid + 1 + index for index in range(len(worker_bytes))],
        "unit": unit, "wsgi_app": wsgi_app, "config": "/etc/gunicorn/mysite/gunicorn.conf.py", "pidfile": None,
        "worker_class": worker_class, "workers": workers, "threads": threads, "bind": ["127.0.0.1:8000"],
        "settings_source": {"worker_class": "config", "workers": "config", "threads": "config", "bind": "config"},
        "sized": sized, "notes": [],
        "memory": {"metric": metric, "master_bytes": 26 * MIB,
                   "worker_mean_bytes": int(sum(worker_bytes) / len(worker_bytes)) if worker_bytes else None,
                   "worker_max_bytes": max(worker_bytes) if worker_bytes else None,
                   "workers_total_bytes": sum(worker_bytes), "total_bytes": 26 * MIB + sum(worker_bytes),
                   "pss_total_bytes": None},
    }


def gunicorn_facts(cpus=1.5, memory=GIB, instances=(), cpu_source="cgroup_v1", memory_source="cgroup_v1",
                   **options):
    """ansible_facts.gunicorn for a host: the recommendation comes from the real sizing function."""
    instances = list(instances)
    sized = next((item for item in instances if item["sized"]), None)
    per_worker = sized["memory"]["worker_max_bytes"] if sized else 300 * MIB
    others = sum(item["memory"]["total_bytes"] for item in instances if item is not sized)
    recommendation = recommend(cpus, memory, per_worker_memory_bytes=per_worker,
                               other_instances_memory_bytes=others, **options)
    recommendation.update(per_worker_memory_bytes=per_worker,
                          per_worker_memory_source="measured" if sized else "expected",
                          other_instances_memory_bytes=others)
    return {
        "cpu": {"logical": 2, "affinity": 2, "cgroup_quota": cpus if cpu_source.startswith("cgroup") else None,
                "effective": cpus, "source": cpu_source},
        "memory": {"total_bytes": 24 * GIB, "available_bytes": memory, "swap_total_bytes": 0,
                   "cgroup_limit_bytes": memory if memory_source.startswith("cgroup") else None,
                   "effective_bytes": memory, "source": memory_source},
        "instances": instances,
        "recommendation": recommendation,
    }


def hostvars(**facts_by_host):
    """hostvars as a playbook sees them: every host has ansible_facts, measured hosts have .gunicorn."""
    return {host: {"inventory_hostname": host, "ansible_facts": {"gunicorn": facts} if facts else {}}
            for host, facts in facts_by_host.items()}
