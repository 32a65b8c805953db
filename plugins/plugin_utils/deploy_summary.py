# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Outcome of a fleet rollout (playbooks/deploy.yml): per host, per batch and for the whole run.

Pure functions on plain data; the gunicorn_deploy_* filters wrap them. The deploy playbook
leaves three facts on every host it reaches:

- ``deploy_batch``: the hosts of the host's serial batch (``ansible_play_batch`` at its start);
- ``deploy_outcome``: what :func:`host_outcome` made of the release task's result (or of the
  failure its ``rescue`` caught, or of an unreachable ping);
- ``deploy_live_config``: ``ansible.builtin.stat`` of the live ``gunicorn.conf.py`` afterwards.

A host of the play without ``deploy_batch`` was never reached: the rollout stopped before its
batch. A host with a batch but no outcome dropped out of the play on its own (it failed or became
unreachable outside the block that records outcomes) and counts as failed.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence

from ansible_collections.djangoops.gunicorn.plugins.plugin_utils.markdown import cell

STARTED = "started"
RELOADED = "reloaded"
HANDED_OVER = "handed over"
RESTARTED = "restarted"
UNCHANGED = "unchanged"
WOULD_START = "would start"
WOULD_RELOAD = "would reload"
WOULD_RESTART = "would restart"
WOULD_RESOCKET = "would resocket"
WOULD_HAND_OVER = "would hand over"
ROLLED_BACK = "rolled back"
REJECTED = "rejected"
FAILED = "failed"
UNREACHABLE = "unreachable"
SKIPPED = "skipped"
NOT_REACHED = "not reached"

# Every state, in the order the summary counts them.
STATES = (STARTED, RELOADED, HANDED_OVER, RESTARTED, UNCHANGED, WOULD_START, WOULD_RELOAD, WOULD_HAND_OVER,
          WOULD_RESTART, WOULD_RESOCKET, ROLLED_BACK, REJECTED, FAILED, UNREACHABLE, SKIPPED, NOT_REACHED)
# States that count against deploy_max_fail_percentage and fail the host at the end of the run.
FAILED_STATES = frozenset((ROLLED_BACK, REJECTED, FAILED, UNREACHABLE))
# Check mode: the live files or the service differ from what the inventory asks. The release
# module says "would <action>"; an action this list does not know yet is drift too.
DRIFT_STATES = frozenset((WOULD_START, WOULD_RELOAD, WOULD_HAND_OVER, WOULD_RESTART, WOULD_RESOCKET))
# States after which the release's sizing is the one running.
APPLIED_STATES = frozenset((STARTED, RELOADED, HANDED_OVER, RESTARTED, UNCHANGED))

# gunicorn_release's `result` values.
RELEASE_RESULTS = {
    "started": STARTED, "reloaded": RELOADED, "handed_over": HANDED_OVER, "restarted": RESTARTED,
    "unchanged": UNCHANGED, "would start": WOULD_START, "would reload": WOULD_RELOAD,
    "would handover": WOULD_HAND_OVER, "would restart": WOULD_RESTART,
    "would resocket": WOULD_RESOCKET,
    "rolled_back": ROLLED_BACK, "rejected": REJECTED, "failed": FAILED,
}

OUTCOME_FACT = "deploy_outcome"
BATCH_FACT = "deploy_batch"
LIVE_CONFIG_FACT = "deploy_live_config"

EVIDENCE_LINES = 20
LOST = "no outcome recorded: the host failed or became unreachable outside the release (see the play output)"
NOT_REACHED_MESSAGE = "the rollout stopped before this host's batch"


class SummaryError(ValueError):
    """Input that is not what the deploy playbook records."""


def _first_line(text):
    for line in str(text or "").splitlines():
        if line.strip():
            return line.strip()
    return ""


def unified_diffs(diff):
    """The module's diff entries (before/after/headers) as unified diff texts, one per file."""
    if isinstance(diff, Mapping):
        diff = [diff]
    if not isinstance(diff, Sequence) or isinstance(diff, str):
        return []
    texts = []
    for entry in diff:
        if not isinstance(entry, Mapping):
            continue
        before, after = str(entry.get("before") or ""), str(entry.get("after") or "")
        path = entry.get("after_header") or entry.get("before_header") or "?"
        lines = difflib.unified_diff(before.splitlines(True), after.splitlines(True),
                                     fromfile="%s (live)" % path, tofile="%s (inventory)" % path)
        text = "".join(line if line.endswith("\n") else line + "\n" for line in lines)
        texts.append({"path": path, "unified": text})
    return texts


def host_outcome(result, failed_task=None):
    """What a host's release came to, from the registered result of the role's release task.

    ``result`` is the release task's result (``__gunicorn_django_release``) after a success, the
    failure the deploy playbook's ``rescue`` caught (``ansible_failed_result``, with the name of
    ``ansible_failed_task`` as ``failed_task``), or an unreachable ping result.
    """
    if result is not None and not isinstance(result, Mapping):
        raise SummaryError("the release result must be a dict, got %s" % type(result).__name__)
    result = result or {}
    error = result.get("error") if isinstance(result.get("error"), Mapping) else {}
    record = result.get("record") if isinstance(result.get("record"), Mapping) else {}
    release = result.get("result")
    outcome = {
        "state": None,
        "result": release,
        "service_action": result.get("service_action"),
        "changed_files": list(result.get("changed_files") or []),
        "healthy": result.get("healthy"),
        "rolled_back": result.get("rolled_back"),
        "reason": result.get("reason"),
        "step": error.get("step"),
        "task": failed_task,
        "message": _first_line(error.get("summary") or result.get("msg")),
        "evidence": [str(line) for line in (error.get("evidence") or [])][-EVIDENCE_LINES:],
        "release_id": record.get("release_id"),
        "sizing": dict(record.get("sizing") or result.get("sizing") or {}) or None,
        "recovered": result.get("recovered"),
        "diff": unified_diffs(result.get("diff")),
    }
    if not result:
        outcome.update(state=SKIPPED, message="the release task did not run")
    elif result.get("unreachable"):
        outcome.update(state=UNREACHABLE, healthy=None)
    elif result.get("failed"):
        # The release module says rolled_back or rejected; anything else (preflight asserts,
        # argument specs, a module that could not run) is a plain failure of the named task.
        outcome["state"] = RELEASE_RESULTS.get(release) if release in ("rolled_back", "rejected") else FAILED
    elif result.get("skipped"):
        outcome.update(state=SKIPPED, message=outcome["message"] or "the release task was skipped")
    elif release in RELEASE_RESULTS and RELEASE_RESULTS[release] not in (REJECTED, FAILED):
        outcome["state"] = RELEASE_RESULTS[release]
    elif isinstance(release, str) and release.startswith("would "):
        outcome["state"] = release
    else:
        outcome.update(state=FAILED, message="unrecognised release result %r: %s" % (release, outcome["message"]))
    outcome["drift"] = is_drift(outcome["state"])
    outcome["failed"] = outcome["state"] in FAILED_STATES
    outcome["sizing_applied"] = outcome["state"] in APPLIED_STATES
    return outcome


def is_drift(state):
    return state in DRIFT_STATES or str(state).startswith("would ")


def parse_percentage(value):
    """max_fail_percentage as Ansible takes it: a number, optionally as text ending in %."""
    if isinstance(value, bool):
        raise SummaryError("max_fail_percentage must be a number from 0 to 100, got %r" % value)
    text = str(value).strip()
    if text.endswith("%"):
        text = text[:-1]
    try:
        number = float(text)
    except ValueError:
        raise SummaryError("max_fail_percentage must be a number from 0 to 100, got %r" % value)
    if not 0 <= number <= 100:
        raise SummaryError("max_fail_percentage must be a number from 0 to 100, got %r" % value)
    return number


def _host_vars(host_vars, host):
    if not isinstance(host_vars, Mapping):
        raise SummaryError("input must be a mapping of host name to host variables (hostvars), got %s"
                           % type(host_vars).__name__)
    found = host_vars.get(host) if host in host_vars else None
    return found if isinstance(found, Mapping) else {}


def _fact(variables, name):
    return variables.get(name) if name in variables else None


def _outcome_of(host_vars, host):
    outcome = _fact(_host_vars(host_vars, host), OUTCOME_FACT)
    if outcome is not None and not (isinstance(outcome, Mapping) and "state" in outcome):
        raise SummaryError("%s of host %s is not what gunicorn_deploy_outcome returns" % (OUTCOME_FACT, host))
    return outcome


def _host_list(hosts, what):
    if isinstance(hosts, (str, bytes)) or not isinstance(hosts, Sequence) \
            or not all(isinstance(host, str) for host in hosts):
        raise SummaryError("%s must be a list of host names" % what)
    return list(hosts)


def batch_verdict(host_vars, batch, max_fail_percentage=0):
    """Whether the rollout goes on after this batch, the way max_fail_percentage reads.

    The batch stops the rollout when more than ``max_fail_percentage`` percent of its hosts failed
    (rolled back, rejected, failed, unreachable, or dropped out without an outcome), or when every
    host of the batch failed (Ansible ends a serial play then, whatever the percentage).
    """
    hosts = _host_list(batch, "batch")
    limit = parse_percentage(max_fail_percentage)
    failed = []
    for host in hosts:
        outcome = _outcome_of(host_vars, host)
        if outcome is None:
            failed.append({"host": host, "state": FAILED, "message": LOST})
        elif outcome["state"] in FAILED_STATES:
            failed.append({"host": host, "state": outcome["state"], "message": outcome.get("message") or ""})
    percentage = 100.0 * len(failed) / len(hosts) if hosts else 0.0
    stop = bool(failed) and (len(failed) == len(hosts) or percentage > limit)
    done = ", ".join("%s %s" % (item["host"], item["state"]) for item in failed)
    if not failed:
        reason = "no host of the batch failed"
    elif len(failed) == len(hosts):
        reason = "every host of the batch failed: %s" % done
    elif stop:
        reason = "%d of %d hosts of the batch failed (%g%% > %g%% allowed): %s" % (
            len(failed), len(hosts), round(percentage, 1), limit, done)
    else:
        reason = "%d of %d hosts of the batch failed (%g%%, up to %g%% allowed): %s" % (
            len(failed), len(hosts), round(percentage, 1), limit, done)
    return {"hosts": hosts, "failed": failed, "failed_percentage": round(percentage, 1),
            "max_fail_percentage": limit, "stop": stop, "reason": reason}


def _live_config_sha256(variables):
    stat = _fact(variables, LIVE_CONFIG_FACT)
    stat = stat.get("stat") if isinstance(stat, Mapping) else None
    if not isinstance(stat, Mapping) or not stat.get("exists"):
        return None
    return stat.get("checksum")


def rollout_summary(host_vars, hosts, check_mode=False):
    """Rows (one per host of the play, in play order), counts and the rollout's end state."""
    hosts = _host_list(hosts, "hosts")
    batches = []
    rows = []
    for host in hosts:
        variables = _host_vars(host_vars, host)
        batch = _fact(variables, BATCH_FACT)
        outcome = _outcome_of(host_vars, host)
        row = {"host": host, "batch": None, "live_config_sha256": _live_config_sha256(variables)}
        if batch:
            key = tuple(batch)
            if key not in batches:
                batches.append(key)
            row["batch"] = batches.index(key) + 1
        if batch is None and outcome is None:
            outcome = host_outcome({})
            outcome.update(state=NOT_REACHED, message=NOT_REACHED_MESSAGE, sizing_applied=False)
        elif outcome is None:
            outcome = host_outcome({})
            outcome.update(state=FAILED, failed=True, message=LOST)
        row.update(dict((key, value) for key, value in outcome.items() if key not in row))
        rows.append(row)

    known = [state for state in STATES if any(row["state"] == state for row in rows)]
    others = sorted(set(row["state"] for row in rows) - set(STATES))
    counts = dict((state, sum(1 for row in rows if row["state"] == state)) for state in known + others)
    by_state = {
        "failed": [row["host"] for row in rows if row["state"] in FAILED_STATES],
        "drift": [row["host"] for row in rows if is_drift(row["state"])],
        "not_reached": [row["host"] for row in rows if row["state"] == NOT_REACHED],
    }
    stopped = bool(by_state["not_reached"])
    summary = {
        "mode": "check" if check_mode else "deploy",
        "hosts": len(rows),
        "batches": len(batches),
        "stopped": stopped,
        "stopped_after_batch": len(batches) if stopped else None,
        "counts": counts,
        "failed": by_state["failed"],
        "drift": by_state["drift"],
        "not_reached": by_state["not_reached"],
        "ok": not by_state["failed"] and not stopped,
        "rows": rows,
    }
    summary["headline"] = headline(summary)
    return summary


def headline(summary):
    counts = ", ".join("%d %s" % (count, state) for state, count in summary["counts"].items()) or "no hosts"
    if summary["mode"] == "check":
        what = "Drift check"
        if summary["drift"]:
            what += " (%d of %d hosts differ from the inventory)" % (len(summary["drift"]), summary["hosts"])
        else:
            what += " (every checked host matches the inventory)"
    else:
        what = "Rollout"
    if summary["stopped"]:
        return "%s stopped after batch %d: %s" % (what, summary["stopped_after_batch"], counts)
    batches = "%d batch%s" % (summary["batches"], "" if summary["batches"] == 1 else "es")
    return "%s complete in %s: %s" % (what, batches, counts)


# -- Markdown --------------------------------------------------------------------------------

HEADER = ("Host", "Batch", "Result", "Action", "Changed files", "Healthy", "Live config (sha256)", "Sizing",
          "Detail")


def sizing_text(row):
    sizing = row.get("sizing")
    if not sizing:
        return None
    threads = sizing.get("threads")
    text = "%s %s x %s thread%s" % (sizing.get("workers"), sizing.get("worker_class"), threads,
                                    "" if threads == 1 else "s")
    if sizing.get("auto"):
        text += " (auto, bound by %s)" % sizing.get("bound_by")
    else:
        text += " (explicit)"
    if not row.get("sizing_applied") and not is_drift(row["state"]):
        text += ", not applied"
    return text


def healthy_text(row):
    if row.get("healthy") is None:
        return None
    return "yes" if row["healthy"] else "NO"


def detail_text(row):
    parts = []
    if row.get("step"):
        parts.append("step %s" % row["step"])
    elif row.get("task") and row["state"] in FAILED_STATES:
        parts.append("task %r" % row["task"])
    if row.get("message") and row["state"] in FAILED_STATES | {NOT_REACHED, SKIPPED}:
        parts.append(row["message"])
    elif row.get("reason"):
        parts.append(row["reason"])
    return ": ".join(parts)


def row_cells(row):
    sha = row.get("live_config_sha256")
    return (
        row["host"],
        row.get("batch"),
        row["state"],
        row.get("service_action") if row["state"] not in (NOT_REACHED, UNREACHABLE, SKIPPED) else None,
        row.get("changed_files"),
        healthy_text(row),
        sha[:12] if sha else ("absent" if row["state"] not in (NOT_REACHED, UNREACHABLE) else None),
        sizing_text(row),
        detail_text(row),
    )


def summary_markdown(summary):
    """The summary as Markdown: headline, one table line per host, then the diff of every drift."""
    if not isinstance(summary, Mapping) or not isinstance(summary.get("headline"), str) \
            or isinstance(summary.get("rows"), str) or not isinstance(summary.get("rows"), Sequence):
        raise SummaryError("input must be what gunicorn_deploy_summary returns")
    lines = [summary["headline"], "",
             "| %s |" % " | ".join(HEADER), "| %s |" % " | ".join(["---"] * len(HEADER))]
    for row in summary["rows"]:
        try:
            lines.append("| %s |" % " | ".join(cell(value) for value in row_cells(row)))
        except (KeyError, TypeError, AttributeError) as exc:
            raise SummaryError("row of host %s is not a gunicorn_deploy_summary row (%s)" % (
                row.get("host", "?") if isinstance(row, Mapping) else "?", exc))
    diffs = [(row["host"], entry) for row in summary["rows"] for entry in row.get("diff") or []]
    if diffs:
        lines += ["", "Differences between the live files and the inventory:"]
        for host, entry in diffs:
            lines += ["", "%s: %s" % (host, entry["path"]), "", "```diff", entry["unified"].rstrip("\n"), "```"]
    return "\n".join(lines)
