# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tuning report: a Markdown page and a YAML snippet of the winning settings, from the steps
and verdicts of plugin_utils/tuning.py. Pure text; the role writes the files."""

from __future__ import annotations

from ansible_collections.djangoops.gunicorn.plugins.plugin_utils import tuning
from ansible_collections.djangoops.gunicorn.plugins.plugin_utils.markdown import cell

# A control that moved more than this says the host's capacity changed during the run.
NOISY_DRIFT_PCT = 10.0

ROLE_VARIABLES = (("worker_class", "gunicorn_django_worker_class"), ("workers", "gunicorn_django_workers"),
                  ("threads", "gunicorn_django_threads"))


def _number(value):
    return "-" if value is None else "%g" % value


def step_rows(steps, choice):
    """One row per step: the columns of the report table."""
    verdicts = {verdict["id"]: verdict for verdict in choice["verdicts"]}
    rows = []
    for step in steps:
        metrics = step.get("metrics") or {}
        settings = step["settings"]
        verdict = verdicts.get(step["id"], {"verdict": "", "reason": ""})
        rows.append({
            "id": step["id"],
            "variable": step["variable"],
            "direction": step["direction"],
            "worker_class": settings["worker_class"],
            "workers": settings["workers"],
            "threads": settings["threads"],
            "rps": metrics.get("rps"),
            "p50_ms": metrics.get("p50_ms"),
            "p95_ms": metrics.get("p95_ms"),
            "p99_ms": metrics.get("p99_ms"),
            "errors": metrics.get("errors"),
            "memory_total_mb": metrics.get("memory_total_mb"),
            "memory_per_worker_mb": metrics.get("memory_per_worker_mb"),
            "cpu_cores": metrics.get("cpu_cores"),
            "verdict": verdict["verdict"],
            "reason": verdict["reason"],
        })
    return rows


def snippet(choice, context):
    """The winning settings as YAML for host_vars or group_vars, with where they come from."""
    if choice["settings"] is None:
        return "# gunicorn_tune on %s (%s): no configuration met the SLO; nothing to paste.\n" % (
            context.get("host", "?"), context.get("date", "?"))
    lines = ["# Measured by djangoops.gunicorn tune on %s, %s (app %s):" % (
        context.get("host", "?"), context.get("date", "?"), context.get("app", "?")),
        "# %s" % choice["summary"]]
    for key, variable in ROLE_VARIABLES:
        value = choice["settings"][key]
        lines.append("%s: %s" % (variable, value if isinstance(value, int) else '"%s"' % value))
    return "\n".join(lines) + "\n"


def control_sentence(steps, control):
    """The final config measured again after the sweep, against its figures during the sweep."""
    if not control or not control.get("metrics"):
        return None
    step = steps[int(control["step"])]
    then, now = step["metrics"], control["metrics"]
    drift = (now["rps"] - then["rps"]) * 100.0 / then["rps"] if then["rps"] else 0.0
    figures = (tuning.describe(step["settings"]), now["rps"], now["p95_ms"], then["rps"], then["p95_ms"], step["id"],
               drift)
    sentence = ("Control: %s measured again at the end: %g req/s at p95 %g ms, against %g req/s at p95 %g ms "
                "in step %d (%+.1f%% throughput). Differences between steps smaller than that are within this "
                "host's noise during the run." % figures)
    if abs(drift) > NOISY_DRIFT_PCT:
        sentence += (" **The host was not steady** (more than %g%% drift): other load came or went during the "
                     "run, so the choice is unreliable; run it again when the host is quiet." % NOISY_DRIFT_PCT)
    return sentence


def markdown(steps, choice, stops, context):
    """The whole report page."""
    load = context.get("load", {})
    slo = context.get("slo", {})
    limits = context.get("limits", {})
    out = ["# Gunicorn tuning: %s on %s" % (context.get("app", "?"), context.get("host", "?")), ""]
    out.append("%s, djangoops.gunicorn `tune` playbook. Load: wrk from the host itself against %s, pages %s, "
               "%s connections, %s s warm-up then %s s measured per step." % (
                   context.get("date", "?"), context.get("url", "?"),
                   ", ".join("`%s`" % path for path in load.get("paths", [])), load.get("connections", "?"),
                   load.get("warmup", "?"), load.get("duration", "?")))
    slo_terms = []
    if slo.get("p95_ms") is not None:
        slo_terms.append("p95 <= %g ms" % slo["p95_ms"])
    if slo.get("p99_ms") is not None:
        slo_terms.append("p99 <= %g ms" % slo["p99_ms"])
    slo_terms.append("error rate <= %g%%" % ((slo.get("max_error_rate") or 0) * 100))
    out.append("SLO: %s. Limits: %s." % (", ".join(slo_terms), limits.get("summary") or "none known"))
    out += ["", "**Chosen:** %s." % choice["summary"], ""]
    out.append("| # | variable | direction | worker_class | workers | threads | req/s | p50 ms | p95 ms | p99 ms "
               "| errors | memory MB | MB/worker | CPU cores | verdict | why |")
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for row in step_rows(steps, choice):
        verdict = "**%s**" % row["verdict"] if row["verdict"] == "chosen" else row["verdict"]
        out.append("| %s |" % " | ".join([
            str(row["id"]), row["variable"], row["direction"], row["worker_class"], str(row["workers"]),
            str(row["threads"]), _number(row["rps"]), _number(row["p50_ms"]), _number(row["p95_ms"]),
            _number(row["p99_ms"]), _number(row["errors"]), _number(row["memory_total_mb"]),
            _number(row["memory_per_worker_mb"]), _number(row["cpu_cores"]), verdict, cell(row["reason"])]))
    control = control_sentence(steps, context.get("control"))
    if control:
        out += ["", control]
    out += ["", "How each direction ended (one variable at a time, starting from the best so far):", ""]
    for stop in stops:
        out.append("- %s %s from %s, %d step%s: %s" % (
            stop["variable"], stop["direction"], stop["from"], stop["steps"], "" if stop["steps"] == 1 else "s",
            stop["reason"]))
    if context.get("chart"):
        out += ["", "![throughput and p95 per step](%s)" % context["chart"]]
    out += ["", "Winning settings for `host_vars` / `group_vars`:", "", "```yaml", snippet(choice, context).rstrip(),
            "```", ""]
    out.append("The host was left on %s." % context.get("final", "?"))
    return "\n".join(out) + "\n"


def chart_series(steps, phases, slo=None, options=None):
    """Per phase: the measured points (variable value, rps, p95) in the order of the value, with the
    phase's starting point, for the chart."""
    series = []
    for phase, variable in enumerate(phases):
        reference = tuning.phase_reference(steps, phase, slo, options)
        points = [step for step in steps if step["phase"] == phase and step["status"] == "measured"]
        if reference["status"] == "measured":
            points.append(reference)
        points = sorted(points, key=lambda step: step["settings"][variable])
        series.append({"variable": variable, "points": [
            {"x": step["settings"][variable], "rps": step["metrics"]["rps"], "p95_ms": step["metrics"]["p95_ms"],
             "label": tuning.describe(step["settings"])} for step in points]})
    return series
