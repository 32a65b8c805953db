# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The end-of-run summary of a fleet rollout, one row per host."""

from __future__ import annotations

DOCUMENTATION = r"""
name: gunicorn_deploy_summary
short_description: End-of-run summary of a fleet rollout, one row per host
version_added: 0.1.0
author: djangoops.gunicorn contributors
description:
  - Builds the summary of a C(djangoops.gunicorn.deploy) run from the facts the playbook left on each host,
    C(deploy_batch) (the hosts of its serial batch), C(deploy_outcome) (see
    P(djangoops.gunicorn.gunicorn_deploy_outcome#filter)) and C(deploy_live_config) (C(ansible.builtin.stat) of
    the live C(gunicorn.conf.py)).
  - A host of O(hosts) without C(deploy_batch) was never reached (the rollout stopped before its batch) and gets
    the state V(not reached). A host with a batch but no outcome dropped out of the play and gets V(failed).
  - Batches are numbered in the order they ran.
  - P(djangoops.gunicorn.gunicorn_deploy_markdown#filter) renders the summary.
options:
  _input:
    description: Variables of each host by host name, usually C(hostvars).
    type: dict
    required: true
  hosts:
    description: Every host of the rollout in play order, usually C(ansible_play_hosts_all).
    type: list
    elements: str
    required: true
  check_mode:
    description: Whether this was a drift check (C(--check)); it only changes RV(_value.mode) and the headline.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Print the rollout summary
  ansible.builtin.debug:
    msg: "{{ (hostvars | djangoops.gunicorn.gunicorn_deploy_summary(ansible_play_hosts_all)).headline }}"
  run_once: true
"""

RETURN = r"""
_value:
  description: The summary.
  type: dict
  contains:
    mode:
      description: V(deploy) or V(check).
      type: str
    headline:
      description: "The run in one sentence, for example V(Rollout stopped after batch 2: 1 reloaded, 1 rolled back,
        2 not reached)."
      type: str
    hosts:
      description: Number of hosts in the rollout.
      type: int
    batches:
      description: Number of batches that ran.
      type: int
    stopped:
      description: Whether the rollout stopped before reaching every host.
      type: bool
    stopped_after_batch:
      description: The last batch that ran when the rollout stopped, else null.
      type: int
    counts:
      description: Number of hosts per state, for the states that occur.
      type: dict
    failed:
      description: Hosts whose state is a failure (rolled back, rejected, failed, unreachable).
      type: list
      elements: str
    drift:
      description: Hosts whose live files or service differ from the inventory (check mode V(would ...) states).
      type: list
      elements: str
    not_reached:
      description: Hosts the rollout never reached.
      type: list
      elements: str
    ok:
      description: Whether every host was reached and none failed.
      type: bool
    rows:
      description:
        - One row per host, in the order of O(hosts), with C(host), C(batch) (null when not reached),
          C(live_config_sha256) (null when the file is absent or unknown) and every key of
          P(djangoops.gunicorn.gunicorn_deploy_outcome#filter) (C(state), C(service_action), C(changed_files),
          C(healthy), C(step), C(message), C(sizing), C(sizing_applied), C(diff), ...).
      type: list
      elements: dict
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.djangoops.gunicorn.plugins.plugin_utils.deploy_summary import SummaryError, rollout_summary


def gunicorn_deploy_summary(host_vars, hosts, check_mode=False):
    try:
        return rollout_summary(host_vars, hosts, check_mode=bool(check_mode))
    except SummaryError as exc:
        raise AnsibleFilterError("gunicorn_deploy_summary: %s" % exc)


class FilterModule:
    def filters(self):
        return {"gunicorn_deploy_summary": gunicorn_deploy_summary}
