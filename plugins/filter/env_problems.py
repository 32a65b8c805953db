# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""What is wrong with an environment mapping, without ever showing a value."""

from __future__ import annotations

DOCUMENTATION = r"""
name: env_problems
short_description: Problems of an environment mapping, naming keys but never values
version_added: 0.1.0
author: djangoops.gunicorn contributors
description:
  - Checks a mapping meant for a systemd C(EnvironmentFile) and returns one sentence per problem -
    a name that is not a valid variable name (C(^[A-Za-z_][A-Za-z0-9_]*$); systemd ignores such
    lines), a value that is not a string, number or boolean, or a value with a control character
    (a newline, a tab, ...; an environment file cannot carry it).
  - The sentences name the key but never the value, so the filter is safe on secrets.
options:
  _input:
    description: The environment, name to value.
    type: dict
    required: true
"""

EXAMPLES = r"""
- name: Refuse bad environment names and values
  ansible.builtin.assert:
    that: gunicorn_django_env | djangoops.gunicorn.env_problems | length == 0
    fail_msg: "gunicorn_django_env: {{ gunicorn_django_env | djangoops.gunicorn.env_problems | join('; ') }}"
"""

RETURN = r"""
_value:
  description: One sentence per problem; empty when the mapping is fine.
  type: list
  elements: string
"""

import json
import re
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _is_control(char):
    return ord(char) < 32 or ord(char) == 127


def env_problems(env):
    if not isinstance(env, Mapping):
        raise AnsibleFilterError("env_problems: expected a mapping, got %s" % type(env).__name__)
    problems = []
    for key, value in env.items():
        shown = json.dumps(key if isinstance(key, str) else str(key))
        if not isinstance(key, str) or not _NAME_RE.match(key):
            problems.append("%s is not a valid environment variable name (letters, digits and _, "
                            "not starting with a digit)" % shown)
        if value is None or not isinstance(value, (str, int, float, bool)):
            problems.append("the value of %s must be a string, a number or a boolean (got %s)"
                            % (shown, "null" if value is None else type(value).__name__))
        elif isinstance(value, str) and any(_is_control(char) for char in value):
            problems.append("the value of %s contains a control character (a newline, a tab, ...), "
                            "which an environment file cannot carry" % shown)
    return problems


class FilterModule:
    def filters(self):
        return {"env_problems": env_problems}
