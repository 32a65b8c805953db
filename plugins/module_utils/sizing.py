# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Gunicorn worker sizing: pure arithmetic, no I/O, standard library only.

The model (docs/sizing.md explains it with worked examples):

* A request keeps a CPU busy for a fraction ``f`` of its wall time (the rest it waits
  on the database or another upstream). Keeping ``C`` effective CPUs busy then takes
  ``floor(C / f) + 1`` concurrent slots (one slot = one sync worker or one gthread
  thread). Profiles name common fractions: cpu = 1.0 (C + 1 slots), mixed = 0.5 (the
  classic 2C + 1), io = 0.1 (10C + 1 slots, served by gthread threads).
* Memory bounds processes: workers x per-worker memory x reload headroom + reserve +
  other instances must fit the effective memory (a HUP runs old and new workers together).
* The database bounds slots: workers x threads x reload headroom x app hosts must fit
  max_connections - reserved connections.
* Explicit workers/threads/worker_class always win; breaking a limit only adds a warning.
"""

from __future__ import annotations

import math

MIB = 1024 * 1024

PROFILE_BUSY_FRACTION = {"cpu": 1.0, "mixed": 0.5, "io": 0.1}
DEFAULT_PROFILE = "mixed"
DEFAULT_RELOAD_HEADROOM = 2.0
DEFAULT_MAX_THREADS = 8
DEFAULT_WORKER_MEMORY_MB = 300
DEFAULT_MEMORY_RESERVE_MB = 512
# PostgreSQL keeps superuser_reserved_connections = 3 out of max_connections by default.
DEFAULT_DB_RESERVED_CONNECTIONS = 3

# Below this busy fraction requests mostly wait, and threads are cheaper than processes.
THREADED_BELOW_BUSY_FRACTION = 0.5
# Worker classes whose concurrency is one connection per slot (sync) or per thread (gthread).
SLOT_WORKER_CLASSES = ("sync", "gthread")
THREADED_WORKER_CLASS = "gthread"
# Constraint names in tie-break order: on equal limits the earlier one is reported.
LIMIT_ORDER = ("cpu", "memory", "database", "explicit_max")

# Float quotients such as 3 / 0.1 = 29.999999999999996 must floor to 30.
_EPSILON = 1e-9


def _floor(value):
    return int(math.floor(value + _EPSILON))


def _mb(value_bytes):
    return int(round(value_bytes / float(MIB)))


def _count(number, noun):
    return "%d %s%s" % (number, noun, "" if number == 1 else "s")


def is_slot_based(worker_class):
    """Whether each thread of a worker serves one request at a time (sync, gthread), so that its concurrency and
    its database connections are workers x threads; async classes multiplex connections instead."""
    return worker_class in SLOT_WORKER_CLASSES


def slot_count(workers, threads):
    """Concurrent requests (and database connections) of slot-based workers: workers x threads, a sync worker
    being one thread."""
    return workers * threads


def runs_as(worker_class, threads):
    """The worker class Gunicorn runs: it turns sync with threads > 1 into gthread."""
    return THREADED_WORKER_CLASS if worker_class == "sync" and threads > 1 else worker_class


def limit_sentences(limit_reasons, bound_by, cpu_limit):
    """(limit, sentence) of every limit that has a reason, as the recommendation's reasons list them: the binding
    limit first (with what CPU alone would allow, when another limit binds), then the others in LIMIT_ORDER."""
    ordered = []
    lead = limit_reasons.get(bound_by)
    if lead:
        if bound_by != "cpu":
            lead += "; CPU alone would allow %d" % cpu_limit
        ordered.append((bound_by, lead))
    ordered.extend((name, limit_reasons[name]) for name in LIMIT_ORDER
                   if name != bound_by and limit_reasons.get(name))
    return ordered


def busy_fraction_for(profile, cpu_busy_fraction=None):
    """Return the CPU busy fraction: the explicit one if given, else the profile's."""
    if cpu_busy_fraction is not None:
        if not 0 < cpu_busy_fraction <= 1:
            raise ValueError("cpu_busy_fraction must be > 0 and <= 1, got %r" % (cpu_busy_fraction,))
        return float(cpu_busy_fraction)
    if profile not in PROFILE_BUSY_FRACTION:
        raise ValueError("profile must be one of %s, got %r" % (", ".join(sorted(PROFILE_BUSY_FRACTION)), profile))
    return PROFILE_BUSY_FRACTION[profile]


def cpu_slot_target(effective_cpus, busy_fraction):
    """Concurrent slots that keep ``effective_cpus`` busy: floor(C / f) + 1.

    Fractional CPUs (a 1.5 CPU quota) enter as floats and the result is rounded down
    once, at the end, so 1.5 CPUs with f = 0.5 gives floor(3) + 1 = 4.
    """
    return _floor(max(float(effective_cpus), 0.0) / busy_fraction) + 1


def choose_worker_class(busy_fraction, threads=None):
    """gthread when requests mostly wait or threads > 1 were asked for, else sync."""
    if threads is not None and threads > 1:
        return THREADED_WORKER_CLASS
    if busy_fraction < THREADED_BELOW_BUSY_FRACTION:
        return THREADED_WORKER_CLASS
    return "sync"


def default_threads(worker_class, busy_fraction, max_threads=DEFAULT_MAX_THREADS):
    """Threads per gthread worker: ceil(1 / f) (one busy thread per CPU share), capped."""
    if worker_class != THREADED_WORKER_CLASS:
        return 1
    return max(1, min(max_threads, int(math.ceil(1.0 / busy_fraction - _EPSILON))))


def memory_worker_limit(effective_bytes, per_worker_bytes, reload_headroom,
                        reserve_bytes=0, other_instances_bytes=0):
    """Most workers whose reload peak fits the memory budget, or None if unknown."""
    if not per_worker_bytes or per_worker_bytes <= 0:
        return None
    budget = effective_bytes - reserve_bytes - other_instances_bytes
    if budget <= 0:
        return 0
    return _floor(budget / (float(per_worker_bytes) * reload_headroom))


def database_slot_limit(max_connections, reserved_connections, app_hosts, reload_headroom):
    """Most slots (DB connections) one host may hold, reload peak included, or None."""
    if max_connections is None:
        return None
    usable = max_connections - (reserved_connections or 0)
    if usable <= 0:
        return 0
    return _floor(usable / (float(reload_headroom) * max(1, app_hosts)))


def _validate(effective_cpus, effective_memory_bytes, reload_headroom, app_hosts, db_max_connections,
              db_reserved_connections, min_workers, max_workers, max_threads, workers, threads):
    if effective_cpus is None or effective_cpus <= 0:
        raise ValueError("effective_cpus must be > 0, got %r" % (effective_cpus,))
    if effective_memory_bytes is None or effective_memory_bytes < 0:
        raise ValueError("effective_memory_bytes must be >= 0, got %r" % (effective_memory_bytes,))
    if reload_headroom < 1:
        raise ValueError("reload_headroom must be >= 1, got %r" % (reload_headroom,))
    if app_hosts < 1:
        raise ValueError("app_hosts must be >= 1, got %r" % (app_hosts,))
    for name, value in (("min_workers", min_workers), ("max_workers", max_workers),
                        ("max_threads", max_threads), ("workers", workers), ("threads", threads)):
        if value is not None and value < 1:
            raise ValueError("%s must be >= 1, got %r" % (name, value))
    if db_max_connections is not None:
        if db_max_connections < 1:
            raise ValueError("db_max_connections must be >= 1, got %r" % (db_max_connections,))
        if not 0 <= (db_reserved_connections or 0) < db_max_connections:
            raise ValueError("db_reserved_connections must be >= 0 and below db_max_connections (%d), got %r"
                             % (db_max_connections, db_reserved_connections))
    if min_workers is not None and max_workers is not None and min_workers > max_workers:
        raise ValueError("min_workers (%d) is above max_workers (%d)" % (min_workers, max_workers))


def _binding_limit(limits):
    """(name, value) of the smallest known limit; ties go to the earlier name in LIMIT_ORDER."""
    best = None
    for name in LIMIT_ORDER:
        value = limits.get(name)
        if value is not None and (best is None or value < best[1]):
            best = (name, value)
    return best


# What a Gunicorn master itself holds beside its workers (Django not preloaded: about 25-40 MiB).
MASTER_MEMORY_BYTES = 64 * MIB
# MemoryMax= above MemoryHigh=: the kernel throttles and reclaims at MemoryHigh, kills at MemoryMax.
MEMORY_MAX_OVER_HIGH = 1.25


def unit_memory_limits(workers, per_worker_bytes, reload_headroom, master_bytes=MASTER_MEMORY_BYTES):
    """MemoryHigh= and MemoryMax= of the service from the sizing: workers x per-worker memory x the
    reload headroom (a HUP runs old and new workers side by side) + the master; MemoryMax a quarter
    above. In whole MiB, as systemd takes them ("768M"). ValueError on a size that cannot be used."""
    if not isinstance(workers, int) or workers < 1:
        raise ValueError("workers must be a whole number >= 1, got %r" % (workers,))
    if not per_worker_bytes or per_worker_bytes <= 0:
        raise ValueError("the per-worker memory is unknown")
    if reload_headroom < 1:
        raise ValueError("reload_headroom must be >= 1, got %r" % (reload_headroom,))
    high = workers * float(per_worker_bytes) * reload_headroom + master_bytes
    return {"MemoryHigh": "%dM" % int(math.ceil(high / MIB)),
            "MemoryMax": "%dM" % int(math.ceil(high * MEMORY_MAX_OVER_HIGH / MIB))}


def recommend(effective_cpus, effective_memory_bytes, per_worker_memory_bytes=None,
              memory_reserve_bytes=DEFAULT_MEMORY_RESERVE_MB * MIB, other_instances_memory_bytes=0,
              reload_headroom=DEFAULT_RELOAD_HEADROOM, db_max_connections=None,
              db_reserved_connections=DEFAULT_DB_RESERVED_CONNECTIONS, app_hosts=1, profile=DEFAULT_PROFILE,
              cpu_busy_fraction=None, min_workers=None, max_workers=None,
              max_threads=DEFAULT_MAX_THREADS, workers=None, threads=None, worker_class=None):
    """Recommend worker_class, workers and threads. Deterministic; raises ValueError on bad input.

    Returns a dict with worker_class, workers, threads, slots, bound_by, limits (max workers
    each constraint allows at the chosen thread count), limit_reasons (the sentence of each
    limit, None where it does not apply), busy_fraction, cpu_slot_target, reasons and warnings.
    """
    _validate(effective_cpus, effective_memory_bytes, reload_headroom, app_hosts, db_max_connections,
              db_reserved_connections, min_workers, max_workers, max_threads, workers, threads)
    busy = busy_fraction_for(profile, cpu_busy_fraction)
    chosen_class = worker_class or choose_worker_class(busy, threads)
    chosen_threads = threads if threads is not None else default_threads(chosen_class, busy, max_threads)
    slot_target = cpu_slot_target(effective_cpus, busy)
    slot_based = is_slot_based(chosen_class)
    headroom = "%gx reload headroom" % reload_headroom
    warnings = []

    if slot_based:
        cpu_limit = int(math.ceil(slot_target / float(chosen_threads)))
    else:
        # Async classes (gevent, uvicorn, ...) multiplex connections: one process per CPU, plus one.
        cpu_limit = _floor(effective_cpus) + 1
    memory_limit = memory_worker_limit(effective_memory_bytes, per_worker_memory_bytes, reload_headroom,
                                       memory_reserve_bytes, other_instances_memory_bytes)
    db_slots = database_slot_limit(db_max_connections, db_reserved_connections, app_hosts, reload_headroom)
    database_limit = None
    if db_slots is not None:
        if slot_based:
            database_limit = db_slots // chosen_threads
        else:
            warnings.append("database connections are not modelled for worker_class %s (one worker may hold "
                            "many); put a connection pooler in front of the database" % chosen_class)
    limits = {"cpu": cpu_limit, "memory": memory_limit, "database": database_limit,
              "explicit_max": max_workers}

    if slot_based:
        cpu_sentence = "CPU allows %s x %s: %g effective CPUs at busy fraction %g (%s) target %s" % (
            _count(cpu_limit, chosen_class + " worker"), _count(chosen_threads, "thread"), effective_cpus, busy,
            "cpu_busy_fraction" if cpu_busy_fraction is not None else "profile " + profile,
            _count(slot_target, "concurrent slot"))
    else:
        cpu_sentence = "CPU allows %s: one per effective CPU (%g) plus one, each multiplexing " \
            "connections" % (_count(cpu_limit, chosen_class + " worker"), effective_cpus)
    sentences = {"cpu": cpu_sentence}
    if memory_limit is not None:
        sentences["memory"] = (
            "memory allows %s at %d MB each with %s (budget %d MB = %d MB effective - %d MB reserve "
            "- %d MB other Gunicorn instances)" % (
                _count(memory_limit, "worker"), _mb(per_worker_memory_bytes), headroom,
                _mb(effective_memory_bytes - memory_reserve_bytes - other_instances_memory_bytes),
                _mb(effective_memory_bytes), _mb(memory_reserve_bytes), _mb(other_instances_memory_bytes)))
    if database_limit is not None:
        sentences["database"] = (
            "database allows %s x %s: %s per host = (%d max - %d reserved) / (%s x %s)" % (
                _count(database_limit, "worker"), _count(chosen_threads, "thread"),
                _count(db_slots, "connection"), db_max_connections, db_reserved_connections or 0,
                headroom, _count(app_hosts, "app host")))
    if max_workers is not None:
        sentences["explicit_max"] = "max_workers caps workers at %d" % max_workers

    bound_name, bound_value = _binding_limit(limits)
    if workers is not None:
        final_workers, bound_by = workers, "explicit"
    else:
        final_workers, bound_by = bound_value, bound_name
        if min_workers is not None and final_workers < min_workers:
            final_workers, bound_by = min_workers, "explicit_min"
        # Never below one worker; _limit_warnings reports the limit this breaks.
        final_workers = max(1, final_workers)

    final_threads = chosen_threads
    if (threads is None and slot_based and db_slots is not None and database_limit == 0
            and final_workers == 1 and 1 <= db_slots < chosen_threads):
        # Not even one worker of N threads fits the database: keep one worker, fewer threads.
        final_threads = db_slots
        sentences["database"] += "; not one worker of %d threads fits, so 1 worker x %s" % (
            chosen_threads, _count(db_slots, "thread"))

    warnings.extend(_limit_warnings(limits, final_workers, final_threads, db_slots if slot_based else None,
                                    reload_headroom, app_hosts))
    warnings.extend(_explicit_warnings(chosen_class, final_threads, workers, min_workers, max_workers,
                                       max_threads, threads))

    summary = "%s x %s (%s), bound by %s" % (
        _count(final_workers, chosen_class + " worker"), _count(final_threads, "thread"),
        _count(slot_count(final_workers, final_threads), "slot"), bound_by)
    limit_reasons = dict((name, sentences.get(name)) for name in LIMIT_ORDER)
    reasons = [summary] + [sentence for _name, sentence in limit_sentences(limit_reasons, bound_by, cpu_limit)]
    return {
        "worker_class": chosen_class,
        "workers": final_workers,
        "threads": final_threads,
        "slots": slot_count(final_workers, final_threads),
        "bound_by": bound_by,
        "limits": limits,
        "limit_reasons": limit_reasons,
        "busy_fraction": busy,
        "cpu_slot_target": slot_target,
        "reasons": reasons,
        "warnings": warnings,
    }


def _limit_warnings(limits, final_workers, final_threads, db_slots, reload_headroom, app_hosts):
    """Warn for each limit the final numbers break (explicit values, min_workers, the 1-worker floor)."""
    warnings = []
    memory_limit = limits["memory"]
    if memory_limit is not None and final_workers > memory_limit:
        warnings.append("workers=%d is above the memory limit of %s (reload headroom included)" % (
            final_workers, _count(memory_limit, "worker")))
    if db_slots is not None and slot_count(final_workers, final_threads) > db_slots:
        peak = int(math.ceil(slot_count(final_workers, final_threads) * reload_headroom * app_hosts))
        warnings.append("%d workers x %s x %gx reload headroom x %s = %d database connections at reload, "
                        "above the %s per host the database allows" % (
                            final_workers, _count(final_threads, "thread"), reload_headroom,
                            _count(app_hosts, "app host"), peak, _count(db_slots, "connection")))
    if final_workers > limits["cpu"]:
        warnings.append("workers=%d is above the %s the CPU model allows" % (
            final_workers, _count(limits["cpu"], "worker")))
    return warnings


def _explicit_warnings(worker_class, final_threads, workers, min_workers, max_workers, max_threads, threads):
    warnings = []
    if workers is not None and max_workers is not None and workers > max_workers:
        warnings.append("workers %d is above max_workers %d; keeping workers" % (workers, max_workers))
    if workers is not None and min_workers is not None and workers < min_workers:
        warnings.append("workers %d is below min_workers %d; keeping workers" % (workers, min_workers))
    if threads is not None and threads > max_threads:
        warnings.append("threads %d is above max_threads %d; keeping threads" % (threads, max_threads))
    if runs_as(worker_class, final_threads) != worker_class:
        warnings.append("threads > 1 with worker_class sync makes Gunicorn run gthread workers")
    if not is_slot_based(worker_class) and final_threads > 1:
        warnings.append("threads only apply to gthread workers; worker_class %s ignores them" % worker_class)
    return warnings
