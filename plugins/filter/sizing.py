# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The role's effective worker size: gunicorn_sizing_request (what to ask gunicorn_facts) and
gunicorn_effective_size (explicit values, or the recommendation for `auto`). Docs in the YAML
files beside this one."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.djangoops.gunicorn.plugins.module_utils import sizing

AUTO = "auto"
SIZED = ("workers", "threads", "worker_class")


def gunicorn_sizing_request(sizing_options, workers, threads, worker_class, unit, memory_limits=False):
    """{'auto': whether to measure, 'options': gunicorn_facts' options}.

    Explicit values are passed to gunicorn_facts too, so the rest is sized around them. Memory
    limits from the sizing need the measured per-worker memory: they measure too.
    """
    given = dict(zip(SIZED, (workers, threads, worker_class)))
    options = dict(sizing_options or {})
    options["app"] = unit
    options.update((name, value) for name, value in given.items() if value != AUTO)
    return {"auto": AUTO in given.values() or bool(memory_limits), "options": options}


def _recommendation(results):
    """The recommendation of the last gunicorn_facts run that made one (it runs again after psutil)."""
    for result in reversed(list(results or [])):
        if not isinstance(result, Mapping):
            continue
        recommendation = result.get("ansible_facts", {}).get("gunicorn", {}).get("recommendation")
        if isinstance(recommendation, Mapping):
            return recommendation
    return {}


def gunicorn_effective_size(results, workers, threads, worker_class, memory_limits=False):
    """{'workers', 'threads', 'worker_class', 'record', 'reasons', 'memory_limits'} of the release.

    `results` are the registered gunicorn_facts results in the order they ran; `record` is what the
    release records about the size (auto, the values, which limit bound it). With `memory_limits`,
    'memory_limits' holds the unit's MemoryHigh=/MemoryMax= (sizing.unit_memory_limits), else None.
    """
    given = dict(zip(SIZED, (workers, threads, worker_class)))
    recommendation = _recommendation(results)
    size = {}
    for name, value in given.items():
        if value == AUTO:
            if name not in recommendation:
                raise AnsibleFilterError("gunicorn_effective_size: gunicorn_django_%s is auto but gunicorn_facts made "
                                         "no recommendation (was tasks/sizing.yml skipped?)" % name)
            value = recommendation[name]
        size[name] = value
    try:
        size["workers"], size["threads"] = int(size["workers"]), int(size["threads"])
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError("gunicorn_effective_size: workers and threads must be whole numbers: %s" % exc)
    size["worker_class"] = str(size["worker_class"]).strip()
    record = dict(size, auto=AUTO in given.values(), bound_by=recommendation.get("bound_by", "explicit"))
    reasons = list(recommendation.get("reasons", [])) + list(recommendation.get("warnings", []))
    limits = None
    if memory_limits:
        try:
            limits = sizing.unit_memory_limits(
                size["workers"], recommendation.get("per_worker_memory_bytes"),
                recommendation.get("reload_headroom", sizing.DEFAULT_RELOAD_HEADROOM))
        except ValueError as exc:
            raise AnsibleFilterError("gunicorn_effective_size: gunicorn_django_memory_limits needs the measured "
                                     "per-worker memory of gunicorn_facts: %s" % exc)
        record["memory_limits"] = limits
        reasons.append("memory limits of the unit: MemoryHigh=%s, MemoryMax=%s (%d workers x %d MiB per worker "
                       "(%s) x %gx reload headroom + the master)" % (
                           limits["MemoryHigh"], limits["MemoryMax"], size["workers"],
                           recommendation["per_worker_memory_bytes"] // sizing.MIB,
                           recommendation.get("per_worker_memory_source", "expected"),
                           recommendation.get("reload_headroom", sizing.DEFAULT_RELOAD_HEADROOM)))
    return dict(size, record=record, reasons=reasons, memory_limits=limits)


class FilterModule:
    def filters(self):
        return {"gunicorn_sizing_request": gunicorn_sizing_request, "gunicorn_effective_size": gunicorn_effective_size}
