# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The role's effective size: what it asks gunicorn_facts, and what it releases."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.djangoops.gunicorn.plugins.filter.sizing import FilterModule

FILTERS = FilterModule().filters()
UNIT = "gunicorn-mysite.service"
SKIPPED = {"changed": False, "skipped": True}
PSUTIL_MISSING = {"failed": True, "psutil_missing": True, "msg": "psutil is missing"}
MEASURED = {"ansible_facts": {"gunicorn": {"recommendation": {
    "workers": 5, "threads": 2, "worker_class": "gthread", "bound_by": "memory",
    "reasons": ["memory allows 5 workers"], "warnings": ["no database budget"]}}}}


@pytest.mark.parametrize(
    "workers, threads, worker_class, auto, explicit",
    [
        (3, 1, "sync", False, {"workers": 3, "threads": 1, "worker_class": "sync"}),
        ("auto", 1, "sync", True, {"threads": 1, "worker_class": "sync"}),
        ("auto", "auto", "auto", True, {}),
    ],
)
def test_sizing_request(workers, threads, worker_class, auto, explicit):
    request = FILTERS["gunicorn_sizing_request"]({"profile": "io", "app": "ignored"}, workers, threads, worker_class,
                                                 UNIT)
    assert request == {"auto": auto, "options": dict({"profile": "io", "app": UNIT}, **explicit)}


def test_explicit_values_are_taken_as_they_are():
    size = FILTERS["gunicorn_effective_size"]([SKIPPED, SKIPPED], "3", 1, " sync ")
    assert size == {"workers": 3, "threads": 1, "worker_class": "sync", "reasons": [], "memory_limits": None,
                    "record": {"auto": False, "workers": 3, "threads": 1, "worker_class": "sync",
                               "bound_by": "explicit"}}


@pytest.mark.parametrize("results", [[MEASURED, SKIPPED], [PSUTIL_MISSING, MEASURED], [MEASURED, {}]])
def test_auto_takes_the_last_recommendation(results):
    size = FILTERS["gunicorn_effective_size"](results, "auto", 1, "auto")
    assert (size["workers"], size["threads"], size["worker_class"]) == (5, 1, "gthread")
    assert size["record"] == {"auto": True, "workers": 5, "threads": 1, "worker_class": "gthread",
                              "bound_by": "memory"}
    assert size["reasons"] == ["memory allows 5 workers", "no database budget"]


def test_auto_without_a_recommendation_says_why():
    with pytest.raises(AnsibleFilterError, match="gunicorn_django_workers is auto but gunicorn_facts made no"):
        FILTERS["gunicorn_effective_size"]([PSUTIL_MISSING, SKIPPED], "auto", 1, "sync")


def test_memory_limits_measure_and_come_from_the_measured_worker_memory():
    assert FILTERS["gunicorn_sizing_request"]({}, 3, 1, "sync", UNIT, True)["auto"] is True
    measured = {"ansible_facts": {"gunicorn": {"recommendation": dict(
        MEASURED["ansible_facts"]["gunicorn"]["recommendation"], per_worker_memory_bytes=100 * 1024 * 1024,
        per_worker_memory_source="measured", reload_headroom=2.0)}}}
    size = FILTERS["gunicorn_effective_size"]([measured], 3, 1, "sync", True)
    assert size["memory_limits"] == {"MemoryHigh": "664M", "MemoryMax": "830M"}
    assert size["record"]["memory_limits"] == size["memory_limits"]
    assert any("MemoryHigh=664M" in reason and "(measured)" in reason for reason in size["reasons"])
    assert FILTERS["gunicorn_effective_size"]([measured], 3, 1, "sync")["memory_limits"] is None


def test_memory_limits_without_a_measurement_say_why():
    with pytest.raises(AnsibleFilterError, match="gunicorn_django_memory_limits needs the measured"):
        FILTERS["gunicorn_effective_size"]([SKIPPED], 3, 1, "sync", True)
