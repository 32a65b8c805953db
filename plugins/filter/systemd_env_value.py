# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Quote a value for a systemd EnvironmentFile line."""

from __future__ import annotations

DOCUMENTATION = r"""
name: systemd_env_value
short_description: Quote a value for a systemd EnvironmentFile
version_added: 0.1.0
author: djangoops.gunicorn contributors
description:
  - Returns the value in double quotes with C(\\), C(") and C($) escaped, so that systemd
    reads back exactly the given string (systemd expands C($VAR) in environment files).
  - Fails on control characters such as newlines, which an environment file cannot carry.
options:
  _input:
    description: The value; numbers and booleans are converted to strings.
    type: raw
    required: true
"""

EXAMPLES = r"""
- name: Render one line of an environment file
  ansible.builtin.debug:
    msg: "DJANGO_SECRET_KEY={{ 'p$a\"ss' | djangoops.gunicorn.systemd_env_value }}"
"""

RETURN = r"""
_value:
  description: The quoted value.
  type: string
"""

from ansible.errors import AnsibleFilterError

_ESCAPED = {"\\": "\\\\", '"': '\\"', "$": "\\$", "`": "\\`"}


def systemd_env_value(value):
    if isinstance(value, bool):
        text = "true" if value else "false"
    else:
        text = str(value)
    if any(ord(char) < 32 or ord(char) == 127 for char in text):
        raise AnsibleFilterError(
            "systemd_env_value: environment values cannot contain control characters (newlines, tabs)"
        )
    return '"%s"' % "".join(_ESCAPED.get(char, char) for char in text)


class FilterModule:
    def filters(self):
        return {"systemd_env_value": systemd_env_value}
