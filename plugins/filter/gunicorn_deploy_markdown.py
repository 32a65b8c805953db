# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render a fleet rollout summary as Markdown."""

from __future__ import annotations

DOCUMENTATION = r"""
name: gunicorn_deploy_markdown
short_description: Render a fleet rollout summary as Markdown
version_added: 0.1.0
author: djangoops.gunicorn contributors
description:
  - Renders P(djangoops.gunicorn.gunicorn_deploy_summary#filter) as its headline, then a Markdown table with one
    line per host, readable as plain text too.
  - "Columns: host; batch; result (the state); the service action; changed files; healthy (V(yes), V(NO), or
    V(-) when unknown); the first 12 hex digits of the live C(gunicorn.conf.py)'s sha256; the sizing of the
    release (workers, worker class, threads, explicit or auto with the limit that bound it, V(not applied) when
    it was rolled back or rejected); detail (the failed step and why, or the release's reason)."
  - In check mode with C(--diff), the unified diff of every drifting file follows the table (secrets are
    masked by the release module).
options:
  _input:
    description: The summary from P(djangoops.gunicorn.gunicorn_deploy_summary#filter).
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Print the rollout summary
  ansible.builtin.debug:
    msg: "{{ (hostvars | djangoops.gunicorn.gunicorn_deploy_summary(ansible_play_hosts_all)
              | djangoops.gunicorn.gunicorn_deploy_markdown).splitlines() }}"
  run_once: true
"""

RETURN = r"""
_value:
  description: The headline, a blank line and the table, then the diffs if any; no trailing newline.
  type: string
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.djangoops.gunicorn.plugins.plugin_utils.deploy_summary import SummaryError, summary_markdown


def gunicorn_deploy_markdown(summary):
    try:
        return summary_markdown(summary)
    except SummaryError as exc:
        raise AnsibleFilterError("gunicorn_deploy_markdown: %s" % exc)


class FilterModule:
    def filters(self):
        return {"gunicorn_deploy_markdown": gunicorn_deploy_markdown}
