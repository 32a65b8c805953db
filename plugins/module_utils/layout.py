# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where an app lives on a host: every unit, socket, directory and file name, derived once.

The role (through the gunicorn_layout filter), the modules on the host and the playbooks all take
these names from here, so a name never has to be kept in step in two places. Standard library
only.
"""

from __future__ import annotations

import os
import re

DEFAULT_CONFIG_DIR = "/etc/gunicorn"
DEFAULT_STATE_DIR = "/var/lib/gunicorn"
DEFAULT_SYSTEMD_DIR = "/etc/systemd/system"
RUNTIME_ROOT = "/run"

# A name that is safe in unit names, paths and Gunicorn's proc_name.
APP_NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,47}$"
_APP_NAME_RE = re.compile(APP_NAME_PATTERN)


def check_app_name(app_name):
    """ValueError unless `app_name` can name units and paths."""
    if not isinstance(app_name, str) or not _APP_NAME_RE.match(app_name):
        raise ValueError("app name %r must match %s (lowercase letters, digits, '-' and '_', starting "
                         "with a letter, at most 48 characters)" % (app_name, APP_NAME_PATTERN))


def _absolute(name, path):
    if not isinstance(path, str) or not os.path.isabs(path):
        raise ValueError("%s must be an absolute path, got %r" % (name, path))
    return os.path.normpath(path)


def app_layout(app_name, config_dir=DEFAULT_CONFIG_DIR, state_dir=DEFAULT_STATE_DIR,
               systemd_dir=DEFAULT_SYSTEMD_DIR):
    """Every name of app `app_name` on a host, as a dict of strings."""
    check_app_name(app_name)
    config_dir = _absolute("config_dir", config_dir)
    state_dir = _absolute("state_dir", state_dir)
    systemd_dir = _absolute("systemd_dir", systemd_dir)
    base = "gunicorn-%s" % app_name
    app_config_dir = os.path.join(config_dir, app_name)
    app_state_dir = os.path.join(state_dir, app_name)
    canary = "%s-canary" % base
    handover = "%s-handover" % base
    # Private probe sockets (root only): each master has an address of its own beside the shared
    # listening socket, so a health check reaches that master and no other. Outside every
    # RuntimeDirectory=, which systemd removes when its service stops.
    probe_dir = os.path.join(RUNTIME_ROOT, "%s-probe" % base)
    return {
        "app_name": app_name,
        "proc_name": base,
        # systemd units (the service is the operators' handle: systemctl status gunicorn-<app>).
        "unit": "%s.service" % base,
        "socket_unit": "%s.socket" % base,
        "canary_unit": "%s.service" % canary,
        "unit_file": os.path.join(systemd_dir, "%s.service" % base),
        "socket_file": os.path.join(systemd_dir, "%s.socket" % base),
        # Live files, read by the service (0640 root:<group>).
        "config_dir": config_dir,
        "app_config_dir": app_config_dir,
        "config_file": os.path.join(app_config_dir, "gunicorn.conf.py"),
        "app_env_file": os.path.join(app_config_dir, "app.env"),
        "secret_env_file": os.path.join(app_config_dir, "secret.env"),
        # The release's state: candidate, last-known-good, history, records, lock.
        "state_dir": state_dir,
        "app_state_dir": app_state_dir,
        "candidate_dir": os.path.join(app_state_dir, "candidate"),
        # RuntimeDirectory= of each unit: one control socket per app, so two apps run by one user
        # never share Gunicorn 27's default $HOME/.gunicorn/gunicorn.ctl.
        "runtime_dir_name": base,
        "control_socket": os.path.join(RUNTIME_ROOT, base, "gunicorn.ctl"),
        "canary_runtime_dir_name": canary,
        "canary_socket": os.path.join(RUNTIME_ROOT, canary, "canary.sock"),
        "canary_control_socket": os.path.join(RUNTIME_ROOT, canary, "gunicorn.ctl"),
        # The hand-over: the live unit's private probe socket (a managed file beside the units),
        # and the partner master that serves a release beside the live one while it goes live,
        # installed under /run (gone at reboot) with a probe socket of its own.
        "probe_dir": probe_dir,
        "probe_socket_unit": "%s-probe.socket" % base,
        "probe_socket_file": os.path.join(systemd_dir, "%s-probe.socket" % base),
        "probe_socket": os.path.join(probe_dir, "live.sock"),
        "handover_unit": "%s.service" % handover,
        "handover_socket_unit": "%s.socket" % handover,
        "handover_socket": os.path.join(probe_dir, "handover.sock"),
        "handover_runtime_dir_name": handover,
        "handover_control_socket": os.path.join(RUNTIME_ROOT, handover, "gunicorn.ctl"),
        "handover_pidfile": os.path.join(RUNTIME_ROOT, handover, "gunicorn.pid"),
    }
