# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Render data as Python source, for templating gunicorn.conf.py safely."""

from __future__ import annotations

DOCUMENTATION = r"""
name: python_literal
short_description: Render a value as a Python literal
version_added: 0.1.0
author: djangoops.gunicorn contributors
description:
  - Renders strings, numbers, booleans, None, lists and dicts as Python source that evaluates
    back to the same value, so C(gunicorn.conf.py) is valid Python whatever the input holds
    (quotes, backslashes, newlines). JSON is not Python (C(true), C(null)); this filter is.
  - Jinja2 "native" and Ansible's lazy types are converted to plain Python types first.
options:
  _input:
    description: The value to render.
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Render a setting
  ansible.builtin.debug:
    msg: "preload_app = {{ false | djangoops.gunicorn.python_literal }}"  # preload_app = False
"""

RETURN = r"""
_value:
  description: Python source for the value.
  type: string
"""

from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError


def _plain(value):
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, Mapping):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, Sequence):
        return [_plain(item) for item in value]
    raise AnsibleFilterError(
        "python_literal: cannot render a value of type %s as Python" % type(value).__name__
    )


def python_literal(value):
    return repr(_plain(value))


class FilterModule:
    def filters(self):
        return {"python_literal": python_literal}
