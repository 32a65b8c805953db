# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet report's filters: rows from the gunicorn_facts of many hosts, and their Markdown table. Each
filter's documentation is in gunicorn_report_*.yml next to this file."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.djangoops.gunicorn.plugins.module_utils.sizing import LIMIT_ORDER
from ansible_collections.djangoops.gunicorn.plugins.plugin_utils.markdown import cell, format_bytes, plural

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


# -- Markdown --------------------------------------------------------------------------------

HEADER = ("Host", "CPU (source)", "Memory (source)", "Running instances", "Recommended", "Bound by",
          "Current vs recommended", "Warnings")


def instance_text(instance):
    text = "%s: %s x %s, %d running" % (
        instance["name"], plural(instance["workers"], "%s worker" % instance["worker_class"]),
        plural(instance["threads"], "thread"), instance["running_workers"])
    if instance.get("worker_memory_bytes") is not None:
        text += ", %s/worker %s" % (format_bytes(instance["worker_memory_bytes"]), instance.get("memory_metric"))
    if instance.get("sized"):
        text += " (sized)"
    return text


def recommendation_text(recommendation):
    return "%s x %s, %s/worker %s" % (
        plural(recommendation["workers"], "%s worker" % recommendation["worker_class"]),
        plural(recommendation["threads"], "thread"),
        format_bytes(recommendation["per_worker_memory_bytes"]), recommendation["per_worker_memory_source"])


def bound_text(recommendation):
    limits = recommendation.get("limits") or {}
    known = ["%s %s" % (name, limits[name]) for name in LIMIT_ORDER if limits.get(name) is not None]
    text = str(recommendation["bound_by"])
    return "%s (%s)" % (text, ", ".join(known)) if known else text


def row_cells(row):
    if row.get("status") != "ok":
        return (row["host"], "?", "?", "?", row.get("status", "?"), "-", row.get("difference", "-"), "-")
    cpu, memory, recommendation = row["cpu"], row["memory"], row["recommendation"]
    return (
        row["host"],
        "%g (%s)" % (cpu["effective"], cpu["source"]),
        "%s (%s)" % (format_bytes(memory["effective_bytes"]), memory["source"]),
        [instance_text(instance) for instance in row["instances"]] or "none",
        recommendation_text(recommendation),
        bound_text(recommendation),
        row["difference"],
        "; ".join(row.get("warnings") or []) or "-",
    )


def gunicorn_report_markdown(rows):
    if not isinstance(rows, (list, tuple)) or not all(isinstance(row, Mapping) for row in rows):
        raise AnsibleFilterError("gunicorn_report_markdown: input must be the list of rows of gunicorn_report_rows")
    lines = ["| %s |" % " | ".join(HEADER), "| %s |" % " | ".join(["---"] * len(HEADER))]
    for row in rows:
        try:
            cells = row_cells(row)
        except (KeyError, TypeError) as exc:
            raise AnsibleFilterError("gunicorn_report_markdown: row of host %s is not a gunicorn_report_rows "
                                     "row (missing %s)" % (row.get("host", "?"), exc))
        lines.append("| %s |" % " | ".join(cell(value, separator="<br>") for value in cells))
    return "\n".join(lines)


class FilterModule:
    def filters(self):
        return {
            "gunicorn_report_rows": gunicorn_report_rows,
            "gunicorn_report_markdown": gunicorn_report_markdown,
        }
