# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The tuning report as Markdown, or the winning settings as a YAML snippet."""

from __future__ import annotations

DOCUMENTATION = r"""
name: gunicorn_tune_markdown
short_description: Render a Gunicorn tuning run as a Markdown report, or its winner as a YAML snippet
version_added: 0.1.0
author: djangoops.gunicorn contributors
description:
  - Renders the steps and the choice of a tuning run as a Markdown page (load profile, SLO, limits, the chosen
    configuration, one table row per step with its verdict, how each direction ended, the chart, the snippet).
  - With O(snippet=true), renders only the winning settings as YAML for C(host_vars) or C(group_vars).
options:
  _input:
    description: The steps of the run.
    type: list
    elements: dict
    required: true
  choice:
    description: The output of P(djangoops.gunicorn.gunicorn_tune_choice#filter).
    type: dict
    required: true
  context:
    description:
      - C(host), C(app), C(date), C(url), C(load) (C(paths), C(connections), C(warmup), C(duration)), C(slo),
        C(limits) (with a C(summary) sentence), C(chart) (file name of the PNG) and C(final) (the config the host
        was left on).
    type: dict
    default: {}
  snippet:
    description: Render only the YAML snippet of the winning settings.
    type: bool
    default: false
"""

EXAMPLES = r"""
- name: Write the report
  ansible.builtin.copy:
    content: "{{ steps | djangoops.gunicorn.gunicorn_tune_markdown(choice, context) }}"
    dest: /tmp/tune/report.md
    mode: "0644"
  delegate_to: localhost
"""

RETURN = r"""
_value:
  description: The Markdown page, or the YAML snippet.
  type: str
"""

from ansible.errors import AnsibleFilterError

from ansible_collections.djangoops.gunicorn.plugins.module_utils.tuning_report import markdown, snippet as render_snippet


def gunicorn_tune_markdown(steps, choice, context=None, snippet=False):
    try:
        if snippet:
            return render_snippet(choice, context or {})
        return markdown(steps, choice, choice.get("stops", []), context or {})
    except (KeyError, TypeError, AttributeError) as exc:
        raise AnsibleFilterError("gunicorn_tune_markdown: the steps or the choice are not those of a tuning run "
                                 "(%s)" % exc)


class FilterModule:
    def filters(self):
        return {"gunicorn_tune_markdown": gunicorn_tune_markdown}
