# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Measured tuning, the pure part: which candidate to measure next (one variable at a time, a
direction stops as soon as it gets worse or a limit would be crossed), which configuration wins
and why every other one lost. No I/O: the gunicorn_tune role measures, this module decides.

A step is a dict:
  id         position in the list (0 is the baseline)
  phase      index into the phases (-1 for the baseline)
  variable   "baseline", "workers" or "threads"
  direction  "baseline", "up" or "down"
  settings   {"worker_class": str, "workers": int, "threads": int}
  status     "measured", "skipped" (a limit rules it out) or "failed" (the deploy was rolled back)
  note       why it was skipped or failed
  metrics    the gunicorn_loadtest summary: rps, p50_ms, p95_ms, p99_ms, errors, requests,
             error_rate, memory_total_mb, memory_per_worker_mb, cpu_cores (measured steps only)
"""

from __future__ import annotations

from ansible_collections.djangoops.gunicorn.plugins.module_utils import sizing

VARIABLES = ("workers", "threads")
DIRECTIONS = ("up", "down")

DEFAULT_OPTIONS = {
    "workers_step": 1,
    "max_steps": 3,
    "max_threads": 16,
    "min_gain_pct": 5.0,
    "tolerance_pct": 10.0,
    "tie_pct": 5.0,
}


class TuningError(Exception):
    """Inconsistent steps or options."""


def _options(options):
    merged = dict(DEFAULT_OPTIONS)
    merged.update({key: value for key, value in (options or {}).items() if value is not None})
    for key in ("workers_step", "max_steps", "max_threads"):
        if int(merged[key]) < 1:
            raise TuningError("%s must be at least 1 (got %s)" % (key, merged[key]))
        merged[key] = int(merged[key])
    for key in ("min_gain_pct", "tolerance_pct", "tie_pct"):
        merged[key] = float(merged[key])
        if merged[key] < 0:
            raise TuningError("%s must be 0 or more (got %s)" % (key, merged[key]))
    return merged


def settings_of(worker_class, workers, threads):
    return {"worker_class": str(worker_class), "workers": int(workers), "threads": int(threads or 1)}


def processes(step):
    return step["settings"]["workers"]


def slots(step):
    return sizing.slot_count(step["settings"]["workers"], step["settings"]["threads"])


def slo_failures(step, slo):
    """Sentences saying how a measured step misses the SLO (empty when it meets it)."""
    metrics = step["metrics"]
    failures = []
    for name, label in (("p95_ms", "p95"), ("p99_ms", "p99")):
        bound = (slo or {}).get(name)
        if bound is not None and metrics[name] > bound:
            failures.append("%s %g ms > SLO %g ms" % (label, metrics[name], bound))
    max_rate = (slo or {}).get("max_error_rate") or 0.0
    if metrics["error_rate"] > max_rate:
        failures.append("errors %d of %d requests (%.2f%%) > SLO %.2f%%" % (
            metrics["errors"], metrics["requests"] + metrics["errors"], metrics["error_rate"] * 100, max_rate * 100))
    return failures


def _measured(steps):
    return [step for step in steps if step["status"] == "measured"]


def rank_key(step):
    """Among configurations that tie on throughput: fewer processes, then fewer slots, then faster."""
    return (processes(step), slots(step), -step["metrics"]["rps"])


def best_step(steps, slo, options=None):
    """The winning step among ``steps``, or None when no measured step meets the SLO.

    The highest throughput that meets the SLO wins; every step within tie_pct of it ties, and ties
    go to fewer processes (then fewer threads in all).
    """
    opts = _options(options)
    eligible = [step for step in _measured(steps) if not slo_failures(step, slo)]
    if not eligible:
        return None
    top = max(step["metrics"]["rps"] for step in eligible)
    ties = [step for step in eligible if step["metrics"]["rps"] >= top * (1 - opts["tie_pct"] / 100.0)]
    return min(ties, key=rank_key)


def _pct_change(new, old):
    return (new - old) * 100.0 / old if old else (0.0 if new == old else float("inf"))


def direction_stop(direction, last, previous, slo, options):
    """Why a direction stops after ``last`` (compared with the step before it), or None."""
    opts = _options(options)
    if last["status"] == "skipped":
        return "a limit rules out %s: %s" % (describe(last["settings"]), last["note"])
    if last["status"] == "failed":
        return "%s failed: %s" % (describe(last["settings"]), last["note"])
    new, old = last["metrics"], previous["metrics"]
    if new["errors"] > old["errors"] and new["error_rate"] > old["error_rate"]:
        return "errors went up (%d after %d)" % (new["errors"], old["errors"])
    if new["p95_ms"] > old["p95_ms"] * (1 + opts["tolerance_pct"] / 100.0):
        return "p95 got worse (%g ms after %g ms, more than %g%%)" % (new["p95_ms"], old["p95_ms"],
                                                                      opts["tolerance_pct"])
    if slo_failures(last, slo) and not slo_failures(previous, slo):
        return "it misses the SLO (%s)" % "; ".join(slo_failures(last, slo))
    gain = _pct_change(new["rps"], old["rps"])
    if direction == "up" and gain < opts["min_gain_pct"]:
        return "no throughput gain (%+.1f%%, less than %g%%)" % (gain, opts["min_gain_pct"])
    if direction == "down" and gain < -opts["tolerance_pct"]:
        return "throughput dropped (%+.1f%%)" % gain
    return None


def advance(settings, variable, direction, reference, options):
    """The next settings in a direction, or None when the direction has nowhere to go."""
    opts = _options(options)
    workers, threads, worker_class = settings["workers"], settings["threads"], settings["worker_class"]
    if variable == "workers":
        workers += opts["workers_step"] if direction == "up" else -opts["workers_step"]
        if workers < 1:
            return None
        return settings_of(worker_class, workers, threads)
    if variable == "threads":
        if not sizing.is_slot_based(worker_class):
            return None  # async worker classes have no threads to tune
        threads = threads * 2 if direction == "up" else threads // 2
        if threads < 1 or threads > opts["max_threads"]:
            return None
        if threads > 1:
            worker_class = sizing.runs_as(worker_class, threads)
        elif reference["settings"]["threads"] > 1:
            # Back to one thread from a threaded start: stay on gthread, the class that was measured.
            worker_class = sizing.THREADED_WORKER_CLASS
        else:
            worker_class = reference["settings"]["worker_class"]
        return settings_of(worker_class, workers, threads)
    raise TuningError("unknown variable %r (known: %s)" % (variable, ", ".join(VARIABLES)))


def host_limits(recommendation):
    """The limits a run checks its candidates against, from gunicorn_facts' recommendation sized at one thread
    per sync worker (so its memory and database limits count workers and connections one for one).

    memory_reason is the memory limit's sentence as the recommendation's reasons give it; summary joins every
    limit but CPU's (the run measures CPU instead of modelling it), the binding one first.
    """
    limits = recommendation["limits"]
    sentences = sizing.limit_sentences(recommendation.get("limit_reasons") or {}, recommendation["bound_by"],
                                       limits["cpu"])
    return {
        "max_workers": limits.get("memory"),
        "memory_reason": dict(sentences).get("memory") or "",
        "db_slots": limits.get("database"),
        "explicit_max_workers": limits.get("explicit_max"),
        "summary": "; ".join(sentence for name, sentence in sentences if name != "cpu") or "none known",
    }


def limit_check(settings, limits):
    """Why ``settings`` would cross one of the host's limits, or None.

    limits: max_workers (memory with reload headroom, from gunicorn_facts), db_slots (database
    connections this host may hold, each thread one), explicit_max_workers.
    """
    limits = limits or {}
    workers, total = settings["workers"], sizing.slot_count(settings["workers"], settings["threads"])
    memory = limits.get("max_workers")
    if memory is not None and workers > memory:
        return "%d workers > %d, the memory limit (%s)" % (workers, memory, limits.get("memory_reason") or
                                                           "measured memory per worker with reload headroom")
    explicit = limits.get("explicit_max_workers")
    if explicit is not None and workers > explicit:
        return "%d workers > max_workers %d" % (workers, explicit)
    db_slots = limits.get("db_slots")
    if db_slots is not None and total > db_slots:
        return "%d x %d = %d database connections > %d, the database budget" % (
            workers, settings["threads"], total, db_slots)
    return None


def _same(a, b):
    return a["workers"] == b["workers"] and a["threads"] == b["threads"] and a["worker_class"] == b["worker_class"]


def phase_reference(steps, phase, slo, options):
    """The step a phase starts from: the best of every earlier step, else the baseline."""
    earlier = [step for step in steps if step["phase"] < phase]
    return best_step(earlier, slo, options) or steps[0]


def next_step(steps, phases, limits=None, slo=None, options=None):
    """The next candidate to measure: {"done": False, "step": {...}} or {"done": True}.

    The step comes with status "candidate" (deploy and measure it) or "skipped" (record it with
    its note: a limit rules it out, and its direction stops there).
    """
    opts = _options(options)
    if not steps or steps[0]["variable"] != "baseline":
        raise TuningError("the first step must be the baseline")
    if steps[0]["status"] != "measured":
        raise TuningError("the baseline was not measured: %s" % steps[0].get("note"))
    for phase, variable in enumerate(phases):
        if variable not in VARIABLES:
            raise TuningError("unknown variable %r in phases (known: %s)" % (variable, ", ".join(VARIABLES)))
        reference = phase_reference(steps, phase, slo, opts)
        for direction in DIRECTIONS:
            line = [step for step in steps if step["phase"] == phase and step["direction"] == direction]
            if len(line) >= opts["max_steps"]:
                continue
            previous = line[-2] if len(line) > 1 else reference
            if line and direction_stop(direction, line[-1], previous, slo, opts):
                continue
            start = line[-1]["settings"] if line else reference["settings"]
            settings = advance(start, variable, direction, reference, opts)
            if settings is None or any(_same(settings, step["settings"]) for step in steps
                                       if step["status"] != "skipped" and step["phase"] == phase):
                continue
            note = limit_check(settings, limits)
            return {"done": False, "step": {
                "id": len(steps), "phase": phase, "variable": variable, "direction": direction,
                "settings": settings, "status": "skipped" if note else "candidate", "note": note or "",
                "metrics": None}}
    return {"done": True}


def direction_stops(steps, phases, slo=None, options=None):
    """Why each phase and direction ended, for the report."""
    opts = _options(options)
    stops = []
    for phase, variable in enumerate(phases):
        reference = phase_reference(steps, phase, slo, opts)
        for direction in DIRECTIONS:
            line = [step for step in steps if step["phase"] == phase and step["direction"] == direction]
            reason = None
            if line:
                previous = line[-2] if len(line) > 1 else reference
                reason = direction_stop(direction, line[-1], previous, slo, opts)
            if reason is None:
                start = line[-1]["settings"] if line else reference["settings"]
                if len(line) >= opts["max_steps"]:
                    reason = "max_steps (%d) reached" % opts["max_steps"]
                elif advance(start, variable, direction, reference, opts) is None:
                    reason = "no further value (from %s)" % describe(start)
                else:
                    reason = "the next value was already measured"
            stops.append({"phase": phase, "variable": variable, "direction": direction,
                          "from": describe(reference["settings"]), "steps": len(line), "reason": reason})
    return stops


def describe(settings):
    if settings["threads"] > 1 or settings["worker_class"] == sizing.THREADED_WORKER_CLASS:
        return "%d %s x %d threads" % (settings["workers"], settings["worker_class"], settings["threads"])
    return "%d %s" % (settings["workers"], settings["worker_class"])


def choose(steps, slo=None, options=None):
    """The winner and a verdict for every step: {"best": id or None, "summary": str, "verdicts": [...]}."""
    opts = _options(options)
    best = best_step(steps, slo, opts)
    verdicts = []
    for step in steps:
        if best is not None and step["id"] == best["id"]:
            verdict, reason = "chosen", "highest throughput within the SLO and the limits"
            if step["variable"] == "baseline":
                reason += " (the current settings)"
        elif step["status"] == "skipped":
            verdict, reason = "skipped", "not measured: " + step["note"]
        elif step["status"] == "failed":
            verdict, reason = "failed", "failed: " + step["note"]
        elif slo_failures(step, slo):
            verdict, reason = "lost", "misses the SLO: " + "; ".join(slo_failures(step, slo))
        elif best is None:
            verdict, reason = "lost", "no configuration met the SLO"
        else:
            verdict = "lost"
            new, top = step["metrics"]["rps"], best["metrics"]["rps"]
            if new >= top * (1 - opts["tie_pct"] / 100.0):
                if rank_key(step) > rank_key(best):
                    reason = "as fast as the chosen (%+.1f%%, within %g%%) but more processes or threads (%s)" % (
                        _pct_change(new, top), opts["tie_pct"], describe(step["settings"]))
                else:
                    reason = "as fast and as small as the chosen, which was faster (%g vs %g req/s)" % (new, top)
            else:
                reason = "lower throughput: %g vs %g req/s (%+.1f%%)" % (new, top, _pct_change(new, top))
        verdicts.append({"id": step["id"], "verdict": verdict, "reason": reason})
    if best is None:
        summary = "no measured configuration met the SLO; keep the current settings and look at the app"
    else:
        base = steps[0]
        summary = "%s: %g req/s at p95 %g ms" % (describe(best["settings"]), best["metrics"]["rps"],
                                                 best["metrics"]["p95_ms"])
        if best["id"] != base["id"] and base["status"] == "measured":
            summary += " (baseline %s: %g req/s at p95 %g ms, %+.1f%% throughput)" % (
                describe(base["settings"]), base["metrics"]["rps"], base["metrics"]["p95_ms"],
                _pct_change(best["metrics"]["rps"], base["metrics"]["rps"]))
        elif best["id"] == base["id"]:
            summary += " (the current settings are the best measured)"
    return {"best": best["id"] if best is not None else None,
            "settings": best["settings"] if best is not None else None,
            "summary": summary, "verdicts": verdicts}


def max_steps_total(phases, options=None):
    """Worst-case number of deploys of a tuning run: a bound so the run always ends."""
    opts = _options(options)
    return len(phases) * len(DIRECTIONS) * opts["max_steps"]
