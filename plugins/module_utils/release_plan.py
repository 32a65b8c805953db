# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure decisions of a Gunicorn release: no I/O, standard library only.

The host side (plugins/module_utils/release_host.py) gathers facts and carries out what
these functions decide, so every rule here is unit-tested without a host.
"""

from __future__ import annotations

import ast
import hashlib
import re

from ansible_collections.djangoops.gunicorn.plugins.module_utils import bind as bind_address

# Files a release manages, in the order they are promoted. The units go last so that a
# daemon-reload sees a consistent set. "socket" is the optional socket-activation unit: an
# empty desired content means "absent" (the file is removed).
MANAGED_FILES = ("config", "app_env", "secret_env", "unit", "socket")
# Files whose change Gunicorn cannot pick up with HUP: systemd reads environment files and
# the unit when the service starts.
RESTART_FILES = ("unit", "app_env", "secret_env")
# With socket activation, systemd holds the listening socket: a restart of the service queues
# connections instead of refusing them, but a change of the socket itself must re-create it.
SOCKET_FILES = ("socket",)
SECRET_FILES = ("secret_env",)

ACTION_NONE = "none"
ACTION_START = "start"
ACTION_RELOAD = "reload"
ACTION_RESTART = "restart"
ACTION_RESOCKET = "resocket"
ACTION_SCALE = "scale"

_PRELOAD_RE = re.compile(r"^preload_app\s*=\s*True\s*$", re.M)


def checksum(content):
    """sha256 of a text file's content (None for a missing file)."""
    if content is None:
        return None
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def normalize(content):
    """Managed file content, with "" (absent) and None (missing) both meaning no file."""
    return content or None


def changed_files(live, desired):
    """Names of managed files whose desired content (None: leave alone) differs from the live one."""
    return [name for name in MANAGED_FILES
            if desired.get(name) is not None and normalize(live.get(name)) != normalize(desired.get(name))]


def preload_enabled(config_text):
    """Whether a rendered gunicorn.conf.py turns preload_app on (the role renders `preload_app = True`)."""
    return bool(config_text) and bool(_PRELOAD_RE.search(config_text))


def plan_action(changed, service_active, live_config, desired_config):
    """Cheapest safe way to apply a change: (action, reason).

    - nothing changed and the service runs: none;
    - the service does not run: start;
    - the socket unit changed (socket activation turned on or off, another address): resocket -
      stop the service, re-create the socket, start the service;
    - the unit or an environment file changed: restart (systemd reads them at start only);
    - the bind changed: restart (on HUP the master binds the new address before it closes the
      old one, and dies on "Connection in use" when both share a port);
    - preload_app on before or after: restart (with preload, HUP does not reload the app's code,
      gunicorn #2449);
    - only the `workers = N` line of gunicorn.conf.py changed: scale - TTIN/TTOU signals add or
      retire workers one at a time, and the workers that serve keep serving (a HUP replaces every
      worker, and the new ones import the app after the old ones were told to stop);
    - otherwise (gunicorn.conf.py only): reload with HUP.
    """
    if not service_active:
        return ACTION_START, "the service is not running"
    if not changed:
        return ACTION_NONE, "nothing changed"
    if any(name in SOCKET_FILES for name in changed):
        return ACTION_RESOCKET, "the socket unit changed: the listening socket must be re-created"
    restart_files = [name for name in changed if name in RESTART_FILES]
    if restart_files:
        return ACTION_RESTART, "%s changed (systemd reads it at start only)" % ", ".join(restart_files)
    if "config" in changed and rendered_binds(live_config) != rendered_binds(desired_config):
        return ACTION_RESTART, "the bind changed: HUP cannot move the listening socket"
    if preload_enabled(live_config) or preload_enabled(desired_config):
        return ACTION_RESTART, "preload_app is on: HUP would not reload the app's code"
    counts = workers_only_change(live_config, desired_config)
    if changed == ["config"] and counts:
        return ACTION_SCALE, "only the workers count changed (%d -> %d): %d %s to the master, no worker replaced" % (
            counts[0], counts[1], abs(counts[1] - counts[0]), "TTIN" if counts[1] > counts[0] else "TTOU")
    return ACTION_RELOAD, "only gunicorn.conf.py changed: reload with HUP"


_BIND_LINE_RE = re.compile(r"^bind\s*=\s*(.+)$", re.M)


def rendered_binds(config_text):
    """The bind addresses of a gunicorn.conf.py the role rendered (`bind = ['127.0.0.1:8000']`)."""
    match = _BIND_LINE_RE.search(config_text or "")
    if not match:
        return []
    try:
        value = ast.literal_eval(match.group(1).strip())
    except (ValueError, SyntaxError):
        return []
    return [value] if isinstance(value, str) else [item for item in value if isinstance(item, str)]


_WORKERS_LINE_RE = re.compile(r"^workers\s*=\s*(\d+)\s*$", re.M)
# Any assignment to `workers` (indented, augmented, computed): more than one makes the count unknowable.
_ANY_WORKERS_ASSIGNMENT_RE = re.compile(r"\bworkers\s*[-+*/]?=(?!=)")


def rendered_workers(config_text):
    """`workers = N` of a rendered gunicorn.conf.py, or None."""
    match = _WORKERS_LINE_RE.search(config_text or "")
    return int(match.group(1)) if match else None


def workers_only_change(live_config, desired_config):
    """(live workers, desired workers) when the two gunicorn.conf.py differ only in their one
    `workers = N` line; None otherwise (another difference, no such line, or more than one: Python
    would use the last one, which another line of config_python may compute)."""
    if not live_config or not desired_config:
        return None
    live_lines = _WORKERS_LINE_RE.findall(live_config)
    desired_lines = _WORKERS_LINE_RE.findall(desired_config)
    if len(live_lines) != 1 or len(desired_lines) != 1 or live_lines == desired_lines:
        return None
    if len(_ANY_WORKERS_ASSIGNMENT_RE.findall(live_config)) != 1 or \
            len(_ANY_WORKERS_ASSIGNMENT_RE.findall(desired_config)) != 1:
        return None
    if _WORKERS_LINE_RE.sub("workers = N", live_config) != _WORKERS_LINE_RE.sub("workers = N", desired_config):
        return None
    live, desired = int(live_lines[0]), int(desired_lines[0])
    return (live, desired) if live >= 1 and desired >= 1 else None


def parse_bind(bind):
    """("unix", path) or ("tcp", host, port) for a Gunicorn bind (ValueError: see bind.parse)."""
    address = bind_address.parse(bind)
    return (address.kind, address.path) if address.kind == bind_address.UNIX else (
        address.kind, address.host, address.port)


def held_by_live_binds(bind, live_binds):
    """Whether a TCP bind found taken is explained by the live master's own listeners (bind.held_by)."""
    return bind_address.held_by(bind_address.parse(bind), live_binds)


def probe_address(bind):
    """Where health checks connect for a bind: ("unix", path) or ("tcp", host, port)."""
    address = bind_address.parse(bind)
    if address.kind == bind_address.UNIX:
        return (address.kind, address.path)
    return (address.kind, bind_address.probe_host(address), address.port)


def check_response(check, status, body):
    """None when a health check's response is as expected, else the reason it is not."""
    expected = int(check.get("status") or 200)
    if status != expected:
        return "status %s, expected %s" % (status, expected)
    contains = check.get("contains")
    if contains and contains not in body:
        return "status %s but the body lacks %r" % (status, contains)
    return None


def backoff_delays(first=0.1, factor=2.0, ceiling=1.0):
    """Endless retry delays: 0.1, 0.2, 0.4, 0.8, 1.0, 1.0, ... seconds."""
    delay = first
    while True:
        yield delay
        delay = min(delay * factor, ceiling)


def unknown_settings(names, known):
    """Setting names Gunicorn does not know, each with the closest known name when there is one."""
    import difflib

    unknown = []
    for name in sorted(names):
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            unknown.append((name, close[0] if close else None))
    return unknown


def prune_history(entries, keep):
    """History entry names to delete so that the newest `keep` remain (names sort by time)."""
    if keep < 1:
        keep = 1
    ordered = sorted(entries)
    return ordered[:-keep] if len(ordered) > keep else []


def describe_failure(step, detail, restored, healthy_after):
    """One-paragraph summary of a failed release for the play's output."""
    lines = ["Release FAILED at step '%s': %s" % (step, detail)]
    if restored is None:
        lines.append("The live service was not touched (the candidate never went live).")
    elif restored:
        lines.append("Rolled back: restored the last-known-good files (%s) and restarted." % ", ".join(restored))
        lines.append("Service healthy on last-known-good: %s." % ("yes" if healthy_after else "NO"))
    else:
        lines.append("Nothing could be restored.")
    return " ".join(lines)


RELEASE_ID_FORMAT = "%Y%m%dT%H%M%SZ"


def unique_release_id(stamp, taken):
    """`stamp` (a time formatted with RELEASE_ID_FORMAT), made unique among `taken` ids.

    Two releases can start within the same second (one waited for the other's lock, or ran
    nothing): the later one gets a "-2", "-3" ... suffix, which still sorts after the plain id
    and before the next second's, so history names keep sorting by time.
    """
    taken = set(taken)
    if stamp not in taken:
        return stamp
    number = 2
    while "%s-%d" % (stamp, number) in taken:
        number += 1
    return "%s-%d" % (stamp, number)


RECOVER_KEEP_PREVIOUS = "keep-previous"
RECOVER_VERIFY = "verify"
RECOVER_APPLY = "apply"
RECOVER_RESTORE = "restore"


def recovery_plan(pending, live_checksums, service_active, live_config, previous_config=None):
    """What to do with a release that was interrupted after pending.json was written: (what, action).

    - the live files are still the previous release's (interrupted before the first live file
      was replaced, or a promotion that failed and put them back): nothing went live, keep them
      (RECOVER_KEEP_PREVIOUS, no action) once the running service passes the gate;
    - the live files are the candidate's and it was applied (pending.json says so): gate it as
      it runs (RECOVER_VERIFY, no action);
    - the live files are the candidate's but the interrupted run may not have reloaded or
      restarted yet: the running master may still serve the previous config, so apply it again
      the way the release would have (RECOVER_APPLY with that action, from the changed files'
      checksums; `previous_config`, usually last-known-good's, tells whether preload was on), then
      gate it;
    - anything else (partly promoted files, a stopped service): restore last-known-good
      (RECOVER_RESTORE).
    """
    if not service_active:
        return RECOVER_RESTORE, ACTION_RESTART
    if live_checksums == pending.get("previous"):
        return RECOVER_KEEP_PREVIOUS, ACTION_NONE
    if live_checksums != pending.get("candidate"):
        return RECOVER_RESTORE, ACTION_RESTART
    if pending.get("applied"):
        return RECOVER_VERIFY, ACTION_NONE
    changed = [name for name in MANAGED_FILES
               if (pending.get("previous") or {}).get(name) != pending["candidate"].get(name)]
    action, _reason = plan_action(changed, True, previous_config, live_config)
    if action == ACTION_SCALE:
        # The master may have handled part of the TTIN/TTOU signals before the interruption: a HUP
        # applies the recorded count whatever the master runs now.
        action = ACTION_RELOAD
    return RECOVER_APPLY, action
