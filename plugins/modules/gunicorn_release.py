#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gunicorn_release
short_description: Validate, canary-boot, apply and health-gate a Gunicorn release, rolling back on failure
version_added: 0.1.0
description:
  - Runs one release of a Gunicorn service as a transaction on the host, so that a bad change is
    stopped before it goes live or rolled back within seconds, even if the controller's connection
    drops mid-deploy.
  - Validates the candidate files in the app's real context (C(gunicorn --check-config) as the
    service user, in its working directory, with its environment files, through C(systemd-run)),
    checks the bind address (a port taken by another process, an invalid port), then boots the
    candidate as a canary unit on a private unix socket and runs the health checks against it.
  - Promotes the candidate, then applies it the cheapest safe way (nothing, HUP, restart or start),
    and gates on health (service active, same master after a HUP, the expected number of new
    workers, every health check passing before the deadline).
  - On failure restores the last-known-good files, restarts (a failed HUP may have killed the
    master), gates again and fails with a report naming the step that failed.
  - Keeps the last-known-good release, a short history and release records under O(state_dir).
  - Used by the C(djangoops.gunicorn.gunicorn_django) role, which renders the files.
author: "djangoops.gunicorn contributors (@djangoops)"
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reports the files that would change and the action that would be taken.
  diff_mode:
    support: full
    details: Secret environment contents are never shown, only that they changed.
  platform:
    platforms: posix
options:
  app_name:
    description: Name of the app, used in messages and records.
    type: str
    required: true
  unit_name:
    description: The live systemd unit.
    type: str
    required: true
  canary_unit_name:
    description: Name of the transient canary unit (installed under C(/run/systemd/system)).
    type: str
    required: true
  config:
    description: Content of C(gunicorn.conf.py).
    type: str
    required: true
  unit:
    description: Content of the systemd unit.
    type: str
    required: true
  app_env:
    description: Content of the plain environment file.
    type: str
    required: true
  secret_env:
    description: Content of the secret environment file. Never logged or shown in diffs.
    type: str
    required: true
  socket:
    description:
      - Content of the socket-activation unit (C(gunicorn-<app>.socket)); systemd then holds the
        listening socket, so restarts queue connections instead of refusing them.
      - Empty means no socket activation (an existing socket unit is stopped and removed).
    type: str
    default: ""
  canary_unit:
    description: Content of the canary unit, which boots the candidate from O(state_dir)C(/candidate/).
    type: str
  paths:
    description: Live paths of the managed files.
    type: dict
    required: true
    suboptions:
      config:
        description: Live C(gunicorn.conf.py).
        type: path
        required: true
      unit:
        description: Live unit file.
        type: path
        required: true
      app_env:
        description: Live plain environment file.
        type: path
        required: true
      secret_env:
        description: Live secret environment file.
        type: path
        required: true
      socket:
        description: Live socket unit; defaults to the unit's path with C(.socket).
        type: path
  state_dir:
    description: Directory of the candidate, last-known-good, history and records of this app.
    type: path
    required: true
  user:
    description: Service user; the checks run as this user.
    type: str
    required: true
  group:
    description: Service group; it may read the config files.
    type: str
    required: true
  app_dir:
    description: The app's working directory.
    type: path
    required: true
  venv:
    description: The app's virtualenv, with C(bin/gunicorn).
    type: path
    required: true
  bind:
    description: The live bind address (V(127.0.0.1:8000), V(unix:/run/app.sock)); health checks go there.
    type: str
    required: true
  workers:
    description: Number of workers the health gate expects.
    type: int
    required: true
  health_checks:
    description: Requests that must pass; each has C(path), optional C(status) (default 200) and C(contains).
    type: list
    elements: dict
    required: true
  health_timeout:
    description: Seconds the health gate (and the canary) may take.
    type: int
    default: 30
  canary:
    description: Boot the candidate on a private socket and check its health before it goes live.
    type: bool
    default: true
  canary_socket:
    description: Unix socket the canary unit binds (must match O(canary_unit)).
    type: path
  rollback:
    description: Restore last-known-good and restart when the health gate fails.
    type: bool
    default: true
  history_size:
    description: Earlier last-known-good releases kept under O(state_dir)C(/history/).
    type: int
    default: 5
  extra_setting_names:
    description: Setting names given as extra settings, checked against C(gunicorn.config.KNOWN_SETTINGS) of O(venv).
    type: list
    elements: str
    default: []
  lock_timeout:
    description: Seconds to wait for another release of the same app to finish.
    type: int
    default: 120
  sizing:
    description: Sizing inputs and results, stored as-is in the release record.
    type: dict
    default: {}
  state:
    description:
      - V(present) deploys the given files.
      - V(rolled_back) ignores the given files and restores the last-known-good release (or the
        history entry O(rollback_to)), with the same validation, canary and health gate.
    type: str
    choices: [present, rolled_back]
    default: present
  rollback_to:
    description: History entry (a release id under O(state_dir)C(/history/)) for O(state=rolled_back).
    type: str
notes:
  - Needs systemd on the host and root privileges.
seealso:
  - module: djangoops.gunicorn.gunicorn_facts
"""

EXAMPLES = r"""
- name: Release mysite (normally done by the gunicorn_django role)
  djangoops.gunicorn.gunicorn_release:
    app_name: mysite
    unit_name: gunicorn-mysite.service
    canary_unit_name: gunicorn-mysite-canary.service
    config: "{{ lookup('ansible.builtin.template', 'gunicorn.conf.py.j2') }}"
    unit: "{{ lookup('ansible.builtin.template', 'gunicorn.service.j2') }}"
    app_env: "DJANGO_SETTINGS_MODULE=\"mysite.settings\"\n"
    secret_env: "DJANGO_SECRET_KEY=\"{{ vault_secret_key }}\"\n"
    canary_unit: "{{ lookup('ansible.builtin.template', 'gunicorn-canary.service.j2') }}"
    canary_socket: /run/gunicorn-mysite-canary/canary.sock
    paths:
      config: /etc/gunicorn/mysite/gunicorn.conf.py
      unit: /etc/systemd/system/gunicorn-mysite.service
      app_env: /etc/gunicorn/mysite/app.env
      secret_env: /etc/gunicorn/mysite/secret.env
    state_dir: /var/lib/gunicorn/mysite
    user: mysite
    group: mysite
    app_dir: /srv/mysite/app
    venv: /srv/mysite/venv
    bind: 127.0.0.1:8000
    workers: 3
    health_checks:
      - path: /healthz
      - path: /items/
        contains: Catalog

- name: Roll mysite back to its last-known-good release
  djangoops.gunicorn.gunicorn_release:
    state: rolled_back
    # ... the same identity, paths and checks as above
    app_name: mysite
    unit_name: gunicorn-mysite.service
    canary_unit_name: gunicorn-mysite-canary.service
    config: ""
    unit: ""
    app_env: ""
    secret_env: ""
    paths:
      config: /etc/gunicorn/mysite/gunicorn.conf.py
      unit: /etc/systemd/system/gunicorn-mysite.service
      app_env: /etc/gunicorn/mysite/app.env
      secret_env: /etc/gunicorn/mysite/secret.env
    state_dir: /var/lib/gunicorn/mysite
    user: mysite
    group: mysite
    app_dir: /srv/mysite/app
    venv: /srv/mysite/venv
    bind: 127.0.0.1:8000
    workers: 3
    canary: false
    health_checks:
      - path: /healthz
"""

RETURN = r"""
result:
  description: >-
    What happened: V(unchanged), V(started), V(reloaded) (also after a V(scale)), V(restarted), V(rolled_back) (went live,
    failed the gate, last-known-good restored), V(rejected) (stopped before going live) or V(failed).
  returned: always
  type: str
  sample: reloaded
service_action:
  description: >-
    What was done to the service for the change (V(none), V(start), V(reload), V(scale): only the
    workers count changed, TTIN/TTOU signals add or retire workers and no serving worker is replaced,
    V(restart), or V(resocket): stop, re-create the listening socket, start).
  returned: always
  type: str
  sample: reload
reason:
  description: Why that action.
  returned: always
  type: str
  sample: "only gunicorn.conf.py changed: reload with HUP"
changed_files:
  description: Managed files whose content changed (V(config), V(app_env), V(secret_env), V(unit), V(socket)).
  returned: always
  type: list
  elements: str
  sample: [config]
healthy:
  description: Whether the service passed the health gate at the end.
  returned: success and failure
  type: bool
rolled_back:
  description: Whether last-known-good was restored.
  returned: success and failure
  type: bool
steps:
  description: Each step with its result, detail and duration in seconds.
  returned: success and failure
  type: list
  elements: dict
  sample: [{step: check-config, result: ok, detail: "gunicorn --check-config passed", seconds: 0.41}]
record:
  description: The release record written to O(state_dir)C(/releases.json) (checksums, never contents).
  returned: success and failure
  type: dict
error:
  description: On failure, the step that failed, why, evidence (journal lines) and a one-line summary.
  returned: failure
  type: dict
recovered:
  description: Outcome of finishing a release that an earlier, interrupted run left unverified.
  returned: when an interrupted release was found
  type: dict
"""

import signal

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.djangoops.gunicorn.plugins.module_utils import release_plan as plan
from ansible_collections.djangoops.gunicorn.plugins.module_utils.release import Release, StepFailed
from ansible_collections.djangoops.gunicorn.plugins.module_utils.release_host import HostError

PATH_SPEC = dict(type="path", required=True)
PUBLIC_KEYS = ("result", "reason", "changed_files", "healthy", "rolled_back", "steps", "record", "recovered")


def argument_spec():
    return dict(
        app_name=dict(type="str", required=True),
        unit_name=dict(type="str", required=True),
        canary_unit_name=dict(type="str", required=True),
        config=dict(type="str", required=True),
        unit=dict(type="str", required=True),
        app_env=dict(type="str", required=True),
        secret_env=dict(type="str", required=True, no_log=True),
        socket=dict(type="str", default=""),
        canary_unit=dict(type="str"),
        paths=dict(type="dict", required=True, options=dict(
            config=PATH_SPEC, unit=PATH_SPEC, app_env=PATH_SPEC, secret_env=PATH_SPEC, socket=dict(type="path"))),
        state_dir=dict(type="path", required=True),
        user=dict(type="str", required=True),
        group=dict(type="str", required=True),
        app_dir=dict(type="path", required=True),
        venv=dict(type="path", required=True),
        bind=dict(type="str", required=True),
        workers=dict(type="int", required=True),
        health_checks=dict(type="list", elements="dict", required=True),
        health_timeout=dict(type="int", default=30),
        canary=dict(type="bool", default=True),
        canary_socket=dict(type="path"),
        rollback=dict(type="bool", default=True),
        history_size=dict(type="int", default=5),
        extra_setting_names=dict(type="list", elements="str", default=[]),
        lock_timeout=dict(type="int", default=120),
        sizing=dict(type="dict", default={}),
        state=dict(type="str", choices=["present", "rolled_back"], default="present"),
        rollback_to=dict(type="str"),
    )


def file_diffs(live, desired, changed, paths):
    diffs = []
    for name in changed:
        before, after = live.get(name) or "", desired.get(name) or ""
        if name in plan.SECRET_FILES:
            before = "(secret content, sha256 %s)\n" % (plan.checksum(live.get(name)) or "none")
            after = "(secret content, sha256 %s)\n" % plan.checksum(desired.get(name))
        diffs.append(dict(before=before, after=after, before_header=paths[name], after_header=paths[name]))
    return diffs


def main():
    # The release must finish even when the controller's connection drops: under SSH with become
    # and a tty, the hang-up sends SIGHUP to the module, which would die mid-release (a HUPed
    # config not yet gated, a canary left running). Output written to the dead connection at the
    # end is lost; the release record on the host says what happened.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    module = AnsibleModule(
        argument_spec=argument_spec(),
        required_if=[("canary", True, ("canary_unit", "canary_socket"))],
        supports_check_mode=True,
    )
    params = dict(module.params)
    params["files"] = dict((name, params[name]) for name in plan.MANAGED_FILES)
    if not params["paths"].get("socket"):
        unit_path = params["paths"]["unit"]
        params["paths"]["socket"] = (unit_path[:-len(".service")] if unit_path.endswith(".service") else unit_path) + ".socket"
    release = Release(module, params)
    try:
        if module.check_mode:
            if params["state"] == "rolled_back":
                release.load_rollback_target(params.get("rollback_to"))
            planned = release.plan()
            changed = bool(planned["changed_files"]) or planned["action"] == plan.ACTION_START
            result = dict(changed=changed, service_action=planned["action"], reason=planned["reason"],
                          changed_files=planned["changed_files"],
                          result="would %s" % planned["action"] if changed else "unchanged")
            result["msg"] = "%s: %s (%s; check mode)" % (params["app_name"], result["result"], planned["reason"])
            if module._diff:
                result["diff"] = file_diffs(planned["live"], release.desired, planned["changed_files"],
                                            params["paths"])
            module.exit_json(**result)
        if params["state"] == "rolled_back":
            outcome = release.rollback_on_demand(params.get("rollback_to"))
        else:
            outcome = release.deploy()
    except StepFailed as failure:
        outcome = getattr(failure, "result", None) or {}
        error = outcome.get("error") or {"step": failure.step, "detail": failure.detail, "evidence": failure.lines,
                                         "summary": plan.describe_failure(failure.step, failure.detail, None, None)}
        module.fail_json(msg=error["summary"], error=error, changed=outcome.get("action", "none") != "none"
                         and outcome.get("result") != "rejected", **_public(outcome))
    except HostError as exc:
        module.fail_json(msg="%s: %s" % (params["app_name"], exc), steps=release.steps)
    changed = outcome["result"] not in ("unchanged",)
    module.exit_json(changed=changed, msg="%s: %s (%s)" % (params["app_name"], outcome["result"], outcome["reason"]),
                     **_public(outcome))


def _public(outcome):
    # `action` is a key Ansible itself sets on every task result: return it as service_action.
    public = dict((key, outcome[key]) for key in PUBLIC_KEYS if key in outcome)
    if "action" in outcome:
        public["service_action"] = outcome["action"]
    return public


if __name__ == "__main__":
    main()
