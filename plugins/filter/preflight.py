# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""gunicorn_preflight: the role's preflight rules (plugins/module_utils/rules.py) over its variables
and the results of its read-only look-ups on the host (docs in gunicorn_preflight.yml)."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.djangoops.gunicorn.plugins.module_utils import rules


def _account_exists(result, database):
    """True/False from an ansible.builtin.getent result, None when the look-up did not run."""
    entries = (result or {}).get("ansible_facts", {}).get("getent_" + database)
    if not isinstance(entries, Mapping):
        return None
    # getent answers a uid or gid with the entry's name as the key: any entry found counts.
    return any(entry is not None for entry in entries.values())


def _stat_flag(result, flag):
    """True/False from an ansible.builtin.stat result, None when the look-up did not run."""
    stat = (result or {}).get("stat")
    if not isinstance(stat, Mapping):
        return None
    return bool(stat.get(flag, False))


def host_facts(lookups):
    """The facts rules.check reads, from the registered results of the role's look-ups."""
    lookups = lookups or {}
    return {
        "user_exists": _account_exists(lookups.get("user"), "passwd"),
        "group_exists": _account_exists(lookups.get("group"), "group"),
        "gunicorn_executable": _stat_flag(lookups.get("gunicorn"), "executable"),
        "app_dir_is_dir": _stat_flag(lookups.get("app_dir"), "isdir"),
    }


def gunicorn_preflight(inputs, lookups=None):
    if not isinstance(inputs, Mapping):
        raise AnsibleFilterError("gunicorn_preflight: expected the role's variables as a mapping, got %s"
                                 % type(inputs).__name__)
    return [problem._asdict() for problem in rules.check(inputs, host_facts(lookups))]


class FilterModule:
    def filters(self):
        return {"gunicorn_preflight": gunicorn_preflight}
