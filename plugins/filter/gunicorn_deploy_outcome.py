# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""One host's outcome of a fleet rollout, from the result of the role's release task."""

from __future__ import annotations

DOCUMENTATION = r"""
name: gunicorn_deploy_outcome
short_description: One host's rollout outcome from the result of the gunicorn_django release task
version_added: 0.1.0
author: djangoops.gunicorn contributors
description:
  - Turns the registered result of the C(djangoops.gunicorn.gunicorn_django) role's release task
    (M(djangoops.gunicorn.gunicorn_release)), the failure a C(rescue) caught (C(ansible_failed_result)) or an
    unreachable C(ansible.builtin.ping) result into a compact outcome with one RV(_value.state).
  - Used by the C(djangoops.gunicorn.deploy) playbook, which keeps it as the host fact C(deploy_outcome) for
    P(djangoops.gunicorn.gunicorn_deploy_verdict#filter) and P(djangoops.gunicorn.gunicorn_deploy_summary#filter).
  - The check mode diff of the release (secrets already masked by the module) becomes unified diff text.
options:
  _input:
    description:
      - The release task's result, C(ansible_failed_result) in a C(rescue), or a ping result.
      - An empty dict (or null) stands for a release task that did not run.
    type: dict
    required: true
  failed_task:
    description: Name of the task that failed (C(ansible_failed_task.name)), for failures outside the release.
    type: str
"""

EXAMPLES = r"""
- name: Release
  block:
    - name: Apply the role
      ansible.builtin.include_role:
        name: djangoops.gunicorn.gunicorn_django

    - name: Keep the outcome
      ansible.builtin.set_fact:
        deploy_outcome: "{{ __gunicorn_django_release | djangoops.gunicorn.gunicorn_deploy_outcome }}"
  rescue:
    - name: Keep the failure
      ansible.builtin.set_fact:
        deploy_outcome: >-
          {{ ansible_failed_result
             | djangoops.gunicorn.gunicorn_deploy_outcome(failed_task=ansible_failed_task.name) }}
"""

RETURN = r"""
_value:
  description: The host's outcome.
  type: dict
  contains:
    state:
      description:
        - V(started), V(reloaded), V(restarted) or V(unchanged) after a healthy release;
          V(would start), V(would reload), V(would restart) or V(would resocket) (any V(would ...) the release
          module returns) in check mode when the live files or service differ from the inventory (drift);
          V(rolled back) (went live, failed the health gate, last-known-good restored), V(rejected) (stopped
          before going live), V(failed) (anything else that failed), V(unreachable), or V(skipped) (the release
          task did not run, for example because of tags).
      type: str
    failed:
      description: Whether the state counts as a failure (rolled back, rejected, failed, unreachable).
      type: bool
    drift:
      description: Whether the state is a check mode V(would ...) state.
      type: bool
    result:
      description: The release module's own C(result), null when it did not run.
      type: str
    service_action:
      description: V(none), V(start), V(reload) or V(restart), as the release module returned it.
      type: str
    changed_files:
      description: Managed files whose content changed (or would change).
      type: list
      elements: str
    healthy:
      description: Whether the service passed the health gate at the end; null when unknown (check mode).
      type: bool
    rolled_back:
      description: Whether last-known-good was restored.
      type: bool
    reason:
      description: Why the release module chose its action.
      type: str
    step:
      description: The release step that failed (C(error.step)), null otherwise.
      type: str
    task:
      description: The O(failed_task).
      type: str
    message:
      description: First line of the failure summary or of the module's message.
      type: str
    evidence:
      description: The last journal lines the release module attached to a failure.
      type: list
      elements: str
    release_id:
      description: Id of the release record written on the host.
      type: str
    sizing:
      description: Workers, threads, worker class, C(auto) and C(bound_by) of the release (from its record).
      type: dict
    sizing_applied:
      description: Whether that sizing is what runs now (false after a rollback or rejection).
      type: bool
    recovered:
      description: What the release module did about an earlier interrupted release, if anything.
      type: dict
    diff:
      description: Check mode with C(--diff) only, one entry per changed file with C(path) and C(unified) text.
      type: list
      elements: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.djangoops.gunicorn.plugins.plugin_utils.deploy_summary import SummaryError, host_outcome


def gunicorn_deploy_outcome(result, failed_task=None):
    try:
        return host_outcome(result, failed_task=failed_task)
    except SummaryError as exc:
        raise AnsibleFilterError("gunicorn_deploy_outcome: %s" % exc)


class FilterModule:
    def filters(self):
        return {"gunicorn_deploy_outcome": gunicorn_deploy_outcome}
