# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sizing rules: one parametrized table per rule, plus hypothesis properties over random inputs."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings, strategies as st

from ansible_collections.djangoops.gunicorn.plugins.module_utils import sizing
from ansible_collections.djangoops.gunicorn.plugins.module_utils.sizing import (
    LIMIT_ORDER, MIB, cpu_slot_target, database_slot_limit, default_threads, is_slot_based, limit_sentences,
    memory_worker_limit, recommend, runs_as, slot_count,
)

GIB = 1024 * MIB
# Documented defaults (docs/sizing.md): 300 MB workers, 512 MB reserve, 2x reload headroom.
WORKER = 300 * MIB


def size(cpus, memory, **kwargs):
    kwargs.setdefault("per_worker_memory_bytes", WORKER)
    return recommend(cpus, memory, **kwargs)


# --- worked examples of the domain brief --------------------------------------------------

@pytest.mark.parametrize("cpus, memory, kwargs, low, high, bound_by", [
    pytest.param(1, 2 * GIB, {}, 2, 2, "memory", id="1vCPU-2GB-gives-2-sync"),
    pytest.param(2, 4 * GIB, {}, 3, 5, None, id="2vCPU-4GB-gives-3-to-5"),
    pytest.param(4, 8 * GIB, {}, 5, 9, None, id="4vCPU-8GB-gives-5-to-9"),
    pytest.param(4, 3 * GIB, {"reload_headroom": 1.0}, 8, 8, "memory", id="300MB-x-8-is-2.4GB-memory-bound"),
    pytest.param(4, 3 * GIB, {}, 4, 4, "memory", id="300MB-x-2x-headroom-on-3GB"),
    pytest.param(2, 256 * GIB, {}, 5, 5, "cpu", id="2-CPU-cgroup-on-big-host-gives-5-not-129"),
    pytest.param(4, 8 * GIB, {"profile": "io", "db_max_connections": 100, "db_reserved_connections": 0,
                              "app_hosts": 20}, 1, 1, "database", id="fleet-of-20-vs-100-connections"),
])
def test_worked_examples(cpus, memory, kwargs, low, high, bound_by):
    result = size(cpus, memory, **kwargs)
    assert low <= result["workers"] <= high
    if bound_by:
        assert result["bound_by"] == bound_by
    assert result["worker_class"] in ("sync", "gthread")


def test_worked_example_2_cpu_cgroup_on_64_cores_is_not_2n_plus_1_of_the_host():
    # gunicorn #2028: 2 * cpu_count() + 1 on 64 cores = 129; the effective 2 CPUs give 5.
    assert size(2.0, 64 * GIB)["workers"] == 5
    assert size(64.0, 64 * GIB, max_workers=200)["limits"]["cpu"] == 129


def test_worked_example_explicit_9x8_on_20_hosts_is_warned_as_database_bound():
    result = size(4, 8 * GIB, profile="io", workers=9, threads=8, db_max_connections=100,
                  db_reserved_connections=0, app_hosts=20)
    assert (result["workers"], result["threads"], result["bound_by"]) == (9, 8, "explicit")
    assert any("2880 database connections" in warning for warning in result["warnings"])


# --- rule: never below 1, never outside explicit bounds ------------------------------------

@pytest.mark.parametrize("cpus, memory, kwargs, expected", [
    (2, 256 * MIB, {}, 1),                               # budget below the reserve
    (0.1, 8 * GIB, {"profile": "cpu"}, 1),              # a tenth of a CPU
    (2, 8 * GIB, {"db_max_connections": 2, "db_reserved_connections": 1}, 1),
    (16, 64 * GIB, {"max_workers": 4}, 4),
    (1, 1 * GIB, {"min_workers": 3}, 3),
    (8, 64 * GIB, {"min_workers": 2, "max_workers": 6}, 6),
    (1, 64 * GIB, {"min_workers": 4, "max_workers": 6}, 4),
])
def test_workers_stay_within_one_and_explicit_bounds(cpus, memory, kwargs, expected):
    assert size(cpus, memory, **kwargs)["workers"] == expected


@pytest.mark.parametrize("kwargs, bound_by", [
    ({"max_workers": 4}, "explicit_max"),
    ({"min_workers": 30}, "explicit_min"),
])
def test_explicit_bounds_are_reported_as_binding(kwargs, bound_by):
    assert size(8, 64 * GIB, **kwargs)["bound_by"] == bound_by


def test_min_workers_above_a_limit_wins_with_a_warning():
    result = size(1, 2 * GIB, min_workers=4)
    assert result["workers"] == 4
    assert any("memory limit of 2 workers" in warning for warning in result["warnings"])


# --- rule: memory with reload headroom ----------------------------------------------------

@pytest.mark.parametrize("memory, per_worker, headroom, reserve, others, expected", [
    (4 * GIB, 300 * MIB, 2.0, 512 * MIB, 0, 5),          # 3584 / 600
    (4 * GIB, 300 * MIB, 1.0, 512 * MIB, 0, 11),         # 3584 / 300
    (4 * GIB, 300 * MIB, 2.0, 512 * MIB, 1 * GIB, 4),    # other instances eat 1 GB
    (4 * GIB, 300 * MIB, 2.0, 4 * GIB, 0, 0),            # nothing left
    (4 * GIB, 310 * MIB, 2.0, 512 * MIB, 2 * GIB, 2),
    (3 * GIB, 1 * GIB, 1.5, 0, 0, 2),
])
def test_memory_limit(memory, per_worker, headroom, reserve, others, expected):
    assert memory_worker_limit(memory, per_worker, headroom, reserve, others) == expected
    if expected:
        assert expected * per_worker * headroom + reserve + others <= memory
        assert (expected + 1) * per_worker * headroom + reserve + others > memory


def test_memory_limit_is_unknown_without_a_worker_size():
    assert memory_worker_limit(4 * GIB, None, 2.0) is None
    assert recommend(2, 4 * GIB)["limits"]["memory"] is None


def test_memory_reason_names_size_headroom_and_cpu():
    result = size(2, 3 * GIB, per_worker_memory_bytes=310 * MIB, other_instances_memory_bytes=512 * MIB)
    assert result["bound_by"] == "memory"
    assert result["reasons"][1].startswith(
        "memory allows 3 workers at 310 MB each with 2x reload headroom")
    assert result["reasons"][1].endswith("CPU alone would allow 5")


# --- rule: slots (sync and gthread serve one request per thread) --------------------------

@pytest.mark.parametrize("worker_class, slot_based", [
    ("sync", True), ("gthread", True), ("gevent", False), ("uvicorn.workers.UvicornWorker", False),
])
def test_slot_based_worker_classes(worker_class, slot_based):
    assert is_slot_based(worker_class) is slot_based


@pytest.mark.parametrize("workers, threads, slots", [(1, 1, 1), (3, 1, 3), (2, 8, 16), (4, 4, 16)])
def test_slot_count_is_workers_times_threads(workers, threads, slots):
    assert slot_count(workers, threads) == slots


@pytest.mark.parametrize("worker_class, threads, runs", [
    ("sync", 1, "sync"), ("sync", 2, "gthread"), ("gthread", 1, "gthread"), ("gthread", 4, "gthread"),
    ("gevent", 4, "gevent"),
])
def test_gunicorn_runs_sync_with_threads_as_gthread(worker_class, threads, runs):
    assert runs_as(worker_class, threads) == runs


# --- reasons: one sentence per limit, the binding one first -------------------------------

REASONS = {"cpu": "CPU allows 5", "memory": "memory allows 3", "database": None, "explicit_max": "max_workers 4"}


@pytest.mark.parametrize("bound_by, expected", [
    pytest.param("cpu", [("cpu", "CPU allows 5"), ("memory", "memory allows 3"), ("explicit_max", "max_workers 4")],
                 id="cpu-binds"),
    pytest.param("memory", [("memory", "memory allows 3; CPU alone would allow 5"), ("cpu", "CPU allows 5"),
                            ("explicit_max", "max_workers 4")], id="memory-binds-and-says-what-cpu-allows"),
    pytest.param("explicit", [("cpu", "CPU allows 5"), ("memory", "memory allows 3"),
                              ("explicit_max", "max_workers 4")], id="explicit-has-no-sentence"),
])
def test_limit_sentences_in_order(bound_by, expected):
    assert limit_sentences(REASONS, bound_by, 5) == expected


@pytest.mark.parametrize("kwargs", [
    pytest.param({}, id="cpu-bound"),
    pytest.param({"per_worker_memory_bytes": 900 * MIB}, id="memory-bound"),
    pytest.param({"db_max_connections": 13, "db_reserved_connections": 3}, id="database-bound"),
    pytest.param({"max_workers": 2}, id="explicit-max"),
    pytest.param({"workers": 7}, id="explicit-workers"),
    pytest.param({"worker_class": "gevent", "db_max_connections": 100}, id="async"),
])
def test_limit_reasons_are_the_sentences_of_the_reasons(kwargs):
    result = size(2, 4 * GIB, **kwargs)
    assert list(result["limit_reasons"]) == list(LIMIT_ORDER)
    for name, sentence in result["limit_reasons"].items():
        assert (sentence is None) == (result["limits"][name] is None)
    expected = limit_sentences(result["limit_reasons"], result["bound_by"], result["limits"]["cpu"])
    assert result["reasons"][1:] == [sentence for _name, sentence in expected]


# --- rule: database connections -----------------------------------------------------------

@pytest.mark.parametrize("max_connections, reserved, hosts, headroom, expected", [
    (100, 3, 1, 2.0, 48),
    (100, 0, 20, 2.0, 2),
    (100, 3, 20, 2.0, 2),
    (100, 0, 60, 2.0, 0),
    (500, 10, 4, 1.0, 122),
    (None, 3, 1, 2.0, None),
])
def test_database_slot_limit(max_connections, reserved, hosts, headroom, expected):
    assert database_slot_limit(max_connections, reserved, hosts, headroom) == expected


@pytest.mark.parametrize("cpus, kwargs, workers, threads", [
    (4, {"db_max_connections": 15}, 6, 1),                                          # sync: 6 x 2 = 12 <= 15 - 3
    (4, {"profile": "io", "db_max_connections": 100, "db_reserved_connections": 4}, 6, 8),
    (4, {"profile": "io", "db_max_connections": 100, "app_hosts": 4}, 1, 8),        # 97 / 8 = 12 slots
    (4, {"profile": "io", "db_max_connections": 100, "app_hosts": 10}, 1, 4),       # 97 / 20 = 4 slots
])
def test_database_bounds_slots_including_reload_and_hosts(cpus, kwargs, workers, threads):
    result = size(cpus, 64 * GIB, **kwargs)
    assert (result["workers"], result["threads"]) == (workers, threads)
    usable = kwargs["db_max_connections"] - kwargs.get("db_reserved_connections", 3)
    assert result["slots"] * 2.0 * kwargs.get("app_hosts", 1) <= usable
    assert result["warnings"] == []


def test_database_is_not_modelled_for_async_workers():
    result = size(2, 8 * GIB, worker_class="gevent", db_max_connections=50)
    assert result["limits"]["database"] is None
    assert any("not modelled" in warning for warning in result["warnings"])


# --- rule: CPU profiles and busy fraction -------------------------------------------------

@pytest.mark.parametrize("cpus, profile, worker_class, workers, threads", [
    (1, "cpu", "sync", 2, 1),
    (2, "cpu", "sync", 3, 1),        # measured: CPU-bound views saturate at about cores workers
    (4, "cpu", "sync", 5, 1),
    (1, "mixed", "sync", 3, 1),
    (2, "mixed", "sync", 5, 1),      # the classic 2n + 1
    (4, "mixed", "sync", 9, 1),
    (2, "io", "gthread", 3, 8),      # measured: gthread 3 x 8 beats sync 5 on I/O-bound views
    (4, "io", "gthread", 6, 8),
])
def test_profiles(cpus, profile, worker_class, workers, threads):
    result = size(cpus, 256 * GIB, profile=profile)
    assert (result["worker_class"], result["workers"], result["threads"]) == (worker_class, workers, threads)


@pytest.mark.parametrize("cpus", [0.5, 1, 1.5, 2, 3, 7.25, 16, 64])
def test_cpu_profile_never_exceeds_2n_plus_1(cpus):
    result = size(cpus, 1024 * GIB, profile="cpu")
    assert result["workers"] * result["threads"] <= 2 * cpus + 1
    assert result["workers"] == math.floor(cpus) + 1


@pytest.mark.parametrize("cpus, fraction, slot_target, worker_class, threads", [
    (2, 1.0, 3, "sync", 1),
    (2, 0.5, 5, "sync", 1),
    (2, 0.25, 9, "gthread", 4),
    (2, 0.1, 21, "gthread", 8),
    (3, 0.1, 31, "gthread", 8),     # 3 / 0.1 is 29.999999999999996 in floats
    (1, 0.3, 4, "gthread", 4),
])
def test_busy_fraction_overrides_profile(cpus, fraction, slot_target, worker_class, threads):
    assert cpu_slot_target(cpus, fraction) == slot_target
    result = size(cpus, 1024 * GIB, profile="cpu", cpu_busy_fraction=fraction)
    assert (result["cpu_slot_target"], result["worker_class"], result["threads"]) == (
        slot_target, worker_class, threads)
    assert result["slots"] >= slot_target


@pytest.mark.parametrize("cpus, profile, expected", [
    (1.5, "mixed", 4),      # floor(2 x 1.5) + 1
    (1.5, "cpu", 2),        # floor(1.5) + 1
    (0.5, "mixed", 2),
    (0.25, "mixed", 1),
    (2.99, "mixed", 6),
    (1.5, "io", 2),         # 16 slots / 8 threads
])
def test_fractional_cpu_quota_rounds_down_once(cpus, profile, expected):
    assert size(cpus, 1024 * GIB, profile=profile)["workers"] == expected


@pytest.mark.parametrize("worker_class, fraction, max_threads, expected", [
    ("sync", 0.1, 8, 1),
    ("gthread", 0.1, 8, 8),
    ("gthread", 0.1, 4, 4),
    ("gthread", 0.5, 8, 2),
    ("gthread", 1.0, 8, 1),
    ("gevent", 0.1, 8, 1),
])
def test_default_threads(worker_class, fraction, max_threads, expected):
    assert default_threads(worker_class, fraction, max_threads) == expected


# --- rule: explicit values win, with warnings ---------------------------------------------

@pytest.mark.parametrize("kwargs, expected, warning", [
    ({"workers": 12}, (12, 1, "sync"), "memory limit of 5 workers"),
    ({"workers": 12, "max_workers": 6}, (12, 1, "sync"), "above max_workers 6"),
    ({"workers": 1, "min_workers": 2}, (1, 1, "sync"), "below min_workers 2"),
    ({"threads": 4}, (2, 4, "gthread"), None),
    ({"threads": 16}, (1, 16, "gthread"), "above max_threads 8"),
    ({"worker_class": "sync", "threads": 4}, (2, 4, "sync"), "makes Gunicorn run gthread"),
    ({"worker_class": "gevent", "threads": 4}, (3, 4, "gevent"), "ignores them"),
    ({"worker_class": "uvicorn.workers.UvicornWorker"}, (3, 1, "uvicorn.workers.UvicornWorker"), None),
    ({"workers": 9, "threads": 8, "db_max_connections": 100}, (9, 8, "gthread"), "database connections"),
])
def test_explicit_values_always_win(kwargs, expected, warning):
    result = size(2, 4 * GIB, **kwargs)
    assert (result["workers"], result["threads"], result["worker_class"]) == expected
    if warning:
        assert any(warning in text for text in result["warnings"]), result["warnings"]
    else:
        assert result["warnings"] == []


@pytest.mark.parametrize("kwargs", [
    {"reload_headroom": 0.5},
    {"app_hosts": 0},
    {"min_workers": 5, "max_workers": 4},
    {"workers": 0},
    {"threads": 0},
    {"max_threads": 0},
    {"profile": "web"},
    {"cpu_busy_fraction": 0.0},
    {"cpu_busy_fraction": 1.5},
    {"db_max_connections": 10, "db_reserved_connections": 10},
    {"db_max_connections": 0},
])
def test_invalid_input_raises(kwargs):
    with pytest.raises(ValueError):
        size(2, 4 * GIB, **kwargs)


@pytest.mark.parametrize("cpus, memory", [(0, 4 * GIB), (-1, 4 * GIB), (2, -1)])
def test_invalid_machine_raises(cpus, memory):
    with pytest.raises(ValueError):
        size(cpus, memory)


# --- properties ---------------------------------------------------------------------------

machines = {
    "cpus": st.floats(min_value=0.05, max_value=256, allow_nan=False),
    "memory": st.integers(min_value=0, max_value=1024 * GIB),
}
knobs = st.fixed_dictionaries({
    "per_worker_memory_bytes": st.integers(min_value=MIB, max_value=4 * GIB),
    "memory_reserve_bytes": st.integers(min_value=0, max_value=8 * GIB),
    "other_instances_memory_bytes": st.integers(min_value=0, max_value=8 * GIB),
    "reload_headroom": st.floats(min_value=1.0, max_value=4.0),
    "profile": st.sampled_from(["cpu", "mixed", "io"]),
    "app_hosts": st.integers(min_value=1, max_value=50),
    "max_threads": st.integers(min_value=1, max_value=32),
}, optional={
    "db_max_connections": st.integers(min_value=5, max_value=5000),
    "cpu_busy_fraction": st.floats(min_value=0.01, max_value=1.0),
    "max_workers": st.integers(min_value=1, max_value=300),
    "threads": st.integers(min_value=1, max_value=16),
    "worker_class": st.sampled_from(["sync", "gthread", "gevent"]),
})


@settings(max_examples=300, deadline=None)
@given(cpus=machines["cpus"], memory=machines["memory"], kwargs=knobs)
def test_property_limits_hold_unless_clamped(cpus, memory, kwargs):
    result = recommend(cpus, memory, **kwargs)
    assert result["workers"] >= 1 and result["threads"] >= 1
    assert result["slots"] == result["workers"] * result["threads"]
    if "max_workers" in kwargs:
        assert result["workers"] <= kwargs["max_workers"]
    headroom = kwargs["reload_headroom"]
    # Each limit either holds or is named in a warning (the 1-worker floor, explicit threads).
    used = (result["workers"] * kwargs["per_worker_memory_bytes"] * headroom
            + kwargs["memory_reserve_bytes"] + kwargs["other_instances_memory_bytes"])
    assert used <= memory * (1 + 1e-9) or any("memory limit" in w for w in result["warnings"])
    if "db_max_connections" in kwargs and result["worker_class"] in ("sync", "gthread"):
        peak = result["slots"] * headroom * kwargs["app_hosts"]
        fits = peak <= (kwargs["db_max_connections"] - 3) * (1 + 1e-9)
        assert fits or any("database connections at reload" in w for w in result["warnings"])
    if result["workers"] > 1 and "threads" not in kwargs:
        assert not any("memory limit" in w or "at reload" in w for w in result["warnings"])


@settings(max_examples=200, deadline=None)
@given(cpus=machines["cpus"], memory=machines["memory"], kwargs=knobs)
def test_property_cpu_profile_never_exceeds_2n_plus_1(cpus, memory, kwargs):
    kwargs = dict(kwargs, profile="cpu")
    for name in ("cpu_busy_fraction", "threads", "worker_class"):
        kwargs.pop(name, None)
    result = recommend(cpus, memory, **kwargs)
    assert result["slots"] <= 2 * cpus + 1


@settings(max_examples=200, deadline=None)
@given(cpus=machines["cpus"], memory=machines["memory"], kwargs=knobs)
def test_property_deterministic(cpus, memory, kwargs):
    assert recommend(cpus, memory, **kwargs) == recommend(cpus, memory, **kwargs)


@settings(max_examples=400, deadline=None)
@given(cpus=machines["cpus"], more_cpus=st.floats(min_value=0, max_value=256),
       memory=machines["memory"], more_memory=st.integers(min_value=0, max_value=256 * GIB), kwargs=knobs)
def test_property_monotonic_in_cpu_and_memory(cpus, more_cpus, memory, more_memory, kwargs):
    """Total slots (workers x threads) never decrease when CPU or memory grows, all else equal."""
    base = recommend(cpus, memory, **kwargs)["slots"]
    assert recommend(cpus + more_cpus, memory, **kwargs)["slots"] >= base
    assert recommend(cpus, memory + more_memory, **kwargs)["slots"] >= base
    assert recommend(cpus + more_cpus, memory + more_memory, **kwargs)["slots"] >= base


@settings(max_examples=200, deadline=None)
@given(cpus=machines["cpus"], memory=machines["memory"], kwargs=knobs,
       workers=st.integers(min_value=1, max_value=64), threads=st.integers(min_value=1, max_value=16))
def test_property_explicit_workers_and_threads_are_never_changed(cpus, memory, kwargs, workers, threads):
    kwargs = dict(kwargs, workers=workers, threads=threads)
    kwargs.pop("max_workers", None)
    result = recommend(cpus, memory, **kwargs)
    assert (result["workers"], result["threads"], result["bound_by"]) == (workers, threads, "explicit")


@pytest.mark.parametrize("workers, per_worker_mib, headroom, high, maximum", [
    (3, 100, 2.0, "664M", "830M"),   # 3 x 100 x 2 + 64
    (1, 50, 1.0, "114M", "143M"),
    (8, 300, 2.0, "4864M", "6080M"),
])
def test_unit_memory_limits(workers, per_worker_mib, headroom, high, maximum):
    limits = sizing.unit_memory_limits(workers, per_worker_mib * sizing.MIB, headroom)
    assert limits == {"MemoryHigh": high, "MemoryMax": maximum}


@pytest.mark.parametrize("workers, per_worker, headroom, says", [
    (0, sizing.MIB, 2.0, "workers"), (2, None, 2.0, "unknown"), (2, sizing.MIB, 0.5, "reload_headroom")])
def test_unit_memory_limits_refuses_what_cannot_be_used(workers, per_worker, headroom, says):
    with pytest.raises(ValueError, match=says):
        sizing.unit_memory_limits(workers, per_worker, headroom)
