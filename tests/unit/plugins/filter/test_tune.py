# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tuning filters: names, and bad input refused with the filter's name (the planner has its own tests)."""

from __future__ import annotations

import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.djangoops.gunicorn.plugins.filter.tune import (
    FilterModule, gunicorn_tune_budget, gunicorn_tune_choice, gunicorn_tune_limits, gunicorn_tune_markdown,
    gunicorn_tune_next,
)
from ansible_collections.djangoops.gunicorn.plugins.module_utils import sizing
from ansible_collections.djangoops.gunicorn.plugins.module_utils.sizing import MIB


@pytest.mark.parametrize("function, name", [
    (gunicorn_tune_limits, "gunicorn_tune_limits"), (gunicorn_tune_next, "gunicorn_tune_next"),
    (gunicorn_tune_choice, "gunicorn_tune_choice"), (gunicorn_tune_markdown, "gunicorn_tune_markdown"),
    (gunicorn_tune_budget, "gunicorn_tune_budget"),
])
def test_filter_names(function, name):
    assert FilterModule().filters()[name] is function


def test_limits_of_a_memory_bound_host():
    recommendation = sizing.recommend(2, 4 * 1024 * MIB, per_worker_memory_bytes=900 * MIB, threads=1,
                                      worker_class="sync")
    limits = gunicorn_tune_limits(recommendation)
    assert limits["max_workers"] == 1 and limits["db_slots"] is None and limits["explicit_max_workers"] is None
    assert limits["memory_reason"].startswith("memory allows 1 worker at 900 MB each")
    assert limits["memory_reason"].endswith("; CPU alone would allow 5")
    assert limits["summary"] == limits["memory_reason"]


@pytest.mark.parametrize("function, args, message", [
    pytest.param(gunicorn_tune_limits, ({"workers": 3},), "gunicorn_tune_limits: input must be the recommendation",
                 id="limits-not-a-recommendation"),
    pytest.param(gunicorn_tune_limits, ("3 workers",), "gunicorn_tune_limits: ", id="limits-a-string"),
    pytest.param(gunicorn_tune_next, ([], ["workers"]), "gunicorn_tune_next: the first step must be the baseline",
                 id="next-without-baseline"),
    pytest.param(gunicorn_tune_budget, (["workers"], {"max_steps": 0}, 60), "gunicorn_tune_budget: max_steps",
                 id="budget-no-steps"),
    pytest.param(gunicorn_tune_markdown, ([], {}), "gunicorn_tune_markdown: ", id="markdown-no-choice"),
])
def test_bad_input_names_the_filter(function, args, message):
    with pytest.raises(AnsibleFilterError, match=message):
        function(*args)


def test_budget_counts_the_baseline_and_the_two_extra_deploys():
    assert gunicorn_tune_budget(["workers", "threads"], {"max_steps": 3}, 60) == {
        "candidates": 12, "deploys": 14, "minutes": 15.0}
