# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet rollout's filters: one host's outcome, the verdict after a serial batch, the end-of-run summary
and its Markdown. The logic is in plugin_utils/deploy_summary.py; each filter's documentation is in
gunicorn_deploy_*.yml next to this file."""

from __future__ import annotations

from ansible.errors import AnsibleFilterError

from ansible_collections.djangoops.gunicorn.plugins.plugin_utils.deploy_summary import (
    SummaryError, batch_verdict, host_outcome, rollout_summary, summary_markdown,
)


def gunicorn_deploy_outcome(result, failed_task=None):
    try:
        return host_outcome(result, failed_task=failed_task)
    except SummaryError as exc:
        raise AnsibleFilterError("gunicorn_deploy_outcome: %s" % exc)


def gunicorn_deploy_verdict(host_vars, batch, max_fail_percentage=0):
    try:
        return batch_verdict(host_vars, batch, max_fail_percentage)
    except SummaryError as exc:
        raise AnsibleFilterError("gunicorn_deploy_verdict: %s" % exc)


def gunicorn_deploy_summary(host_vars, hosts, check_mode=False):
    try:
        return rollout_summary(host_vars, hosts, check_mode=bool(check_mode))
    except SummaryError as exc:
        raise AnsibleFilterError("gunicorn_deploy_summary: %s" % exc)


def gunicorn_deploy_markdown(summary):
    try:
        return summary_markdown(summary)
    except SummaryError as exc:
        raise AnsibleFilterError("gunicorn_deploy_markdown: %s" % exc)


class FilterModule:
    def filters(self):
        return {
            "gunicorn_deploy_outcome": gunicorn_deploy_outcome,
            "gunicorn_deploy_verdict": gunicorn_deploy_verdict,
            "gunicorn_deploy_summary": gunicorn_deploy_summary,
            "gunicorn_deploy_markdown": gunicorn_deploy_markdown,
        }
