# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The winner of a measured tuning run, and why every other candidate lost."""

from __future__ import annotations

DOCUMENTATION = r"""
name: gunicorn_tune_choice
short_description: Pick the best measured Gunicorn configuration and say why the others lost
version_added: 0.1.0
author: djangoops.gunicorn contributors
description:
  - The highest throughput that meets the SLO wins; configurations within O(options.tie_pct) percent of it tie,
    and ties go to fewer processes, then fewer threads in all. Candidates ruled out by a limit or whose deploy
    failed never win.
  - Returns the winner, a verdict with a reason for every step, and how each phase's directions ended.
options:
  _input:
    description: The steps of the run (see P(djangoops.gunicorn.gunicorn_tune_next#filter)).
    type: list
    elements: dict
    required: true
  phases:
    description: The variables swept, as given to P(djangoops.gunicorn.gunicorn_tune_next#filter).
    type: list
    elements: str
    required: true
  slo:
    description: C(p95_ms), C(p99_ms) and C(max_error_rate).
    type: dict
    default: {}
  options:
    description: The tuning options, as given to P(djangoops.gunicorn.gunicorn_tune_next#filter).
    type: dict
    default: {}
    suboptions:
      tie_pct:
        description: Throughput within this many percent of the best ties; ties go to fewer processes.
        type: float
        default: 5.0
"""

EXAMPLES = r"""
- name: Pick the best configuration
  ansible.builtin.set_fact:
    tune_choice: "{{ steps | djangoops.gunicorn.gunicorn_tune_choice(['workers', 'threads'], slo) }}"
"""

RETURN = r"""
_value:
  description: The choice.
  type: dict
  contains:
    best:
      description: Id of the winning step, or null when no step met the SLO.
      type: int
    settings:
      description: C(worker_class), C(workers) and C(threads) of the winner, or null.
      type: dict
    summary:
      description: The choice in one sentence, with the baseline for comparison.
      type: str
    verdicts:
      description: Per step C(id), C(verdict) (chosen, lost, skipped, failed) and C(reason).
      type: list
      elements: dict
    stops:
      description: Per phase and direction C(variable), C(direction), C(from), C(steps) and the C(reason) it ended.
      type: list
      elements: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.djangoops.gunicorn.plugins.module_utils.tuning import TuningError, choose, direction_stops


def gunicorn_tune_choice(steps, phases, slo=None, options=None):
    try:
        result = choose(steps, slo, options)
        result["stops"] = direction_stops(steps, phases, slo, options)
    except (TuningError, KeyError, TypeError) as exc:
        raise AnsibleFilterError("gunicorn_tune_choice: %s" % exc)
    return result


class FilterModule:
    def filters(self):
        return {"gunicorn_tune_choice": gunicorn_tune_choice}
