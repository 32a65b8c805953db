# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The next candidate of a measured tuning run."""

from __future__ import annotations

DOCUMENTATION = r"""
name: gunicorn_tune_next
short_description: The next Gunicorn configuration to measure in a tuning run, one variable at a time
version_added: 0.1.0
author: djangoops.gunicorn contributors
description:
  - Given the steps measured so far (the baseline first), returns the next candidate of a tuning run, or
    C(done).
  - "Each phase changes one variable (V(workers), then V(threads) with the C(gthread) worker class) starting from
    the best configuration found so far, first upwards then downwards. A direction stops as soon as errors go up,
    p95 gets worse by more than O(options.tolerance_pct), the SLO is missed, throughput gains less than
    O(options.min_gain_pct) (upwards) or drops by more than O(options.tolerance_pct) (downwards), the candidate
    would cross a limit, its deploy failed, or it took O(options.max_steps) steps."
  - A candidate that would cross a limit comes back with status C(skipped) and the reason; record it without
    measuring it.
  - Used by the P(djangoops.gunicorn.gunicorn_tune#role) role; the model is in C(docs/tuning.md).
options:
  _input:
    description: The steps so far (see C(plugins/module_utils/tuning.py) for their keys); the first is the baseline.
    type: list
    elements: dict
    required: true
  phases:
    description: The variables to sweep, in order (V(workers), V(threads)); a variable may come again.
    type: list
    elements: str
    required: true
  limits:
    description:
      - C(max_workers) (memory with reload headroom), C(memory_reason), C(db_slots) (database connections, one per
        thread) and C(explicit_max_workers); missing or null limits are not checked.
    type: dict
    default: {}
  slo:
    description: C(p95_ms), C(p99_ms) (null for none) and C(max_error_rate) (0 to 1).
    type: dict
    default: {}
  options:
    description: How the run moves and when a direction stops.
    type: dict
    default: {}
    suboptions:
      workers_step:
        description: Workers added or removed per step.
        type: int
        default: 1
      max_steps:
        description: Steps at most in one direction of a phase.
        type: int
        default: 3
      max_threads:
        description: Threads per worker at most.
        type: int
        default: 16
      min_gain_pct:
        description: Throughput gain in percent an upward step needs to go on.
        type: float
        default: 5.0
      tolerance_pct:
        description: How much worse in percent p95 (and, downwards, throughput) may get before a direction stops.
        type: float
        default: 10.0
      tie_pct:
        description: Throughput within this many percent of the best ties (see P(djangoops.gunicorn.gunicorn_tune_choice#filter)).
        type: float
        default: 5.0
"""

EXAMPLES = r"""
- name: Plan the next candidate
  ansible.builtin.set_fact:
    next_candidate: "{{ steps | djangoops.gunicorn.gunicorn_tune_next(['workers', 'threads'], limits, slo) }}"
"""

RETURN = r"""
_value:
  description: C({"done" true}), or C(done) false and the C(step) to record (status C(candidate) or C(skipped)).
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.djangoops.gunicorn.plugins.module_utils.tuning import TuningError, next_step


def gunicorn_tune_next(steps, phases, limits=None, slo=None, options=None):
    try:
        return next_step(steps, phases, limits, slo, options)
    except (TuningError, KeyError, TypeError) as exc:
        raise AnsibleFilterError("gunicorn_tune_next: %s" % exc)


class FilterModule:
    def filters(self):
        return {"gunicorn_tune_next": gunicorn_tune_next}
