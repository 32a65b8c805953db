# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn the gunicorn_facts of many hosts into fleet report rows."""

from __future__ import annotations

DOCUMENTATION = r"""
name: gunicorn_report_rows
short_description: Fleet report rows from the gunicorn_facts of many hosts
version_added: 0.1.0
author: djangoops.gunicorn contributors
description:
  - Reads C(ansible_facts.gunicorn), as set by M(djangoops.gunicorn.gunicorn_facts), from the variables of
    each host and returns one row per host with the effective CPU and memory and their source, the running
    Gunicorn instances with their measured memory per worker, the recommendation with the limit that bound
    it, and how the sized instance's current worker class, workers and threads differ from it.
  - A host without these facts (unreachable, failed, or not measured) gets a row with RV(_value[].status)
    V(no facts) and null values, so it still shows up in the report.
  - Rows are plain data (JSON-serialisable); P(djangoops.gunicorn.gunicorn_report_markdown#filter) renders them.
options:
  _input:
    description:
      - Variables of each host by host name, usually C(hostvars).
    type: dict
    required: true
  hosts:
    description:
      - The hosts to report on, in this order, usually C(ansible_play_hosts_all).
      - Defaults to every host of the input, sorted by name.
    type: list
    elements: str
"""

EXAMPLES = r"""
- name: Measure every app server
  djangoops.gunicorn.gunicorn_facts:
    app: mysite
  become: true

- name: Show the fleet report rows
  ansible.builtin.debug:
    msg: "{{ hostvars | djangoops.gunicorn.gunicorn_report_rows(ansible_play_hosts_all) }}"
  run_once: true
"""

RETURN = r"""
_value:
  description: One row per host, in the order of O(hosts).
  type: list
  elements: dict
  contains:
    host:
      description: Inventory host name.
      type: str
    status:
      description: V(ok), or V(no facts) when the host has no C(ansible_facts.gunicorn).
      type: str
    cpu:
      description: Keys C(effective) (CPUs, may be fractional), C(source) (V(host), V(affinity), V(cgroup_v1)
        or V(cgroup_v2)) and C(logical); null without facts.
      type: dict
    memory:
      description: Keys C(effective_bytes), C(source) (V(host), V(cgroup_v1) or V(cgroup_v2)) and
        C(total_bytes); null without facts.
      type: dict
    instances:
      description:
        - Running instances, each with C(name) (systemd unit, else WSGI app, else master PID), C(master_pid),
          C(worker_class), C(workers) (configured), C(threads), C(running_workers),
          C(worker_memory_bytes) (largest worker, the value sizing uses), C(worker_mean_bytes),
          C(memory_metric) (V(uss) or V(rss)) and C(sized).
      type: list
      elements: dict
    sized_instance:
      description: Name of the instance the recommendation is for, null when none runs.
      type: str
    recommendation:
      description: Keys C(worker_class), C(workers), C(threads), C(slots), C(bound_by), C(limits),
        C(per_worker_memory_bytes) and C(per_worker_memory_source); null without facts.
      type: dict
    current:
      description: C(worker_class), C(workers) and C(threads) of the sized instance, null when none runs.
      type: dict
    changes:
      description: Each setting whose current value differs from the recommendation, as C(setting),
        C(current), C(recommended) and, for numbers, C(delta).
      type: list
      elements: dict
    difference:
      description: The changes in one sentence (V(workers 2 -> 4 (+2))), V(matches the recommendation), or
        why there is nothing to compare.
      type: str
    warnings:
      description: The recommendation's warnings (explicit values breaking limits, no matching instance).
      type: list
      elements: str
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

NO_FACTS = "no facts"
COMPARED_SETTINGS = ("worker_class", "workers", "threads")
RECOMMENDATION_KEYS = ("worker_class", "workers", "threads", "slots", "bound_by", "limits",
                       "per_worker_memory_bytes", "per_worker_memory_source")


def host_gunicorn_facts(host_vars):
    """ansible_facts.gunicorn of one host's variables, or None when absent."""
    if not isinstance(host_vars, Mapping):
        return None
    facts = host_vars.get("ansible_facts")
    if not isinstance(facts, Mapping):
        return None
    gunicorn = facts.get("gunicorn")
    return gunicorn if isinstance(gunicorn, Mapping) and gunicorn else None


def instance_name(instance):
    return instance.get("unit") or instance.get("wsgi_app") or "pid %s" % instance.get("master_pid")


def instance_summary(instance):
    memory = instance.get("memory") or {}
    return {
        "name": instance_name(instance),
        "master_pid": instance.get("master_pid"),
        "worker_class": instance.get("worker_class"),
        "workers": instance.get("workers"),
        "threads": instance.get("threads"),
        "running_workers": len(instance.get("worker_pids") or []),
        "worker_memory_bytes": memory.get("worker_max_bytes"),
        "worker_mean_bytes": memory.get("worker_mean_bytes"),
        "memory_metric": memory.get("metric"),
        "sized": bool(instance.get("sized")),
    }


def setting_changes(current, recommendation):
    """Settings of the sized instance that differ from the recommendation."""
    changes = []
    for setting in COMPARED_SETTINGS:
        have, want = current.get(setting), recommendation.get(setting)
        if have == want:
            continue
        change = {"setting": setting, "current": have, "recommended": want}
        if isinstance(have, int) and isinstance(want, int):
            change["delta"] = want - have
        changes.append(change)
    return changes


def describe_changes(changes):
    parts = []
    for change in changes:
        text = "%s %s -> %s" % (change["setting"], change["current"], change["recommended"])
        if "delta" in change:
            text += " (%+d)" % change["delta"]
        parts.append(text)
    return ", ".join(parts)


def report_row(host, facts):
    """One report row for a host from its gunicorn_facts (None when it has none)."""
    if not facts:
        return {"host": host, "status": NO_FACTS, "cpu": None, "memory": None, "instances": [],
                "sized_instance": None, "recommendation": None, "current": None, "changes": [],
                "difference": "no gunicorn_facts for this host (unreachable, failed or not measured)",
                "warnings": []}
    try:
        cpu, memory, recommendation = facts["cpu"], facts["memory"], facts["recommendation"]
        instances = list(facts.get("instances") or [])
        row = {
            "host": host,
            "status": "ok",
            "cpu": {"effective": cpu["effective"], "source": cpu["source"], "logical": cpu.get("logical")},
            "memory": {"effective_bytes": memory["effective_bytes"], "source": memory["source"],
                       "total_bytes": memory.get("total_bytes")},
            "instances": [instance_summary(instance) for instance in instances],
            "recommendation": dict((key, recommendation.get(key)) for key in RECOMMENDATION_KEYS),
            "warnings": list(recommendation.get("warnings") or []),
        }
    except (KeyError, TypeError) as exc:
        raise AnsibleFilterError("gunicorn_report_rows: ansible_facts.gunicorn of host %s is not what "
                                 "gunicorn_facts returns (missing %s)" % (host, exc))
    sized = next((instance for instance in instances if instance.get("sized")), None)
    if sized is None:
        row.update(sized_instance=None, current=None, changes=[],
                   difference="no running instance to compare (%d running, none sized)" % len(instances))
        return row
    current = dict((setting, sized.get(setting)) for setting in COMPARED_SETTINGS)
    changes = setting_changes(current, recommendation)
    row.update(sized_instance=instance_name(sized), current=current, changes=changes,
               difference=describe_changes(changes) or "matches the recommendation")
    return row


def gunicorn_report_rows(host_vars, hosts=None):
    if not isinstance(host_vars, Mapping):
        raise AnsibleFilterError("gunicorn_report_rows: input must be a mapping of host name to host "
                                 "variables (hostvars), got %s" % type(host_vars).__name__)
    if hosts is None:
        hosts = sorted(host_vars)
    elif isinstance(hosts, str) or not all(isinstance(host, str) for host in hosts):
        raise AnsibleFilterError("gunicorn_report_rows: hosts must be a list of host names")
    return [report_row(host, host_gunicorn_facts(host_vars.get(host))) for host in hosts]


class FilterModule:
    def filters(self):
        return {"gunicorn_report_rows": gunicorn_report_rows}
