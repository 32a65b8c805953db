# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Whether a path lies in one of some directories (for ReadWritePaths= of a sandboxed unit)."""

from __future__ import annotations

DOCUMENTATION = r"""
name: path_within
short_description: Whether an absolute path is one of, or lies under one of, some directories
version_added: 0.1.0
author: djangoops.gunicorn contributors
description:
  - Normalises the path and the directories (C(..), C(//), a trailing C(/)) and returns true when
    the path equals one of them or lies below one of them. Relative paths are never within.
  - The C(-) and C(+) prefixes of systemd's C(ReadWritePaths=) are ignored on the directories.
options:
  _input:
    description: The path.
    type: str
    required: true
  directories:
    description: The directories.
    type: list
    elements: str
    required: true
"""

EXAMPLES = r"""
- name: A log file the sandbox lets the service write
  ansible.builtin.assert:
    that: "'/var/log/mysite/access.log' | djangoops.gunicorn.path_within(['/var/log/mysite'])"
"""

RETURN = r"""
_value:
  description: True when the path is within one of the directories.
  type: bool
"""

import posixpath


def _normal(path, systemd_prefixes=False):
    if not isinstance(path, str):
        return None
    if systemd_prefixes:
        path = path.lstrip("-+")
    if not path.startswith("/"):
        return None
    normal = posixpath.normpath(path)
    # POSIX keeps a leading "//"; the kernel does not.
    return "/" + normal.lstrip("/")


def path_within(path, directories):
    target = _normal(path)
    if target is None:
        return False
    for directory in directories or []:
        parent = _normal(directory, systemd_prefixes=True)
        if parent is None:
            continue
        if target == parent or target.startswith(parent.rstrip("/") + "/"):
            return True
    return False


class FilterModule:
    def filters(self):
        return {"path_within": path_within}
