# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""gunicorn_preflight: the role's preflight rules (plugins/module_utils/rules.py) over its variables;
gunicorn_proxy_preflight: the proxy's real configuration (plugins/module_utils/proxy_rules.py). Docs in
gunicorn_preflight.yml and gunicorn_proxy_preflight.yml."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.djangoops.gunicorn.plugins.module_utils import proxy_rules, rules


def gunicorn_preflight(inputs):
    if not isinstance(inputs, Mapping):
        raise AnsibleFilterError("gunicorn_preflight: expected the role's variables as a mapping, got %s"
                                 % type(inputs).__name__)
    return [problem._asdict() for problem in rules.check(inputs)]


def gunicorn_proxy_preflight(routes_result, proxy, bind, timeout):
    checked = proxy_rules.proxy_check(proxy, routes_result, bind, timeout)
    return dict(checked, problems=[problem._asdict() for problem in checked["problems"]])


class FilterModule:
    def filters(self):
        return {"gunicorn_preflight": gunicorn_preflight, "gunicorn_proxy_preflight": gunicorn_proxy_preflight}
