# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Pure decisions of a Gunicorn release: no I/O, no text parsing, standard library only.

Every decision takes structured settings (the dicts of gunicorn_config.effective_settings); the
host side gathers them and carries out what these functions decide.
"""

from __future__ import annotations

import difflib
import hashlib
import hmac
import json

from ansible_collections.djangoops.gunicorn.plugins.module_utils import bind as bind_address
from ansible_collections.djangoops.gunicorn.plugins.module_utils import gunicorn_config

# Files a release manages, in the order they are promoted. The units go last so that a
# daemon-reload sees a consistent set. "socket" is the optional socket-activation unit, and
# "probe_socket" the live master's private probe socket that comes with it. "release" records the
# app's own release (its revision and code directories): nothing reads it, but a new revision is a
# release even when no other file changed, and a rollback brings the record back with the rest.
MANAGED_FILES = ("config", "app_env", "secret_env", "release", "unit", "socket", "probe_socket")
UNIT_FILES = ("unit", "socket", "probe_socket")
# Files whose change Gunicorn cannot pick up with HUP: systemd reads environment files and
# the unit when the service starts.
RESTART_FILES = ("unit", "app_env", "secret_env", "release", "probe_socket")
# With socket activation, systemd holds the listening socket: a change of the socket unit must
# re-create it.
SOCKET_FILES = ("socket",)
SECRET_FILES = ("secret_env",)

ACTION_NONE = "none"
ACTION_START = "start"
ACTION_RELOAD = "reload"
ACTION_RESTART = "restart"
ACTION_RESOCKET = "resocket"
ACTION_SCALE = "scale"
ACTION_HANDOVER = "handover"
ACTIONS = (ACTION_NONE, ACTION_START, ACTION_RELOAD, ACTION_SCALE, ACTION_HANDOVER, ACTION_RESTART,
           ACTION_RESOCKET)
# What a healthy release reports for each action (a scale applies the config in place, like a HUP).
RESULT_OF_ACTION = {ACTION_NONE: "unchanged", ACTION_START: "started", ACTION_RELOAD: "reloaded",
                    ACTION_SCALE: "reloaded", ACTION_HANDOVER: "handed_over", ACTION_RESTART: "restarted",
                    ACTION_RESOCKET: "restarted"}
# Actions that start the live unit afresh (after reset-failed): no automatic restart may follow.
STARTING_ACTIONS = (ACTION_START, ACTION_RESTART, ACTION_RESOCKET, ACTION_HANDOVER)
# A second master must fit beside the live one: its measured memory times this margin.
OVERLAP_MEMORY_MARGIN = 1.25
MIB = 1024 * 1024

RELEASE_ID_FORMAT = "%Y%m%dT%H%M%SZ"


def release_record(revision, app_dir, venv, resolve):
    """The "release" file of an app release: its revision and code directories, as given and as
    `resolve` (os.path.realpath on the host) finds them, so that a `current` symlink switched by
    another tool is a new release too. "" (no file) without a revision: the code is then whatever
    the directories hold, and only the other files say what changed."""
    if not revision:
        return ""
    record = {"revision": revision, "app_dir": app_dir, "venv": venv,
              "app_dir_resolved": resolve(app_dir), "venv_resolved": resolve(venv)}
    return json.dumps(record, indent=2, sort_keys=True) + "\n"


def read_release_record(content):
    """The fields of a "release" file ({} when there is none or it is not one)."""
    try:
        record = json.loads(content) if content else {}
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def release_directories_problem(record, resolved_now):
    """Why the code directories a kept release ran from cannot run it again: (option, what is
    wrong) or None. `record` is its release file's fields (read_release_record); `resolved_now`
    what each given path ("app_dir", "venv") resolves to on the host now, None when it is gone.
    A given path that now resolves elsewhere (a `current` symlink switched since) would run other
    code under the old release's name, so it is a problem too."""
    for option in ("app_dir", "venv"):
        given, then = record.get(option), record.get(option + "_resolved")
        if not given:
            continue
        now = resolved_now.get(option)
        revision = record.get("revision") or "(no revision)"
        if now is None:
            return option, ("%s, which release %s ran from, no longer exists on the host: the code of that "
                            "release is gone" % (then or given, revision))
        if then and now != then:
            return option, ("%s now resolves to %s, but release %s ran from %s: point it back (the deploy "
                            "tool's own rollback) and roll back again" % (given, now, revision, then))
    return None


ROLLBACK_PREVIOUS = "previous"
ROLLBACK_LAST_KNOWN_GOOD = "last-known-good"


def rollback_target(target, history, last_known_good):
    """The history entry a rollback restores: (entry id, None) or (None, the reason it cannot).

    `history` lists (id, meta) of the earlier last-known-good releases, oldest first;
    `last_known_good` is the (id, meta) of the current one, or None. `target` is:
    - "" or "previous": the release before the current last-known-good (the newest entry);
    - a number N: N releases back (1 is "previous");
    - a history id;
    - a rollout id (the `rollout` its releases were stamped with): the release that was live
      before the rollout's first release on this host;
    - "last-known-good": the current one itself (None as entry id: restore it as it is).
    """
    target = str(target or ROLLBACK_PREVIOUS).strip()
    ids = [entry for entry, _meta in history]
    if target == ROLLBACK_LAST_KNOWN_GOOD:
        return (None, None) if last_known_good else (None, "there is no last-known-good release")
    if target == ROLLBACK_PREVIOUS or target.isdigit():
        back = 1 if target == ROLLBACK_PREVIOUS else int(target)
        if back < 1:
            return None, "rollback_to %r: the number of releases back starts at 1" % target
        if back > len(ids):
            return None, "rollback_to %r: only %d earlier release(s) are kept (%s)" % (
                target, len(ids), ", ".join(ids) or "none")
        return ids[-back], None
    if target in ids:
        return target, None
    kept = list(history) + ([last_known_good] if last_known_good else [])
    firsts = [index for index, (_entry, meta) in enumerate(kept) if (meta or {}).get("rollout") == target]
    if firsts:
        if firsts[0] == 0:
            return None, "rollback_to %r: no release kept from before that rollout" % target
        return kept[firsts[0] - 1][0], None
    return None, "rollback_to %r is neither a number of releases back, a history id (%s) nor a rollout id" % (
        target, ", ".join(ids) or "none kept")


def checksum(content):
    """sha256 of a text file's content (None for a missing file)."""
    if not content:
        return None
    return hashlib.sha256(content.encode("utf-8")).hexdigest()


def normalize(content):
    """Managed file content: "" and None both mean "no such file" (one meaning everywhere)."""
    return content or None


def keyed_checksum(content, key):
    """HMAC-SHA256 of a secret file's content under the host's key, prefixed "hmac-sha256:"
    (None for a missing file): says whether it changed without letting a guess be confirmed."""
    if not content:
        return None
    return "hmac-sha256:" + hmac.new(key, content.encode("utf-8"), hashlib.sha256).hexdigest()


def checksums(files, secret_key=None):
    """Checksum of every managed file: sha256, comparable across hosts; with `secret_key`, the
    secret files' keyed (keyed_checksum) instead."""
    return dict((name, keyed_checksum(files.get(name), secret_key) if secret_key and name in SECRET_FILES
                 else checksum(files.get(name))) for name in MANAGED_FILES)


def changed_files(live, desired):
    """Names of managed files whose desired content differs from the live one; a file missing
    from `desired` is a file that must not exist (the same in a deploy, a restore and a rollback)."""
    return [name for name in MANAGED_FILES if normalize(live.get(name)) != normalize(desired.get(name))]


def scale_counts(live_config, live_settings, desired):
    """(live workers, desired workers) when the live gunicorn.conf.py is exactly what `desired`
    (a config spec: app_name, settings, extra_settings, python, header) renders with the live
    workers count, and the count is set nowhere else; None otherwise."""
    if not desired or not live_config or not live_settings:
        return None
    before, after = live_settings.get("workers"), desired["settings"]["workers"]
    if not isinstance(before, int) or isinstance(before, bool) or before < 1 or after < 1 or before == after:
        return None
    # Raw Python that assigns workers again (even in an if block) makes the count unknowable.
    if gunicorn_config.module_level_assignments(desired.get("python") or "", "workers") != 0:
        return None
    same_but_count = dict(desired["settings"], workers=before)
    rendered = gunicorn_config.render(desired["app_name"], same_but_count, desired.get("extra_settings"),
                                      desired.get("python") or "", desired["header"])
    return (before, after) if rendered == live_config else None


def can_hand_over(live, desired):
    """Whether a release from `live` to `desired` files can go live by a hand-over: both hold the
    same socket unit, so a second master can serve on the listening socket systemd keeps open."""
    return bool(normalize(live.get("socket"))) and normalize(live.get("socket")) == normalize(desired.get("socket"))


def overlap_problem(needed_bytes, available_bytes, margin=OVERLAP_MEMORY_MARGIN):
    """Why the host cannot hold a second master beside the live one (None when it can).

    `needed_bytes` is what the live master and its workers use (their proportional set size: a
    new master of the same release needs about as much), `available_bytes` what the host can
    still give; either may be None when unknown, which is no reason to refuse.
    """
    if not needed_bytes or available_bytes is None or needed_bytes * margin <= available_bytes:
        return None
    return ("a second master needs about %d MiB (the live one's, x%.2f) and %d MiB are available"
            % (needed_bytes * margin // MIB, margin, available_bytes // MIB))


def plan_action(changed, service_active, live_settings, desired_settings, counts=None, handover=False,
                overlap=None):
    """Cheapest safe way to apply a change: (action, reason).

    - the service does not run: start;
    - nothing changed: none;
    - the socket unit changed (socket activation on or off, another address): resocket - stop the
      service, re-create the socket, start the service;
    - only the workers count changed (`counts`, from scale_counts): scale - TTIN/TTOU signals add
      or retire workers one at a time, and the workers that serve keep serving;
    - the live and the new release share a socket unit (`handover`, from can_hand_over): handover
      - a second master boots the release beside the live one on the same listening socket, and
      the live one stops only once the new one passed its gate; unless the host cannot hold both
      (`overlap`, from overlap_problem), which restarts instead (the socket queues connections);
    - the unit or an environment file changed: restart (systemd reads them at start only);
    - the bind changed: restart (on HUP the master binds the new address before it closes the
      old one, and dies on "Connection in use" when both share a port);
    - preload_app on before or after: restart (with preload, HUP does not reload the app's code,
      gunicorn #2449);
    - only the workers count changed (`counts`, from scale_counts): scale - TTIN/TTOU signals add
      or retire workers one at a time, and the workers that serve keep serving;
    - otherwise (gunicorn.conf.py only): reload with HUP.
    `live_settings` may be None (a live config whose settings are unknown): a config change then
    restarts, since its bind cannot be compared.
    """
    if not service_active:
        return ACTION_START, "the service is not running"
    if not changed:
        return ACTION_NONE, "nothing changed"
    if any(name in SOCKET_FILES for name in changed):
        return ACTION_RESOCKET, "the socket unit changed: the listening socket must be re-created"
    if handover:
        if changed == ["config"] and counts:
            return _scale(counts)
        what = "%s changed" % ", ".join(changed)
        if overlap:
            return ACTION_RESTART, "%s; no hand-over: %s (the socket queues connections during the restart)" % (
                what, overlap)
        return ACTION_HANDOVER, "%s: a new master takes over on the same socket once it passed its gate" % what
    restart_files = [name for name in changed if name in RESTART_FILES]
    if restart_files:
        return ACTION_RESTART, "%s changed (systemd reads it at start only)" % ", ".join(restart_files)
    live_settings = live_settings or {}
    if live_settings.get("bind") != desired_settings.get("bind"):
        return ACTION_RESTART, "the bind changed: HUP cannot move the listening socket"
    if live_settings.get("preload_app") is True or desired_settings.get("preload_app") is True:
        return ACTION_RESTART, "preload_app is on: HUP would not reload the app's code"
    if changed == ["config"] and counts:
        return _scale(counts)
    return ACTION_RELOAD, "only gunicorn.conf.py changed: reload with HUP"


def _scale(counts):
    return ACTION_SCALE, "only the workers count changed (%d -> %d): %d %s to the master, no worker replaced" % (
        counts[0], counts[1], abs(counts[1] - counts[0]), "TTIN" if counts[1] > counts[0] else "TTOU")


def probe_address(bind):
    """Where health checks connect for a bind: ("unix", path) or ("tcp", host, port)."""
    address = bind_address.parse(bind)
    if address.kind == bind_address.UNIX:
        return (address.kind, address.path)
    return (address.kind, bind_address.probe_host(address), address.port)


def describe_address(address):
    if address[0] == "unix":
        return "unix:%s" % address[1]
    host = address[1]
    return "http://%s:%d" % ("[%s]" % host if ":" in host else host, address[2])


def bind_problem(bind, live_binds, port_is_free):
    """Why a new bind cannot be used (None when it can); `port_is_free(host, port)` asks the host.

    A bind the live master serves is not probed, and a port the live master holds on a clashing
    address (127.0.0.1:8000 -> localhost:8000) frees itself with the restart a changed bind gets.
    """
    try:
        address = bind_address.parse(bind)
    except ValueError as exc:
        return str(exc)
    if address.kind != bind_address.TCP or bind in (live_binds or []):
        return None
    if port_is_free(address.host, address.port) or bind_address.held_by(address, live_binds):
        return None
    return "%s: port %d is already in use by another process" % (bind, address.port)


# Answers of an app (or a proxy in front of it) that is still warming up: a check waits for the
# deadline through them. Any other wrong answer fails once it repeats (a 500 will not heal).
NOT_READY_STATUSES = (502, 503, 504)
# The Host header of a check that sets none: an app's ALLOWED_HOSTS must accept it, or the check
# sets its own ({headers: {Host: ...}}).
DEFAULT_HEALTH_HOST = "localhost"
HEALTH_METHODS = ("GET", "HEAD")


def health_request(check):
    """(method, path, headers) a health check sends; headers with the default Host when it sets none."""
    headers = {"Host": DEFAULT_HEALTH_HOST, "User-Agent": "djangoops.gunicorn"}
    given = dict((str(name), str(value)) for name, value in (check.get("headers") or {}).items())
    for name in list(headers):
        if any(other.lower() == name.lower() for other in given):
            del headers[name]
    headers.update(given)
    return (str(check.get("method") or "GET").upper(), check.get("path") or "/", headers)


def check_response(check, status, body, location=None):
    """None when a health check's response is as expected, else the reason it is not.

    A check expects `status` (default 200), a `contains` text in the body, and for a redirect a
    `location` text in its Location header."""
    expected = int(check.get("status") or 200)
    if status != expected:
        return "status %s, expected %s" % (status, expected)
    contains = check.get("contains")
    if contains and contains not in (body or ""):
        return "status %s but the body lacks %r" % (status, contains)
    wanted = check.get("location")
    if wanted and wanted not in (location or ""):
        return "status %s but Location is %r, expected it to contain %r" % (status, location, wanted)
    return None


def not_ready(status):
    """Whether an answer means "not ready yet" rather than "wrong" (see NOT_READY_STATUSES)."""
    return status in NOT_READY_STATUSES


def backoff_delays(first=0.1, factor=2.0, ceiling=1.0):
    """Endless retry delays: 0.1, 0.2, 0.4, 0.8, 1.0, 1.0, ... seconds."""
    delay = first
    while True:
        yield delay
        delay = min(delay * factor, ceiling)


def unknown_settings(names, known):
    """Setting names Gunicorn does not know, each with the closest known name when there is one."""
    unknown = []
    for name in sorted(names):
        if name not in known:
            close = difflib.get_close_matches(name, sorted(known), n=1)
            unknown.append((name, close[0] if close else None))
    return unknown


def prune_history(entries, keep):
    """History entry names to delete so that the newest `keep` remain (names sort by time;
    names starting with a dot are the store's own work in progress, never entries)."""
    ordered = sorted(entry for entry in entries if not entry.startswith("."))
    keep = max(keep, 1)
    return ordered[:-keep] if len(ordered) > keep else []


def unique_release_id(stamp, taken):
    """`stamp` (a time formatted with RELEASE_ID_FORMAT), made unique among `taken` ids.

    Two releases can start within the same second: the later one gets a "-2", "-3" ... suffix,
    which still sorts after the plain id and before the next second's.
    """
    taken = set(taken)
    if stamp not in taken:
        return stamp
    number = 2
    while "%s-%d" % (stamp, number) in taken:
        number += 1
    return "%s-%d" % (stamp, number)


def describe_failure(step, detail, restored, healthy_after, served_beside=False):
    """One-paragraph summary of a failed release for the play's output.

    `restored` is None when the candidate never went live, the restored file names after a
    rollback, or [] when nothing could be restored; `served_beside` when the candidate served
    beside the live release during a hand-over and was stopped at its gate.
    """
    lines = ["Release FAILED at step '%s': %s" % (step, detail)]
    if restored is None and served_beside:
        lines.append("The candidate served beside the live release and was stopped; the live release "
                     "never stopped.")
    elif restored is None:
        lines.append("The live service was not touched (the candidate never went live).")
    elif restored:
        lines.append("Rolled back: restored the last-known-good files (%s) and restarted." % ", ".join(restored))
        lines.append("Service healthy on last-known-good: %s." % ("yes" if healthy_after else "NO"))
    else:
        lines.append("Nothing could be restored.")
    return " ".join(lines)


RECOVER_KEEP_PREVIOUS = "keep-previous"
RECOVER_VERIFY = "verify"
RECOVER_APPLY = "apply"
RECOVER_RESTORE = "restore"


def adoption_problem(master_started, written):
    """Why the running master may not run the live files (None when it does): `written` maps the
    live files that exist to when they were last written. systemd reads the unit and the
    environment files, and Gunicorn its config, when the master starts (a HUP re-reads the
    config, but leaves no trace to tell it from a worker recycled by max_requests): a file written
    after that may never have been loaded, so adopting it as last-known-good would keep an
    untested release. `master_started` None (unknown) is a problem too."""
    if master_started is None:
        return "the running master's start time cannot be read"
    newer = sorted(name for name, mtime in written.items() if mtime is not None and mtime > master_started)
    if newer:
        return ("the running master started before %s %s last written: it may not run %s"
                % (", ".join(newer), "was" if len(newer) == 1 else "were", "it" if len(newer) == 1 else "them"))
    return None


def recovery_plan(pending, live_checksums, service_active):
    """What to do with a release interrupted after pending.json was written: (what, action).

    `pending` holds the checksums of the previous and the candidate files, the previous and the
    candidate settings, and `applied` once the candidate was reloaded or started.

    - the service is down: restore last-known-good (RECOVER_RESTORE);
    - the live files are still the previous release's: nothing went live, gate what runs
      (RECOVER_KEEP_PREVIOUS, no action);
    - the live files are the candidate's and it was applied: gate it as it runs (RECOVER_VERIFY);
    - the candidate's but maybe not applied yet: apply it again the way the release would have
      (RECOVER_APPLY with that action), then gate it - a scale becomes a HUP, since the master may
      have handled part of the signals, and a HUP applies the recorded count whatever runs; a
      hand-over becomes a restart of the service (its partner, if it still runs, serves
      meanwhile, and the socket queues connections otherwise);
    - anything else (partly promoted files): restore last-known-good.
    """
    if not service_active:
        return RECOVER_RESTORE, ACTION_RESTART
    previous, candidate = pending.get("previous") or {}, pending.get("candidate") or {}
    if live_checksums == previous:
        return RECOVER_KEEP_PREVIOUS, ACTION_NONE
    if live_checksums != candidate:
        return RECOVER_RESTORE, ACTION_RESTART
    if pending.get("applied"):
        return RECOVER_VERIFY, ACTION_NONE
    changed = [name for name in MANAGED_FILES if previous.get(name) != candidate.get(name)]
    action, _reason = plan_action(changed, True, pending.get("previous_settings"),
                                  pending.get("candidate_settings") or {}, handover=bool(pending.get("handover")))
    return RECOVER_APPLY, ACTION_RESTART if action == ACTION_HANDOVER else action
