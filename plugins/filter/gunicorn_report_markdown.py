# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render fleet report rows as a Markdown table."""

from __future__ import annotations

DOCUMENTATION = r"""
name: gunicorn_report_markdown
short_description: Render Gunicorn fleet report rows as a Markdown table
version_added: 0.1.0
author: djangoops.gunicorn contributors
description:
  - Renders the rows of P(djangoops.gunicorn.gunicorn_report_rows#filter) as a Markdown table, one line per
    host, readable as plain text too.
  - "Columns: host; effective CPU and memory with their source; the running instances with configured
    workers x threads, running workers and the measured memory per worker (largest worker, in the
    instance's metric); the recommendation; the limit that bound it, with every known limit; the
    difference between the sized instance's current settings and the recommendation; warnings."
  - Memory is shown in MiB, or in GiB with one decimal from 1 GiB up. C(|) in values is escaped.
options:
  _input:
    description: Rows from P(djangoops.gunicorn.gunicorn_report_rows#filter).
    type: list
    elements: dict
    required: true
"""

EXAMPLES = r"""
- name: Print the fleet table
  ansible.builtin.debug:
    msg: "{{ (hostvars | djangoops.gunicorn.gunicorn_report_rows(ansible_play_hosts_all)
              | djangoops.gunicorn.gunicorn_report_markdown).splitlines() }}"
  run_once: true
"""

RETURN = r"""
_value:
  description: The table (header, separator and one line per row), lines separated by newlines, no trailing
    newline.
  type: string
"""

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError
from ansible_collections.djangoops.gunicorn.plugins.plugin_utils.markdown import escape_cell, format_bytes, plural

HEADER = ("Host", "CPU (source)", "Memory (source)", "Running instances", "Recommended", "Bound by",
          "Current vs recommended", "Warnings")
LIMIT_ORDER = ("cpu", "memory", "database", "explicit_max")


def cell(value):
    """One table cell: pipes escaped, no line breaks; a list is one line per item (<br>)."""
    if isinstance(value, (list, tuple)):
        return "<br>".join(cell(item) for item in value) or "-"
    return escape_cell(str(value))


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
        lines.append("| %s |" % " | ".join(cell(value) for value in cells))
    return "\n".join(lines)


class FilterModule:
    def filters(self):
        return {"gunicorn_report_markdown": gunicorn_report_markdown}
