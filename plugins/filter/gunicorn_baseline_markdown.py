# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render a host's baseline record as Markdown, next to an earlier one when given."""

from __future__ import annotations

DOCUMENTATION = r"""
name: gunicorn_baseline_markdown
short_description: Render a host's baseline as a Markdown table, optionally next to an earlier baseline
version_added: 0.1.0
author: djangoops.gunicorn contributors
description:
  - Renders a record of P(djangoops.gunicorn.gunicorn_baseline#filter) as a Markdown table with one line per
    metric (CPU, load, CPU busy and iowait, memory, swap, each Gunicorn instance with its workers and memory per
    worker, the sizing recommendation, each listening socket with its accept queue, database connections and the
    journal counts), then the last notable journal lines.
  - With O(before), an earlier record of the same host, the table has a C(Before) and a C(Now) column, so a
    change can be judged on the same metrics.
  - Memory is shown in MiB, or in GiB with one decimal from 1 GiB up. C(|) in values is escaped.
options:
  _input:
    description: The record from P(djangoops.gunicorn.gunicorn_baseline#filter).
    type: dict
    required: true
  before:
    description: An earlier record of the same host (for example read back from an earlier baseline's JSON file).
    type: dict
"""

EXAMPLES = r"""
- name: Write the baseline of the host as Markdown
  ansible.builtin.copy:
    content: "{{ baseline_record | djangoops.gunicorn.gunicorn_baseline_markdown(before=previous_record) }}\n"
    dest: "/tmp/baseline/{{ inventory_hostname }}.md"
    mode: "0644"
  delegate_to: localhost
"""

RETURN = r"""
_value:
  description: A title, the table and the notable journal lines, lines separated by newlines, no trailing newline.
  type: string
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible_collections.djangoops.gunicorn.plugins.plugin_utils.markdown import cell, format_bytes, plural

JOURNAL_LABELS = (
    ("worker_timeouts", "Worker timeouts (WORKER TIMEOUT)"),
    ("workers_killed", "Workers killed (SIGKILL, out of memory?)"),
    ("worker_errors", "Workers exited with an error"),
    ("boot_failures", "Boot failures (worker or app)"),
    ("service_failures", "Service failures (systemd)"),
    ("worker_boots", "Worker boots (logged at loglevel info)"),
    ("service_reloads", "Service reloads"),
    ("service_starts", "Service starts"),
)


def _g(value):
    return "?" if value is None else "%g" % value


def metric_rows(record):
    """(label, text) per metric, in display order."""
    rows = []
    cpu, memory, swap = record.get("cpu") or {}, record.get("memory") or {}, record.get("swap") or {}
    rows.append(("CPU (effective)", "%s (%s), %s logical" % (
        _g(cpu.get("effective")), cpu.get("source") or "?", _g(cpu.get("logical")))))
    load = cpu.get("load")
    if load:
        text = " / ".join(_g(value) for value in load)
        if cpu.get("load_per_cpu") is not None:
            text += " (%s per CPU)" % _g(cpu["load_per_cpu"])
        rows.append(("Load 1 / 5 / 15 min", text))
    if cpu.get("busy_percent") is not None:
        rows.append(("CPU busy / iowait / steal", "%s%% / %s%% / %s%% over %s s, run queue %s" % (
            _g(cpu["busy_percent"]), _g(cpu.get("iowait_percent")), _g(cpu.get("steal_percent")),
            _g(cpu.get("sample_seconds")), _g(cpu.get("run_queue")))))
    if memory.get("effective_bytes") is not None:
        text = "%s available of %s (%s)" % (format_bytes(memory.get("available_bytes")),
                                            format_bytes(memory["effective_bytes"]), memory.get("source") or "?")
        if memory.get("available_percent") is not None:
            text += ", %s%%" % _g(memory["available_percent"])
        rows.append(("Memory", text))
    if swap.get("total_bytes") is not None:
        text = "%s used of %s" % (format_bytes(swap.get("used_bytes")), format_bytes(swap["total_bytes"]))
        if swap.get("in_kib_per_second") is not None:
            text += ", in %s / out %s KiB/s" % (_g(swap["in_kib_per_second"]), _g(swap.get("out_kib_per_second")))
        rows.append(("Swap", text))
    instances = record.get("instances") or []
    if not instances:
        rows.append(("Gunicorn instances", "none running"))
    for instance in instances:
        text = "%s x %s, %d running" % (
            plural(instance.get("workers"), "%s worker" % instance.get("worker_class")),
            plural(instance.get("threads"), "thread"), instance.get("running_workers") or 0)
        if instance.get("worker_max_bytes") is not None:
            text += "; worker %s %s (largest), %s mean; %s in all" % (
                format_bytes(instance["worker_max_bytes"]), instance.get("memory_metric") or "",
                format_bytes(instance.get("worker_mean_bytes")), format_bytes(instance.get("total_bytes")))
        rows.append(("Instance %s" % instance.get("name"), text))
    recommendation = record.get("recommendation")
    if recommendation:
        rows.append(("Recommended size", "%s x %s (bound by %s)" % (
            plural(recommendation.get("workers"), "%s worker" % recommendation.get("worker_class")),
            plural(recommendation.get("threads"), "thread"), recommendation.get("bound_by"))))
    for listener in record.get("listeners") or []:
        text = "%s, %s queued of %s" % (listener.get("proto"), _g(listener.get("queued")), _g(listener.get("backlog")))
        owner = listener.get("instance") or ", ".join(listener.get("processes") or [])
        if owner:
            text += ", %s" % owner
        rows.append(("Listener %s" % listener.get("address"), text))
    database = record.get("db_connections")
    if database:
        text = _g(database.get("total"))
        if database.get("by_peer"):
            text += " (%s)" % ", ".join("%s: %s" % item for item in sorted(database["by_peer"].items()))
        ports = ", ".join(str(port) for port in database.get("ports") or [])
        rows.append(("Database connections (port %s)" % ports, text))
    journal = record.get("journal")
    if journal:
        since = " since %s" % journal["since"] if journal.get("since") else ""
        counts = journal.get("counts") or {}
        for key, label in JOURNAL_LABELS:
            rows.append(("%s%s" % (label, since), _g(counts.get(key, 0))))
    if record.get("errors"):
        rows.append(("Not captured", "; ".join(record["errors"])))
    return rows


def gunicorn_baseline_markdown(record, before=None):
    if not isinstance(record, Mapping) or "host" not in record:
        raise AnsibleFilterError("gunicorn_baseline_markdown: input must be a gunicorn_baseline record")
    if before is not None and not (isinstance(before, Mapping) and before.get("host") == record["host"]):
        raise AnsibleFilterError("gunicorn_baseline_markdown: before must be an earlier gunicorn_baseline record of "
                                 "host %s" % record["host"])
    try:
        now = metric_rows(record)
        earlier = metric_rows(before) if before is not None else None
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise AnsibleFilterError("gunicorn_baseline_markdown: not a gunicorn_baseline record (%s)" % exc)
    lines = ["# Baseline of %s at %s" % (record["host"], record.get("captured_at") or "?"), ""]
    if earlier is None:
        lines += ["| Metric | Value |", "| --- | --- |"]
        lines += ["| %s | %s |" % (cell(label), cell(text)) for label, text in now]
    else:
        earlier_by_label = dict(earlier)
        now_by_label = dict(now)
        labels = [label for label, text in now] + [label for label, text in earlier if label not in now_by_label]
        lines += ["| Metric | Before (%s) | Now (%s) |" % (
            cell(before.get("captured_at")), cell(record.get("captured_at"))), "| --- | --- | --- |"]
        lines += ["| %s | %s | %s |" % (cell(label), cell(earlier_by_label.get(label)), cell(now_by_label.get(label)))
                  for label in labels]
    notable = (record.get("journal") or {}).get("lines") or []
    if notable:
        lines += ["", "Last notable journal lines:", "", "```"]
        lines += ["%s %s: %s" % (line.get("time") or "?", line.get("unit"), line.get("message")) for line in notable]
        lines.append("```")
    return "\n".join(lines)


class FilterModule:
    def filters(self):
        return {"gunicorn_baseline_markdown": gunicorn_baseline_markdown}
