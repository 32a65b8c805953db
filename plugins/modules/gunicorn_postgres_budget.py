#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gunicorn_postgres_budget
short_description: Read PostgreSQL's connection budget and the connections in use, on the database host
version_added: 0.3.0
description:
  - Reads, on the PostgreSQL server's own host, what bounds the connections of the Gunicorn fleet -
    C(max_connections), C(superuser_reserved_connections) and (PostgreSQL 16 and newer) C(reserved_connections) -
    and the client connections in use from C(pg_stat_activity), by user, database and application name (its own
    connection left out).
  - Runs C(psql) over the local unix socket as the server's OS user (O(os_user), peer authentication), so no
    database password passes through the task or its result. Run it on the database host (C(delegate_to)) as
    root; the C(djangoops.gunicorn.deploy) playbook does so for every C(gunicorn_django_db_budget.server) before
    any host changes, and C(djangoops.gunicorn.baseline) when C(baseline_db_server) is set.
  - Read-only.
author: "djangoops.gunicorn contributors (@djangoops)"
requirements:
  - psql (Debian's C(postgresql-client), installed with the server)
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
  os_user:
    description:
      - OS user C(psql) runs as (with C(runuser) when the module runs as root); PostgreSQL's peer authentication
        maps it to the database role of the same name.
      - Empty to run C(psql) as the module's own user.
    type: str
    default: postgres
  port:
    description: The server's port (it also names its unix socket).
    type: int
    default: 5432
  socket_dir:
    description: Directory of the server's unix socket; empty for libpq's default (C(/var/run/postgresql) on Debian).
    type: str
    default: ""
  login_db:
    description: Database to connect to (the figures are the whole server's).
    type: str
    default: postgres
notes:
  - The module's C(psql) connection is itself a client backend; it is not counted.
seealso:
  - module: djangoops.gunicorn.gunicorn_facts
"""

EXAMPLES = r"""
- name: Read the budget on the database host
  djangoops.gunicorn.gunicorn_postgres_budget:
  delegate_to: db1
  become: true
  register: pg

- name: Show what is left
  ansible.builtin.debug:
    msg: "{{ pg.client_connections }} of {{ pg.usable }} usable connections in use"
"""

RETURN = r"""
server_version_num:
  description: C(server_version_num) of the server.
  returned: success
  type: int
  sample: 150014
max_connections:
  description: The server's C(max_connections).
  returned: success
  type: int
  sample: 40
superuser_reserved_connections:
  description: The server's C(superuser_reserved_connections).
  returned: success
  type: int
  sample: 3
reserved_connections:
  description: The server's C(reserved_connections) (PostgreSQL 16 and newer; 0 before).
  returned: success
  type: int
  sample: 0
reserved_total:
  description: Both reserved counts together.
  returned: success
  type: int
  sample: 3
usable:
  description: Connections ordinary roles may hold - C(max_connections) minus RV(reserved_total).
  returned: success
  type: int
  sample: 37
client_connections:
  description: Client backends connected now (the module's own left out).
  returned: success
  type: int
  sample: 12
by_user:
  description: Client backends by C(user), C(database) and C(application), with C(count) and C(idle), most first.
  returned: success
  type: list
  elements: dict
  sample: [{user: mysite, database: mysite, application: mysite, count: 9, idle: 9}]
by_application:
  description: Client backends by C(application) name, with C(count), most first.
  returned: success
  type: list
  elements: dict
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.djangoops.gunicorn.plugins.module_utils import postgres_budget


def main():
    module = AnsibleModule(
        argument_spec=dict(
            os_user=dict(type="str", default="postgres"),
            port=dict(type="int", default=5432),
            socket_dir=dict(type="str", default=""),
            login_db=dict(type="str", default="postgres"),
        ),
        supports_check_mode=True,
    )
    params = module.params
    psql = module.get_bin_path("psql")
    if psql is None:
        module.fail_json(msg="psql not found: run this module on the PostgreSQL host (delegate_to)")
    run_as = None
    if params["os_user"] and os.geteuid() == 0:
        run_as = module.get_bin_path("runuser", required=True)
    argv = postgres_budget.psql_argv(psql, params["os_user"] if run_as else None, params["port"],
                                     params["socket_dir"] or None, params["login_db"], run_as)
    rc, out, err = module.run_command(argv, cwd="/")
    if rc != 0:
        module.fail_json(msg="psql failed (rc=%d): %s" % (rc, " ".join((err or out or "").split())[:500]))
    try:
        budget = postgres_budget.parse(out)
    except postgres_budget.BudgetReadError as exc:
        module.fail_json(msg=str(exc))
    module.exit_json(changed=False, **budget)


if __name__ == "__main__":
    main()
