# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tuning run's filters: the host's limits, the next candidate, the choice, the report and the worst-case
budget. The planner is plugin_utils/tuning.py and the report plugin_utils/tuning_report.py; each filter's
documentation is in gunicorn_tune_*.yml next to this file."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.djangoops.gunicorn.plugins.plugin_utils.tuning import (
    TuningError, choose, direction_stops, host_limits, max_steps_total, next_step,
)
from ansible_collections.djangoops.gunicorn.plugins.plugin_utils.tuning_report import (
    markdown, snippet as render_snippet,
)


def gunicorn_tune_limits(recommendation):
    try:
        return host_limits(recommendation)
    except (KeyError, TypeError, AttributeError) as exc:
        raise AnsibleFilterError("gunicorn_tune_limits: input must be the recommendation of gunicorn_facts "
                                 "(ansible_facts.gunicorn.recommendation), missing %s" % exc)


def gunicorn_tune_next(steps, phases, limits=None, slo=None, options=None):
    try:
        return next_step(steps, phases, limits, slo, options)
    except (TuningError, KeyError, TypeError) as exc:
        raise AnsibleFilterError("gunicorn_tune_next: %s" % exc)


def gunicorn_tune_choice(steps, phases, slo=None, options=None):
    try:
        result = choose(steps, slo, options)
        result["stops"] = direction_stops(steps, phases, slo, options)
    except (TuningError, KeyError, TypeError) as exc:
        raise AnsibleFilterError("gunicorn_tune_choice: %s" % exc)
    return result


def gunicorn_tune_markdown(steps, choice, context=None, snippet=False):
    try:
        if snippet:
            return render_snippet(choice, context or {})
        return markdown(steps, choice, choice.get("stops", []), context or {})
    except (KeyError, TypeError, AttributeError) as exc:
        raise AnsibleFilterError("gunicorn_tune_markdown: the steps or the choice are not those of a tuning run "
                                 "(%s)" % exc)


def gunicorn_tune_budget(phases, options=None, seconds_per_step=0):
    try:
        candidates = max_steps_total(phases, options)
        seconds = float(seconds_per_step)
    except (TuningError, TypeError, ValueError) as exc:
        raise AnsibleFilterError("gunicorn_tune_budget: %s" % exc)
    deploys = candidates + 2
    return {"candidates": candidates, "deploys": deploys,
            "minutes": round((candidates + 1) * seconds / 60.0 + 2 * seconds / 60.0, 1)}


class FilterModule:
    def filters(self):
        return {
            "gunicorn_tune_limits": gunicorn_tune_limits,
            "gunicorn_tune_next": gunicorn_tune_next,
            "gunicorn_tune_choice": gunicorn_tune_choice,
            "gunicorn_tune_markdown": gunicorn_tune_markdown,
            "gunicorn_tune_budget": gunicorn_tune_budget,
        }
