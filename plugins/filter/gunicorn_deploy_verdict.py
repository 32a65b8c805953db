# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a rollout goes on after a serial batch."""

from __future__ import annotations

DOCUMENTATION = r"""
name: gunicorn_deploy_verdict
short_description: Whether a fleet rollout goes on after a serial batch
version_added: 0.1.0
author: djangoops.gunicorn contributors
description:
  - Reads the C(deploy_outcome) fact (see P(djangoops.gunicorn.gunicorn_deploy_outcome#filter)) of every host of
    a serial batch and says whether the rollout stops there.
  - The rollout stops when more than O(max_fail_percentage) percent of the batch's hosts failed (rolled back,
    rejected, failed or unreachable), or when every host of the batch failed (as Ansible ends a serial play when
    a whole batch fails). A host of the batch without C(deploy_outcome) dropped out of the play on its own and
    counts as failed.
  - "The C(djangoops.gunicorn.deploy) playbook records failures with C(rescue), which hides them from Ansible's
    own C(max_fail_percentage); this filter applies the same rule to the recorded outcomes instead, so the play
    can end with C(meta: end_play) and the summary play still runs."
options:
  _input:
    description: Variables of each host by host name, usually C(hostvars).
    type: dict
    required: true
  batch:
    description: The hosts of the batch, usually the C(deploy_batch) fact (C(ansible_play_batch) at its start).
    type: list
    elements: str
    required: true
  max_fail_percentage:
    description: Percentage of a batch's hosts that may fail without stopping the rollout (V(0) to V(100)).
    type: raw
    default: 0
"""

EXAMPLES = r"""
- name: Stop the rollout when this batch failed
  ansible.builtin.meta: end_play
  when: (hostvars | djangoops.gunicorn.gunicorn_deploy_verdict(deploy_batch, 0)).stop
"""

RETURN = r"""
_value:
  description: The verdict.
  type: dict
  contains:
    hosts:
      description: The hosts of the batch.
      type: list
      elements: str
    failed:
      description: Each failed host with C(host), C(state) and C(message).
      type: list
      elements: dict
    failed_percentage:
      description: Percentage of the batch that failed, one decimal.
      type: float
    max_fail_percentage:
      description: The allowed percentage.
      type: float
    stop:
      description: Whether the rollout stops after this batch.
      type: bool
    reason:
      description: The verdict in one sentence.
      type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.djangoops.gunicorn.plugins.plugin_utils.deploy_summary import SummaryError, batch_verdict


def gunicorn_deploy_verdict(host_vars, batch, max_fail_percentage=0):
    try:
        return batch_verdict(host_vars, batch, max_fail_percentage)
    except SummaryError as exc:
        raise AnsibleFilterError("gunicorn_deploy_verdict: %s" % exc)


class FilterModule:
    def filters(self):
        return {"gunicorn_deploy_verdict": gunicorn_deploy_verdict}
