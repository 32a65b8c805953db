# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet's database connection budget (playbooks/db_budget.yml): gunicorn_db_budget checks it,
gunicorn_db_servers names the PostgreSQL servers to read it from. The logic is in
plugin_utils/db_budget.py; each filter's documentation is in its YAML file next to this one."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.djangoops.gunicorn.plugins.plugin_utils.db_budget import BudgetError, check, servers

KEYS = ("gunicorn_django_db_budget", "gunicorn_django_workers", "gunicorn_django_threads",
        "gunicorn_django_worker_class", "gunicorn_django_sizing")


def _plain(host_vars, hosts):
    """Only the variables the budget reads, per host (each is templated when read)."""
    plain = {}
    for host in hosts:
        values = host_vars.get(host) if isinstance(host_vars, Mapping) else None
        values = values if isinstance(values, Mapping) else {}
        plain[host] = dict((key, values[key]) for key in KEYS if key in values)
    return plain


def gunicorn_db_budget(host_vars, inventory_hosts, rollout_hosts, serial, live=None):
    try:
        return check(_plain(host_vars, inventory_hosts), list(inventory_hosts), list(rollout_hosts), serial,
                     live=(live or {}).get("results", []) if isinstance(live, Mapping) else live)
    except BudgetError as exc:
        raise AnsibleFilterError("gunicorn_db_budget: %s" % exc)


def gunicorn_db_servers(host_vars, hosts):
    return servers(_plain(host_vars, hosts), list(hosts))


class FilterModule:
    def filters(self):
        return {"gunicorn_db_budget": gunicorn_db_budget, "gunicorn_db_servers": gunicorn_db_servers}
