#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gunicorn_release_info
short_description: List the releases of a Gunicorn app on a host, and which ones a rollback can restore
version_added: 0.2.0
description:
  - Reads what M(djangoops.gunicorn.gunicorn_release) keeps in the app's state directory and lists the newest
    releases, newest first - each with its id, when it started, what it did (kind, result, action), the app
    revision and rollout it belongs to, its code directories (resolved) and whether it is kept (the
    last-known-good release, or a history entry that C(playbooks/rollback.yml) can restore).
  - The C(djangoops.gunicorn.releases) playbook runs it on a fleet and writes the Markdown and JSON tables.
  - Read-only; never changes anything on the host (an interrupted replacement of last-known-good is left for
    the next release to finish).
author: "djangoops.gunicorn contributors (@djangoops)"
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: The module only reads; check mode lists the same.
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  app_name:
    description: Name of the app, as given to the release module.
    type: str
    required: true
  state_dir:
    description: Directory holding the apps' release state (the app's own is C(<state_dir>/<app_name>)).
    type: path
    default: /var/lib/gunicorn
  limit:
    description: How many of the newest releases to list (1 to 50; the host keeps the records of the newest 50).
    type: int
    default: 20
seealso:
  - module: djangoops.gunicorn.gunicorn_release
"""

EXAMPLES = r"""
- name: List the releases of shop
  djangoops.gunicorn.gunicorn_release_info:
    app_name: shop
  register: shop_releases

- name: Show the revision a rollback would bring back
  ansible.builtin.debug:
    msg: "{{ (shop_releases.releases | selectattr('kept', 'equalto', 'history') | first).revision }}"
"""

RETURN = r"""
releases:
  description: The newest releases, newest first.
  returned: always
  type: list
  elements: dict
  contains:
    release_id:
      description: Id of the release (of its history entry once it is kept there).
      type: str
    started:
      description: When it started (UTC, ISO 8601); null for a kept release whose record is gone.
      type: str
    kind:
      description: V(deploy) or V(rollback).
      type: str
    result:
      description: What happened (as M(djangoops.gunicorn.gunicorn_release) returns it).
      type: str
    action:
      description: What was done to the service (V(handover), V(scale), V(restart), ...).
      type: str
    healthy:
      description: Whether the service passed the health gate at the end.
      type: bool
    revision:
      description: The app revision of the release, or null.
      type: str
    rollout:
      description: The rollout id it was stamped with, or null.
      type: str
    trial:
      description: Whether it was a trial release (a tuning candidate).
      type: bool
    kept:
      description: V(last-known-good), V(history) (a rollback can restore it), or null.
      type: str
    app_dir:
      description: Its code directory, resolved, when the release recorded a revision.
      type: str
    venv:
      description: Its virtualenv, resolved, when the release recorded a revision.
      type: str
  sample:
    - {release_id: 20261202T101500Z, started: "2026-12-02T10:15:00Z", kind: deploy, result: handed_over,
       action: handover, healthy: true, revision: 4f2c9e1, rollout: 20261202T101455Z, trial: false,
       kept: last-known-good, app_dir: /srv/shop/releases/4f2c9e1/app, venv: /srv/shop/releases/4f2c9e1/venv}
"""

import os

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.djangoops.gunicorn.plugins.module_utils import layout as app_layout
from ansible_collections.djangoops.gunicorn.plugins.module_utils.release.host import HostError
from ansible_collections.djangoops.gunicorn.plugins.module_utils.release.store import Store

MAX_LIMIT = 50


def main():
    module = AnsibleModule(
        argument_spec=dict(
            app_name=dict(type="str", required=True),
            state_dir=dict(type="path", default=app_layout.DEFAULT_STATE_DIR),
            limit=dict(type="int", default=20),
        ),
        supports_check_mode=True,
    )
    params = module.params
    if not 1 <= params["limit"] <= MAX_LIMIT:
        module.fail_json(msg="limit must be from 1 to %d, got %d" % (MAX_LIMIT, params["limit"]))
    try:
        names = app_layout.app_layout(params["app_name"], state_dir=params["state_dir"])
    except ValueError as exc:
        module.fail_json(msg=str(exc))
    if not os.path.isdir(names["app_state_dir"]):
        module.exit_json(changed=False, releases=[], msg="%s: no release yet (%s does not exist)" % (
            params["app_name"], names["app_state_dir"]))
    try:
        releases = Store(names["app_state_dir"], "root", read_only=True).releases(params["limit"])
    except HostError as exc:
        module.fail_json(msg="%s: %s" % (params["app_name"], exc))
    module.exit_json(changed=False, releases=releases)


if __name__ == "__main__":
    main()
