# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The worst case of a tuning run: how many deploys and how long."""

from __future__ import annotations

DOCUMENTATION = r"""
name: gunicorn_tune_budget
short_description: The worst-case number of steps and duration of a Gunicorn tuning run
version_added: 0.1.0
author: djangoops.gunicorn contributors
description:
  - A tuning run measures at most C(max_steps) candidates per direction (up and down) and phase, plus the
    baseline, and deploys twice more (the inventory's settings first, the final settings last). Returns that bound
    and how long it would take, so a run can be refused before it starts.
options:
  _input:
    description: The phases (variables) of the run.
    type: list
    elements: str
    required: true
  options:
    description: The tuning options (C(max_steps)).
    type: dict
    default: {}
  seconds_per_step:
    description: Seconds of one candidate (deploy, warm-up and measured run).
    type: float
    required: true
"""

EXAMPLES = r"""
- name: Refuse a run that could take more than an hour
  ansible.builtin.assert:
    that: "(['workers', 'threads'] | djangoops.gunicorn.gunicorn_tune_budget({'max_steps': 3}, 55)).minutes <= 60"
"""

RETURN = r"""
_value:
  description: C(candidates) (most candidates measured), C(deploys) (most deploys) and C(minutes) (worst case).
  type: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.djangoops.gunicorn.plugins.module_utils.tuning import TuningError, max_steps_total


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
        return {"gunicorn_tune_budget": gunicorn_tune_budget}
