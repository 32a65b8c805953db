#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gunicorn_nginx_routes
short_description: Read which Nginx locations proxy to a Gunicorn bind, and their proxy_read_timeout
version_added: 0.3.0
description:
  - Runs C(nginx -T) (Nginx checks and prints its whole configuration, every included file) and finds every
    C(location) whose C(proxy_pass) reaches O(bind), directly or through an C(upstream) block, over TCP or a unix
    socket.
  - For each, the C(proxy_read_timeout) Nginx applies - the location's, else the server's, else the C(http)
    block's, else Nginx's default of 60 seconds.
  - The P(djangoops.gunicorn.gunicorn_django#role) role runs it before its preflight checks when
    C(gunicorn_django_proxy) is C(nginx), so that the rule "the proxy's read timeout must exceed Gunicorn's
    C(timeout)" uses the proxy's real configuration.
  - Read-only.
author: "djangoops.gunicorn contributors (@djangoops)"
requirements:
  - nginx on the host (run as root, so that it can read its configuration)
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: The module only reads; check mode reads the same.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  bind:
    description: The Gunicorn bind the proxy should reach (C(127.0.0.1:8000), C(unix:/run/mysite.sock)).
    type: str
    required: true
  nginx:
    description: The nginx binary.
    type: str
    default: nginx
"""

EXAMPLES = r"""
- name: Read the proxy's timeouts towards the app
  djangoops.gunicorn.gunicorn_nginx_routes:
    bind: 127.0.0.1:8000
  become: true
  register: proxy

- name: Show the shortest read timeout
  ansible.builtin.debug:
    msg: "{{ proxy.read_timeout }} s"
"""

RETURN = r"""
routes:
  description: The locations that reach O(bind), each with C(server_name), C(listen), C(location), C(proxy_pass),
    C(targets) (addresses behind it) and C(read_timeout) (seconds).
  returned: success
  type: list
  elements: dict
  sample: [{server_name: www.example.com, listen: "80", location: "/", proxy_pass: "http://127.0.0.1:8000",
            targets: ["127.0.0.1:8000"], read_timeout: 60.0}]
read_timeout:
  description: The shortest C(read_timeout) of RV(routes), in whole seconds rounded down; null when no location
    reaches O(bind).
  returned: success
  type: int
  sample: 60
"""

import math

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.djangoops.gunicorn.plugins.module_utils import nginx_config


def main():
    module = AnsibleModule(
        argument_spec=dict(bind=dict(type="str", required=True), nginx=dict(type="str", default="nginx")),
        supports_check_mode=True,
    )
    nginx = module.get_bin_path(module.params["nginx"])
    if nginx is None:
        module.fail_json(msg="%s not found on the host: gunicorn_django_proxy names nginx" % module.params["nginx"])
    rc, out, err = module.run_command([nginx, "-T", "-q"], cwd="/")
    if rc != 0:
        module.fail_json(msg="nginx -T failed (rc=%d): %s" % (rc, " ".join((err or out or "").split())[:500]))
    try:
        routes = nginx_config.routes_to(out, module.params["bind"])
    except nginx_config.NginxConfigError as exc:
        module.fail_json(msg="cannot read nginx -T: %s" % exc)
    shortest = min((route["read_timeout"] for route in routes), default=None)
    module.exit_json(changed=False, routes=routes,
                     read_timeout=None if shortest is None else int(math.floor(shortest)))


if __name__ == "__main__":
    main()
