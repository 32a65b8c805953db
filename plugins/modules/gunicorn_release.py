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
  - Renders C(gunicorn.conf.py) itself from O(config) (structured settings), and takes the systemd
    units and environment files as they are.
  - Creates the app's config and state directories (root-owned, C(0750 root:<group>)) and checks
    that O(user), O(group), O(app_dir) and O(venv) exist before anything else.
  - Validates the candidate in the app's real context (C(gunicorn --check-config) as the service
    user, in its working directory, with its environment files, through C(systemd-run)), checks the
    bind address (a port taken by another process, an invalid port) and the names of
    O(config.extra_settings) against C(gunicorn.config.KNOWN_SETTINGS) of O(venv), then boots the
    candidate as a canary unit on a private unix socket and runs the health checks against it.
  - Promotes the candidate, then applies it the cheapest safe way (nothing, TTIN/TTOU for a
    workers-only change, HUP, restart, re-created socket, or start), and gates on health (service
    active, same master after a HUP, the expected number of new workers, every health check passing
    before the deadline, on the bind of the config that is live).
  - On any failure after going live, restores the last-known-good files, restarts (a failed HUP may
    have killed the master), gates again and fails with a report naming the step that failed.
  - Keeps the last-known-good release, a short history and release records under the app's state
    directory, and finishes a release that an earlier run left unverified before anything else.
author: "djangoops.gunicorn contributors (@djangoops)"
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: Reports the files that would change and the action that would be taken; creates nothing.
  diff_mode:
    support: full
    details: >-
      Shows the config, unit and plain environment diffs; secret environment contents are never shown, only
      their keyed checksum (see RV(checksums)).
  platform:
    platforms: posix
options:
  app_name:
    description:
      - Name of the app; every unit, socket, directory and file name derives from it
        (C(gunicorn-<app_name>.service), C(<directories.config_dir>/<app_name>/gunicorn.conf.py), ...).
      - Lowercase letters, digits, C(-) and C(_), starting with a letter.
    type: str
    required: true
  state:
    description:
      - V(present) releases the given config, units and environment.
      - V(rolled_back) ignores them and restores an earlier release (O(rollback_to), by default the
        one before the current last-known-good), with the same validation, canary and health gate.
    type: str
    choices: [present, rolled_back]
    default: present
  rollback_to:
    description:
      - The release O(state=rolled_back) restores. V(previous) (the default) is the one before the
        current last-known-good; a number N goes N releases back (V(1) is V(previous)); a history
        id (a release id under the state directory's C(history/)); a rollout id (see
        O(rollout_id)) restores the release that was live before that rollout's first release on
        the host; V(last-known-good) restores the current one as it is.
    type: str
  revision:
    description:
      - The app's own version (a git sha, a tag, a build number). A new revision is a release
        even when no other file changed (recorded in C(release.json) beside the config, with
        O(app_dir) and O(venv) as given and resolved, so a C(current) symlink switched by another
        tool is a new release too), and it is kept in every record and history entry.
      - Empty means the code is whatever the directories hold, and only the other files say what
        changed.
    type: str
    default: ""
  rollout_id:
    description: Id of the fleet rollout this release belongs to (C(playbooks/deploy.yml) gives every
      host the same one), kept in the release's record and history entry; O(rollback_to) accepts it.
    type: str
    default: ""
  trial:
    description: A trial release (a tuning candidate) - kept as last-known-good while it runs, but
      replaced without leaving a history entry, so it takes no slot of a real release.
    type: bool
    default: false
  release_commands:
    description:
      - Django management commands of the release (for example V(migrate --noinput), V(collectstatic
        --noinput)), run with the venv's Python as C(manage.py <command>) in O(app_dir) as the service
        user with the candidate's environment files, after check-config and before the canary.
      - One that fails rejects the release with its output (secrets masked); the live service is untouched.
      - During a hand-over, and a rolling fleet deploy, two releases serve side by side - migrations must be
        backward compatible.
    type: list
    elements: str
    default: []
  secret_values:
    description: Values masked wherever they would appear in the module's output (the secret environment's
      values, in the evidence of a failing command).
    type: list
    elements: str
    default: []
  user:
    description: Non-root service user; the checks run as this user. Must exist.
    type: str
    required: true
  group:
    description: Service group; it may read the config and environment files. Must exist.
    type: str
    required: true
  app_dir:
    description: The app's code directory, the service's working directory. Must exist.
    type: path
    required: true
  venv:
    description: The app's virtualenv; C(bin/gunicorn) must exist in it.
    type: path
    required: true
  directories:
    description: Parents of the per-app directories.
    type: dict
    default: {}
    suboptions:
      config_dir:
        description: Parent of C(<app_name>/gunicorn.conf.py), C(app.env), C(secret.env).
        type: path
        default: /etc/gunicorn
      state_dir:
        description: Parent of the per-app state (candidate, last-known-good, history, records).
        type: path
        default: /var/lib/gunicorn
      systemd_dir:
        description: Directory of the service and socket units.
        type: path
        default: /etc/systemd/system
  config:
    description: What C(gunicorn.conf.py) holds. Required with O(state=present).
    type: dict
    suboptions:
      settings:
        description:
          - The settings the module renders, name to value - C(wsgi_app) and C(bind) (an address or a
            list) are required; C(backlog), C(workers), C(worker_class), C(threads), C(worker_tmp_dir),
            C(timeout), C(graceful_timeout), C(keepalive), C(max_requests), C(max_requests_jitter),
            C(preload_app), C(accesslog), C(errorlog) and C(loglevel) default to 2048, 2, V(sync), 1,
            V(/dev/shm), 30, 30, 2, 1000, 100, false, V(-), V(-) and V(info).
          - C(proc_name) and C(control_socket) (one per app, under C(/run/gunicorn-<app_name>/)) are
            derived from O(app_name).
        type: dict
        required: true
      extra_settings:
        description: Further Gunicorn settings, name to value, rendered as Python literals after the others.
        type: dict
        default: {}
      python:
        description: Raw Python appended last, for server hooks (C(post_fork), ...).
        type: str
        default: ""
      header:
        description: Comment lines the file starts with.
        type: str
        default: "#\n# Managed by djangoops.gunicorn: local edits are replaced by the next release.\n#"
  units:
    description: Content of the systemd units. Required with O(state=present).
    type: dict
    suboptions:
      service:
        description: The service unit C(gunicorn-<app_name>.service).
        type: str
        required: true
      canary:
        description:
          - The canary unit C(gunicorn-<app_name>-canary.service), installed under C(/run/systemd/system)
            while the candidate boots; it runs the candidate from the state directory's C(candidate/)
            and binds C(unix:/run/gunicorn-<app_name>-canary/canary.sock).
          - Required when O(canary) is true.
        type: str
      socket:
        description:
          - The socket-activation unit C(gunicorn-<app_name>.socket); systemd then holds the listening
            socket, so restarts queue connections instead of refusing them.
          - Empty means no socket activation (an existing socket unit is stopped and removed).
          - With a socket, every release that changes more than the workers count goes live by a
            hand-over (O(units.handover)).
        type: str
        default: ""
      probe_socket:
        description:
          - The live service's private probe socket C(gunicorn-<app_name>-probe.socket)
            (C(/run/gunicorn-<app_name>-probe/live.sock), root only), listed in the service's
            C(Sockets=) beside O(units.socket); health checks reach the live master through it and no
            other. Used only with O(units.socket).
        type: str
        default: ""
      handover:
        description:
          - The hand-over partner C(gunicorn-<app_name>-handover.service), installed under
            C(/run/systemd/system) while a release goes live; it runs the candidate from the state
            directory's C(candidate/) on the shared socket and on O(units.handover_socket), with a
            control socket and pidfile of its own.
          - Used only with O(units.socket); empty means releases restart or reload the service instead.
        type: str
        default: ""
      handover_socket:
        description: The partner's private probe socket C(gunicorn-<app_name>-handover.socket)
          (C(/run/gunicorn-<app_name>-probe/handover.sock)), installed with O(units.handover).
        type: str
        default: ""
  app_env:
    description: Content of the plain environment file C(app.env) of the unit.
    type: str
    default: ""
  secret_env:
    description: Content of the secret environment file C(secret.env). Never logged or shown in diffs.
    type: str
    default: ""
  health_checks:
    description:
      - Requests that must pass on the canary, on a hand-over's new master and after going live; each
        has C(path), optional C(status) (default 200; a 3xx is an answer, redirects are not followed),
        C(contains) (text the body must include), C(location) (text a redirect's Location must
        include), C(method) (V(GET) or V(HEAD)) and C(headers) (name to value; C(Host) defaults to
        V(localhost), so an app whose C(ALLOWED_HOSTS) lacks it, or that needs
        C(X-Forwarded-Proto) behind a proxy, sets its own).
      - A check may give a C(url) (absolute V(http://) or V(https://)) instead of a C(path) to check the site as
        users reach it, through the proxy on the host; its C(Host) defaults to the URL's host. Such a check runs
        only in the gate that takes a release live (every master behind the proxy then runs it) and in a run that
        changes nothing; not on the canary, on a hand-over's new master nor in a rollback's or a recovery's gate
        while another release may still answer behind the proxy.
      - A check retries with backoff until O(health_timeout) through connection errors and 502, 503
        or 504 (an app warming up), fails after three other wrong answers in a row, and at once when
        the master it probes is gone; after the checks the master must be the same process, with no
        automatic restart by systemd since the gate began.
    type: list
    elements: dict
    default: [{path: /healthz}]
  health_timeout:
    description: Seconds the health gate (and the canary) may take; checks retry with backoff.
    type: int
    default: 30
  check_timeout:
    description:
      - Seconds each run of the app's code outside the service may take (C(gunicorn --check-config) and the
        list of Gunicorn's settings, both as the service user through C(systemd-run)). systemd stops the
        run at this bound (C(RuntimeMaxSec=)) and the release is rejected at that step, naming this option;
        an app that blocks at import (a database connect in its settings) cannot hold the release's lock.
    type: int
    default: 60
  boot_nice:
    description:
      - Nice value (0 to 19) of the runs of the app's code beside the serving master (C(--check-config),
        the settings list, the release commands) and of the canary's scheduler autogroup (the canary
        unit's own C(Nice=) comes with C(units.canary)). C(0) turns it off.
      - The hand-over's masters boot at full priority, they accept on the shared socket before their gate.
    type: int
    default: 0
  sandbox:
    description:
      - The unit's sandbox directives (directive name to value, e.g. C(ProtectSystem) to C(strict),
        C(ReadWritePaths) to the paths the app may write). Every run of the app's code outside the
        service (C(--check-config), the settings list, the release commands) runs under them, so a
        command that would fail in the service fails before the release.
    type: dict
    default: {}
  canary:
    description: Boot the candidate on a private socket and check its health before it goes live.
    type: bool
    default: true
  rollback:
    description: Restore last-known-good and restart when a live release fails.
    type: bool
    default: true
  history_size:
    description: Earlier last-known-good releases kept under the state directory's C(history/).
    type: int
    default: 5
  lock_timeout:
    description: Seconds to wait for another release of the same app to finish.
    type: int
    default: 120
  sizing:
    description: Sizing inputs and results, stored as they are in the release record.
    type: dict
    default: {}
  option_names:
    description:
      - "How messages name the options, for a role or playbook that sets them from variables of its
        own, for example C({venv: myapp_venv, config.settings.bind: myapp_bind}). Options not listed
        are named as themselves."
    type: dict
    default: {}
notes:
  - Needs systemd on the host and root privileges.
seealso:
  - module: djangoops.gunicorn.gunicorn_facts
  - name: The role that drives this module
    description: C(djangoops.gunicorn.gunicorn_django) renders the units and environment files from its variables.
    link: https://github.com/djangoops/gunicorn/blob/main/docs/role.md
"""

EXAMPLES = r"""
- name: Release mysite
  djangoops.gunicorn.gunicorn_release:
    app_name: mysite
    user: mysite
    group: mysite
    app_dir: /srv/mysite/app
    venv: /srv/mysite/venv
    config:
      settings:
        wsgi_app: mysite.wsgi:application
        bind: 127.0.0.1:8000
        workers: 3
    units:
      service: |
        [Unit]
        Description=Gunicorn serving mysite

        [Service]
        Type=notify
        User=mysite
        Group=mysite
        WorkingDirectory=/srv/mysite/app
        EnvironmentFile=/etc/gunicorn/mysite/app.env
        EnvironmentFile=/etc/gunicorn/mysite/secret.env
        RuntimeDirectory=gunicorn-mysite
        ExecStart=/srv/mysite/venv/bin/gunicorn --config /etc/gunicorn/mysite/gunicorn.conf.py
        ExecReload=/bin/kill -s HUP $MAINPID
        KillMode=mixed
        TimeoutStopSec=45

        [Install]
        WantedBy=multi-user.target
    canary: false
    app_env: "DJANGO_SETTINGS_MODULE=mysite.settings\n"
    secret_env: "DJANGO_SECRET_KEY={{ vault_mysite_secret_key }}\n"
    health_checks:
      - path: /healthz
      - path: /items/
        contains: Catalog
  register: mysite_release

- name: Roll mysite back to its last-known-good release
  djangoops.gunicorn.gunicorn_release:
    app_name: mysite
    state: rolled_back
    user: mysite
    group: mysite
    app_dir: /srv/mysite/app
    venv: /srv/mysite/venv
    canary: false
"""

RETURN = r"""
result:
  description: >-
    What happened: V(unchanged), V(started), V(reloaded) (also after a V(scale)), V(handed_over) (a new master took
    over on the shared socket), V(restarted), V(rolled_back) (went live, failed the gate, last-known-good restored; or
    a O(state=rolled_back) that passed), V(rejected) (stopped before going live, or a hand-over's new master that
    failed its gate beside the live one, which never stopped) or V(failed). In check mode V(unchanged) or C(would <action>).
  returned: always
  type: str
  sample: reloaded
service_action:
  description: >-
    What was done to the service for the change (V(none), V(start), V(reload), V(scale): only the
    workers count changed, TTIN/TTOU signals add or retire workers and no serving worker is replaced,
    V(handover): a second master boots the release beside the live one on the shared socket, the
    live unit restarts on it only once that one passed its gate, V(restart), or V(resocket): stop,
    re-create the listening socket, start).
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
checksums:
  description: >-
    sha256 of each live file at the end (null for a file that does not exist); for V(secret_env) an HMAC-SHA256
    (C(hmac-sha256:...)) under a root-only key of the host (C(<state_dir>/<app_name>/private/secret-key)), which
    says whether the secrets changed without letting a guessed secret be confirmed from it.
  returned: always (in check mode those of the files live now)
  type: dict
  sample: {config: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08, socket: null}
release_id:
  description: Id of this release (its record, and its history entry once it is replaced).
  returned: success and failure, not in check mode
  type: str
  sample: 20261201T211855Z
healthy:
  description: Whether the service passed the health gate at the end.
  returned: success and failure
  type: bool
rolled_back:
  description: Whether last-known-good was restored.
  returned: success and failure
  type: bool
config_file:
  description: The live C(gunicorn.conf.py).
  returned: always
  type: str
  sample: /etc/gunicorn/mysite/gunicorn.conf.py
steps:
  description: Each step with its result, detail and duration in seconds.
  returned: success and failure
  type: list
  elements: dict
  sample: [{step: check-config, result: ok, detail: "gunicorn --check-config passed", seconds: 0.41}]
record:
  description: The release record written to the state directory's C(releases.json) (checksums and settings, never contents).
  returned: success and failure, not in check mode
  type: dict
error:
  description: On failure, the step that failed, why, evidence (journal lines), a one-line summary and the option at fault.
  returned: failure
  type: dict
revision:
  description: The app revision the live release records (O(revision) of the release that is live at the end).
  returned: when a release ran
  type: str
  sample: 4f2c9e1
candidate_revision:
  description:
    - The app revision this run was asked to release (O(revision)). It differs from RV(revision) when
      the release was rejected or rolled back, and it is kept in the record, so the record of a refused
      release names the revision that was refused.
  returned: when a release ran
  type: str
  sample: 5a0d3b7
rollout:
  description: The rollout id this run stamped on its release (O(rollout_id)).
  returned: when a release ran
  type: str
kept_directories:
  description: The app's code directories (resolved) that last-known-good and the history still need; a deploy
    tool's clean-up must keep them for a rollback to bring them back. The module deletes nothing of the app.
  returned: when a release ran
  type: list
  elements: str
  sample: [/srv/shop/releases/4f2c9e1, /srv/shop/releases/4f2c9e1/venv]
recovered:
  description: Outcome of finishing a release that an earlier, interrupted run left unverified.
  returned: when an interrupted release was found
  type: dict
directories_created:
  description: The app's config and state directories this run created.
  returned: success and failure
  type: list
  elements: str
"""

import os
import signal

from ansible.module_utils.basic import AnsibleModule
from ansible_collections.djangoops.gunicorn.plugins.module_utils import gunicorn_config, layout as app_layout
from ansible_collections.djangoops.gunicorn.plugins.module_utils.release import plan
from ansible_collections.djangoops.gunicorn.plugins.module_utils.release.host import Host, HostError
from ansible_collections.djangoops.gunicorn.plugins.module_utils.release.steps import StepFailed
from ansible_collections.djangoops.gunicorn.plugins.module_utils.release.store import Store
from ansible_collections.djangoops.gunicorn.plugins.module_utils.release.transaction import Transaction

PUBLIC_KEYS = ("result", "reason", "changed_files", "healthy", "rolled_back", "steps", "record", "recovered",
               "checksums", "revision", "candidate_revision", "rollout", "kept_directories")


def argument_spec():
    return dict(
        app_name=dict(type="str", required=True),
        state=dict(type="str", choices=["present", "rolled_back"], default="present"),
        rollback_to=dict(type="str"),
        revision=dict(type="str", default=""),
        rollout_id=dict(type="str", default=""),
        trial=dict(type="bool", default=False),
        release_commands=dict(type="list", elements="str", default=[]),
        secret_values=dict(type="list", elements="str", default=[], no_log=True),
        user=dict(type="str", required=True),
        group=dict(type="str", required=True),
        app_dir=dict(type="path", required=True),
        venv=dict(type="path", required=True),
        directories=dict(type="dict", default={}, options=dict(
            config_dir=dict(type="path", default=app_layout.DEFAULT_CONFIG_DIR),
            state_dir=dict(type="path", default=app_layout.DEFAULT_STATE_DIR),
            systemd_dir=dict(type="path", default=app_layout.DEFAULT_SYSTEMD_DIR))),
        config=dict(type="dict", options=dict(
            settings=dict(type="dict", required=True),
            extra_settings=dict(type="dict", default={}),
            python=dict(type="str", default=""),
            header=dict(type="str", default=gunicorn_config.DEFAULT_HEADER))),
        units=dict(type="dict", options=dict(
            service=dict(type="str", required=True),
            canary=dict(type="str"),
            socket=dict(type="str", default=""),
            probe_socket=dict(type="str", default=""),
            handover=dict(type="str", default=""),
            handover_socket=dict(type="str", default=""))),
        app_env=dict(type="str", default=""),
        secret_env=dict(type="str", default="", no_log=True),
        health_checks=dict(type="list", elements="dict", default=[{"path": "/healthz"}]),
        health_timeout=dict(type="int", default=30),
        check_timeout=dict(type="int", default=60),
        boot_nice=dict(type="int", default=0),
        sandbox=dict(type="dict", default={}),
        canary=dict(type="bool", default=True),
        rollback=dict(type="bool", default=True),
        history_size=dict(type="int", default=5),
        lock_timeout=dict(type="int", default=120),
        sizing=dict(type="dict", default={}),
        option_names=dict(type="dict", default={}),
    )


def file_diffs(live, desired, changed, paths, checksums):
    """Diffs of the changed files; a secret file shows only its keyed checksum (`checksums`: a
    Store's checksums function)."""
    diffs = []
    live_sums, desired_sums = checksums(live), checksums(desired)
    for name in changed:
        before, after = live.get(name) or "", desired.get(name) or ""
        if name in plan.SECRET_FILES:
            before = "(secret content, %s)\n" % (live_sums[name] or "none")
            after = "(secret content, %s)\n" % (desired_sums[name] or "none")
        diffs.append(dict(before=before, after=after, before_header=paths[name], after_header=paths[name]))
    return diffs


def desired_release(params, names, fail):
    """(files, config spec) of a release from the module's options."""
    config = params["config"]
    try:
        settings = gunicorn_config.effective_settings(config["settings"], names["proc_name"],
                                                      names["control_socket"])
        spec = {"app_name": params["app_name"], "header": config["header"], "settings": settings,
                "extra_settings": config["extra_settings"] or {}, "python": config["python"] or ""}
        text = gunicorn_config.render(spec["app_name"], settings, spec["extra_settings"], spec["python"],
                                      spec["header"])
    except ValueError as exc:
        fail(str(exc).replace("settings.", "config.settings.", 1) if str(exc).startswith("settings")
             else "config: %s" % exc, "config.settings")
    files = {"config": text, "app_env": params["app_env"], "secret_env": params["secret_env"],
             "unit": params["units"]["service"], "socket": params["units"]["socket"] or "",
             "probe_socket": (params["units"]["probe_socket"] or "") if params["units"]["socket"] else "",
             "release": plan.release_record(params.get("revision"), params.get("app_dir"), params.get("venv"),
                                            os.path.realpath)}
    return files, spec


def main():
    # The release must finish even when the controller's connection drops: under SSH with become
    # and a tty, the hang-up sends SIGHUP to the module, which would die mid-release (a HUPed
    # config not yet gated, a canary left running). Output written to the dead connection at the
    # end is lost; the release record on the host says what happened.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    module = AnsibleModule(
        argument_spec=argument_spec(),
        required_if=[("state", "present", ("config", "units"))],
        supports_check_mode=True,
    )
    params = dict(module.params)
    option_names = params["option_names"] or {}

    def label(option):
        return option_names.get(option, option)

    def fail(message, option, **extra):
        module.fail_json(msg="%s: %s" % (params["app_name"], message), error=dict(
            step="preflight", detail=message, option=option, evidence=[], summary=message), **extra)

    try:
        names = app_layout.app_layout(params["app_name"], **params["directories"])
    except ValueError as exc:
        fail(str(exc), "app_name")
    if params["state"] == "present" and params["canary"] and not params["units"].get("canary"):
        fail("%s is true but units.canary is empty: give the canary unit or set canary to false"
             % label("canary"), "units.canary")
    if params["check_timeout"] < 1:
        fail("%s must be at least 1 second, got %d" % (label("check_timeout"), params["check_timeout"]),
             "check_timeout")
    if not 0 <= params["boot_nice"] <= 19:
        fail("%s must be a nice value from 0 (off) to 19, got %d" % (label("boot_nice"), params["boot_nice"]),
             "boot_nice")
    units = params["units"] or {}
    host = Host(module, names, params["user"], params["group"], params["app_dir"], params["venv"],
                check_timeout=params["check_timeout"], check_timeout_name=label("check_timeout"),
                boot_nice=params["boot_nice"], sandbox=params["sandbox"])
    files, spec = desired_release(params, names, fail) if params["state"] == "present" else ({}, None)
    store = Store(names["app_state_dir"], params["group"], read_only=module.check_mode)
    transaction = Transaction(host, store, dict(
        layout=names, health_checks=params["health_checks"], health_timeout=params["health_timeout"],
        canary=params["canary"], rollback=params["rollback"], history_size=params["history_size"],
        lock_timeout=params["lock_timeout"], sizing=params["sizing"], option_names=option_names,
        boot_nice=params["boot_nice"],
        rollout_id=params["rollout_id"], trial=params["trial"], release_commands=params["release_commands"],
        canary_unit=units.get("canary"), handover_unit=units.get("handover") if units.get("socket") else "",
        handover_socket_unit=units.get("handover_socket")), files, spec)
    problems = host.problems()
    if problems:
        message = "; ".join("%s %s" % (label(option), text) for option, text in problems)
        if not module.check_mode and not host.directories_missing():
            # An app released before: its records say why this release was refused.
            failure = transaction.reject("preflight", message)
            fail(message, problems[0][0], record=failure.result["record"], result="rejected")
        fail(message, problems[0][0])
    paths = host.paths
    created = [] if module.check_mode else host.directories_missing()
    try:
        if module.check_mode:
            if params["state"] == "rolled_back":
                transaction.load_rollback_target(params.get("rollback_to"))
            planned = transaction.plan()
            changed = bool(planned["changed_files"]) or planned["action"] == plan.ACTION_START
            result = dict(changed=changed, service_action=planned["action"], reason=planned["reason"],
                          changed_files=planned["changed_files"], config_file=paths["config"],
                          checksums=store.checksums(planned["live"]),
                          result="would %s" % planned["action"] if changed else "unchanged")
            result["msg"] = "%s: %s (%s; check mode)" % (params["app_name"], result["result"], planned["reason"])
            if module._diff:
                result["diff"] = file_diffs(planned["live"], transaction.desired, planned["changed_files"], paths,
                                            store.checksums)
            module.exit_json(**result)
        host.make_directories()
        outcome = transaction.deploy(params.get("rollback_to"),
                                     kind="rollback" if params["state"] == "rolled_back" else "deploy")
    except StepFailed as failure:
        outcome = failure.result or {}
        error = outcome.get("error") or {"step": failure.step, "detail": failure.detail, "evidence": failure.lines,
                                         "summary": plan.describe_failure(failure.step, failure.detail, None, None)}
        module.fail_json(msg=error["summary"], error=error, config_file=paths["config"],
                         directories_created=created, release_id=transaction.release_id,
                         changed=bool(created) or (outcome.get("action", "none") != "none"
                                                   and outcome.get("result") != "rejected"),
                         **_public(outcome))
    except HostError as exc:
        module.fail_json(msg="%s: %s" % (params["app_name"], exc), steps=transaction.steps,
                         config_file=paths["config"], directories_created=created)
    module.exit_json(changed=outcome["result"] != "unchanged" or bool(created),
                     msg="%s: %s (%s)" % (params["app_name"], outcome["result"], outcome["reason"]),
                     config_file=paths["config"], directories_created=created, release_id=transaction.release_id,
                     **_public(outcome))


def _public(outcome):
    # `action` is a key Ansible itself sets on every task result: return it as service_action.
    public = dict((key, outcome[key]) for key in PUBLIC_KEYS if key in outcome)
    if "action" in outcome:
        public["service_action"] = outcome["action"]
    return public


if __name__ == "__main__":
    main()
