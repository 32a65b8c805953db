# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tuning planner: directions, stops, limits, the choice and its reasons. Whole runs are played
against simple closed-loop models of a CPU-bound and an I/O-bound page."""

from __future__ import annotations

import re

import pytest

from ansible_collections.djangoops.gunicorn.plugins.module_utils import sizing
from ansible_collections.djangoops.gunicorn.plugins.module_utils.sizing import MIB
from ansible_collections.djangoops.gunicorn.plugins.plugin_utils import tuning
from ansible_collections.djangoops.gunicorn.plugins.plugin_utils.tuning import TuningError


def metrics(rps, p95, errors=0, requests=1000):
    return {"rps": rps, "p50_ms": p95 / 2.0, "p95_ms": p95, "p99_ms": p95 * 1.2, "errors": errors,
            "requests": requests, "error_rate": errors / float(requests + errors), "memory_total_mb": 100.0,
            "memory_per_worker_mb": 30.0, "cpu_cores": 1.0}


def step(id_, phase, variable, direction, workers, threads=1, worker_class="sync", status="measured", m=None,
         note=""):
    return {"id": id_, "phase": phase, "variable": variable, "direction": direction,
            "settings": tuning.settings_of(worker_class, workers, threads), "status": status, "note": note,
            "metrics": m}


def baseline(workers=3, threads=1, worker_class="sync", rps=100.0, p95=100.0):
    return step(0, -1, "baseline", "baseline", workers, threads, worker_class, m=metrics(rps, p95))


def cpu_model(settings, cpus=1.5, service_s=0.02, connections=8):
    """Closed loop: `connections` clients; each request needs service_s of one CPU."""
    busy = min(settings["workers"] * settings["threads"], connections)
    rate = min(busy / service_s, cpus / service_s)
    return metrics(round(rate, 1), round(connections / rate * 1000, 1))


def io_model(settings, wait_s=0.05, connections=20):
    """Closed loop: each request waits wait_s, CPU is not the limit."""
    busy = min(settings["workers"] * settings["threads"], connections)
    rate = busy / wait_s
    return metrics(round(rate, 1), round(connections / rate * 1000, 1))


def play(model, phases, start, limits=None, slo=None, options=None):
    """Run the planner as the role does: measure each candidate with the model until done."""
    steps = [step(0, -1, "baseline", "baseline", start["workers"], start["threads"], start["worker_class"],
                  m=model(start))]
    for _attempt in range(tuning.max_steps_total(phases, options)):
        nxt = tuning.next_step(steps, phases, limits, slo, options)
        if nxt["done"]:
            break
        candidate = dict(nxt["step"])
        if candidate["status"] == "candidate":
            candidate["status"], candidate["metrics"] = "measured", model(candidate["settings"])
        steps.append(candidate)
    else:
        assert tuning.next_step(steps, phases, limits, slo, options)["done"]
    return steps, tuning.choose(steps, slo, options)


SYNC3 = tuning.settings_of("sync", 3, 1)


def test_cpu_bound_page_keeps_few_sync_workers():
    steps, choice = play(cpu_model, ["workers", "threads"], SYNC3, slo={"p95_ms": 1000})
    # 2 sync workers already fill 1.5 CPUs: same throughput as 3, fewer processes; threads add nothing.
    assert choice["settings"] == tuning.settings_of("sync", 2, 1)
    tried = [(s["variable"], s["direction"], s["settings"]["workers"], s["settings"]["threads"]) for s in steps]
    assert tried == [("baseline", "baseline", 3, 1), ("workers", "up", 4, 1), ("workers", "down", 2, 1),
                     ("workers", "down", 1, 1), ("threads", "up", 2, 2)]


def test_io_bound_page_favours_threads():
    steps, choice = play(io_model, ["workers", "threads"], SYNC3, slo={"p95_ms": 1000},
                         options={"max_steps": 2})
    assert choice["settings"]["worker_class"] == "gthread"
    assert choice["settings"]["threads"] > 1
    assert choice["settings"]["workers"] * choice["settings"]["threads"] >= 20
    # Workers went up twice (max_steps) and then threads doubled from the best workers count.
    assert [s["settings"]["workers"] for s in steps if s["variable"] == "workers" and s["direction"] == "up"] == [4, 5]
    assert [s["settings"]["threads"] for s in steps if s["variable"] == "threads" and s["direction"] == "up"] == [2, 4]


def test_memory_limit_skips_and_stops_the_direction():
    steps, choice = play(io_model, ["workers"], SYNC3, limits={"max_workers": 4}, slo={"p95_ms": 1000})
    skipped = [s for s in steps if s["status"] == "skipped"]
    assert len(skipped) == 1
    assert skipped[0]["settings"]["workers"] == 5
    assert "5 workers > 4, the memory limit" in skipped[0]["note"]
    assert choice["settings"]["workers"] == 4
    verdict = [v for v in choice["verdicts"] if v["id"] == skipped[0]["id"]][0]
    assert verdict["verdict"] == "skipped" and "memory limit" in verdict["reason"]


def test_database_budget_counts_threads():
    steps, _choice = play(io_model, ["threads"], tuning.settings_of("sync", 4, 1), limits={"db_slots": 10},
                          slo={"p95_ms": 1000})
    skipped = [s for s in steps if s["status"] == "skipped"]
    assert [s["settings"]["threads"] for s in skipped] == [4]
    assert "4 x 4 = 16 database connections > 10" in skipped[0]["note"]


@pytest.mark.parametrize("direction, last, previous, expected", [
    ("up", metrics(110, 100), metrics(100, 100), None),
    ("up", metrics(103, 100), metrics(100, 100), "no throughput gain"),
    ("up", metrics(150, 120), metrics(100, 100), "p95 got worse"),
    ("up", metrics(150, 105), metrics(100, 100), None),
    ("up", metrics(150, 100, errors=3), metrics(100, 100), "errors went up"),
    ("down", metrics(97, 100), metrics(100, 100), None),
    ("down", metrics(85, 100), metrics(100, 100), "throughput dropped"),
    ("down", metrics(100, 400), metrics(100, 100), "p95 got worse"),
])
def test_direction_stop(direction, last, previous, expected):
    reason = tuning.direction_stop(direction, step(1, 0, "workers", direction, 4, m=last),
                                   step(0, -1, "baseline", "baseline", 3, m=previous), {}, {})
    if expected is None:
        assert reason is None
    else:
        assert expected in reason


def test_slo_miss_stops_a_direction():
    reason = tuning.direction_stop("up", step(1, 0, "workers", "up", 4, m=metrics(200, 305)),
                                   step(0, -1, "baseline", "baseline", 3, m=metrics(100, 290)),
                                   {"p95_ms": 300}, {"tolerance_pct": 10})
    assert reason.startswith("it misses the SLO")


@pytest.mark.parametrize("settings, variable, direction, expected", [
    (("sync", 3, 1), "workers", "up", ("sync", 4, 1)),
    (("sync", 1, 1), "workers", "down", None),
    (("sync", 3, 1), "threads", "up", ("gthread", 3, 2)),
    (("gthread", 3, 2), "threads", "down", ("sync", 3, 1)),
    (("sync", 3, 1), "threads", "down", None),
    (("gthread", 2, 16), "threads", "up", None),
    (("gevent", 2, 1), "threads", "up", None),
])
def test_advance(settings, variable, direction, expected):
    start = tuning.settings_of(*settings)
    reference = step(0, -1, "baseline", "baseline", 3, 1, "sync", m=metrics(1, 1))
    result = tuning.advance(start, variable, direction, reference, {})
    assert result == (tuning.settings_of(*expected) if expected else None)


def test_threads_down_keeps_gthread_when_the_reference_was_threaded():
    reference = step(0, -1, "baseline", "baseline", 2, 4, "gthread", m=metrics(1, 1))
    assert tuning.advance(tuning.settings_of("gthread", 2, 2), "threads", "down", reference, {}) == \
        tuning.settings_of("gthread", 2, 1)


def test_ties_go_to_fewer_processes():
    steps = [baseline(3, rps=100, p95=100), step(1, 0, "workers", "up", 4, m=metrics(103, 100)),
             step(2, 0, "workers", "down", 2, m=metrics(98, 100))]
    choice = tuning.choose(steps, {"p95_ms": 500}, {"tie_pct": 5})
    assert choice["best"] == 2
    reasons = {v["id"]: v["reason"] for v in choice["verdicts"]}
    assert "as fast as the chosen" in reasons[0] and "as fast as the chosen" in reasons[1]


def test_lower_throughput_and_slo_reasons():
    steps = [baseline(3, rps=100, p95=100), step(1, 0, "workers", "up", 4, m=metrics(200, 150)),
             step(2, 0, "workers", "up", 5, m=metrics(300, 900)),
             step(3, 0, "workers", "down", 2, status="failed", note="health check /items/ answered 500")]
    choice = tuning.choose(steps, {"p95_ms": 500}, {})
    assert choice["best"] == 1
    verdicts = {v["id"]: v for v in choice["verdicts"]}
    assert verdicts[0]["reason"].startswith("lower throughput: 100 vs 200 req/s (-50.0%)")
    assert verdicts[2]["reason"] == "misses the SLO: p95 900 ms > SLO 500 ms"
    assert verdicts[3]["verdict"] == "failed" and "answered 500" in verdicts[3]["reason"]
    assert "+100.0% throughput" in choice["summary"]


def test_no_configuration_meets_the_slo():
    steps = [baseline(3, rps=100, p95=800)]
    choice = tuning.choose(steps, {"p95_ms": 300}, {})
    assert choice["best"] is None and choice["settings"] is None
    assert "no measured configuration met the SLO" in choice["summary"]


def test_errors_break_the_slo_by_default():
    steps = [baseline(3, rps=100, p95=100), step(1, 0, "workers", "up", 4, m=metrics(300, 100, errors=1))]
    assert tuning.choose(steps, {}, {})["best"] == 0


@pytest.mark.parametrize("steps, message", [
    ([], "the first step must be the baseline"),
    ([step(0, -1, "baseline", "baseline", 3, status="failed", note="wrk failed")], "baseline was not measured"),
])
def test_next_step_refuses_a_run_without_baseline(steps, message):
    with pytest.raises(TuningError, match=message):
        tuning.next_step(steps, ["workers"])


def test_unknown_variable_and_bad_options():
    with pytest.raises(TuningError, match="unknown variable 'timeout'"):
        tuning.next_step([baseline()], ["timeout"])
    with pytest.raises(TuningError, match="max_steps must be at least 1"):
        tuning.next_step([baseline()], ["workers"], options={"max_steps": 0})


def test_every_run_ends_within_the_bound():
    for model in (cpu_model, io_model):
        for phases in (["workers"], ["workers", "threads"], ["workers", "threads", "workers"]):
            steps, _choice = play(model, phases, SYNC3, slo={"p95_ms": 10000})
            assert len(steps) - 1 <= tuning.max_steps_total(phases)


def test_direction_stops_explain_each_direction():
    steps, _choice = play(cpu_model, ["workers", "threads"], SYNC3, slo={"p95_ms": 1000})
    stops = tuning.direction_stops(steps, ["workers", "threads"], {"p95_ms": 1000})
    by_key = {(s["variable"], s["direction"]): s["reason"] for s in stops}
    assert by_key[("workers", "up")].startswith("no throughput gain")
    # 1 worker: p95 goes from 107 to 160 ms, checked before throughput.
    assert by_key[("workers", "down")].startswith("p95 got worse")
    assert by_key[("threads", "down")].startswith("no further value")


def test_report_has_the_control_and_every_step():
    from ansible_collections.djangoops.gunicorn.plugins.plugin_utils import tuning_report

    steps, choice = play(io_model, ["workers", "threads"], SYNC3, slo={"p95_ms": 1000}, options={"max_steps": 2})
    choice["stops"] = tuning.direction_stops(steps, ["workers", "threads"], {"p95_ms": 1000}, {"max_steps": 2})
    context = {"host": "web1", "app": "mysite", "date": "2026-11-26", "control": {
        "step": 0, "metrics": dict(steps[0]["metrics"], rps=steps[0]["metrics"]["rps"] * 0.9)}}
    text = tuning_report.markdown(steps, choice, choice["stops"], context)
    rows = [line for line in text.splitlines() if line.startswith("| ") and line[2].isdigit()]
    assert len(rows) == len(steps)
    assert "Control: 3 sync measured again at the end: 54 req/s" in text and "(-10.0% throughput)" in text
    assert "not steady" not in text
    noisy = dict(context, control={"step": 0, "metrics": dict(steps[0]["metrics"], rps=steps[0]["metrics"]["rps"] * 2)})
    noisy_text = tuning_report.markdown(steps, choice, choice["stops"], noisy)
    assert "**The host was not steady** (more than 10% drift)" in noisy_text
    assert "gunicorn_django_threads: %d" % choice["settings"]["threads"] in text
    assert tuning_report.control_sentence(steps, {"step": 0, "metrics": None}) is None


# -- the host's limits, from gunicorn_facts' recommendation at one thread per sync worker ----------------

def sentence_matched_limits(recommendation):
    """The limits as the role read them from the reasons' English sentences before the recommendation had
    limit_reasons: the oracle that host_limits() must agree with."""
    reasons = recommendation["reasons"]
    memory = [reason for reason in reasons if re.match("^memory allows", reason)]
    return {
        "max_workers": recommendation["limits"]["memory"],
        "memory_reason": memory[0] if memory else "",
        "db_slots": recommendation["limits"]["database"],
        "explicit_max_workers": recommendation["limits"]["explicit_max"],
        "summary": "; ".join(reason for reason in reasons[1:] if not re.match("^CPU", reason)) or "none known",
    }


@pytest.mark.parametrize("kwargs", [
    pytest.param({}, id="cpu-bound-no-other-limit"),
    pytest.param({"per_worker_memory_bytes": 300 * MIB}, id="cpu-bound-memory-known"),
    pytest.param({"per_worker_memory_bytes": 900 * MIB}, id="memory-bound"),
    pytest.param({"per_worker_memory_bytes": 300 * MIB, "db_max_connections": 11}, id="database-bound"),
    pytest.param({"per_worker_memory_bytes": 300 * MIB, "db_max_connections": 200, "max_workers": 2},
                 id="explicit-max-with-every-limit"),
    pytest.param({"min_workers": 6}, id="explicit-min"),
])
def test_host_limits_agree_with_the_reasons(kwargs):
    recommendation = sizing.recommend(1.5, 4 * 1024 * MIB, threads=1, worker_class="sync", **kwargs)
    assert tuning.host_limits(recommendation) == sentence_matched_limits(recommendation)


def test_host_limits_without_limit_reasons_know_only_the_numbers():
    recommendation = sizing.recommend(2, 4 * 1024 * MIB, per_worker_memory_bytes=900 * MIB, threads=1)
    del recommendation["limit_reasons"]
    assert tuning.host_limits(recommendation) == {
        "max_workers": recommendation["limits"]["memory"], "memory_reason": "", "db_slots": None,
        "explicit_max_workers": None, "summary": "none known"}
