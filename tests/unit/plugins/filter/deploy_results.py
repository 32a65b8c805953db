# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Results of the gunicorn_django release task, shaped as gunicorn_release returns them."""

from __future__ import annotations

CONFIG = "/etc/gunicorn/mysite/gunicorn.conf.py"
SHA = "9ea479b60e61" + "0" * 52


def sizing(workers=3, threads=1, worker_class="sync", auto=False, bound_by="explicit"):
    return {"auto": auto, "workers": workers, "threads": threads, "worker_class": worker_class, "bound_by": bound_by}


def record(release_id="20261126T150814Z-1a2b", **sizing_args):
    return {"release_id": release_id, "result": "?", "checksums": {"config": SHA}, "sizing": sizing(**sizing_args)}


def released(result="reloaded", action="reload", changed_files=("config",), reason=None, **sizing_args):
    """A healthy release (the task succeeded)."""
    return {
        "changed": result != "unchanged", "msg": "mysite: %s (%s)" % (result, reason or "why"),
        "result": result, "service_action": action, "reason": reason or "only gunicorn.conf.py changed: reload with HUP",
        "changed_files": list(changed_files), "healthy": True, "rolled_back": False,
        "steps": [{"step": "health-gate", "result": "ok", "detail": "", "seconds": 0.4}],
        "record": record(**sizing_args),
    }


def release_failed(result="rolled_back", step="health-gate", healthy=True, detail="/items/: status 500, expected 200",
                   evidence=("gunicorn[12]: Traceback",), action="restart", changed_files=("config", "app_env"),
                   **sizing_args):
    """A release that failed (the task failed): rolled back, rejected or failed."""
    summary = "Release FAILED at step '%s': %s\nRolled back: restored config. Service healthy on last-known-good: %s" % (
        step, detail, "yes" if healthy else "NO")
    return {
        "failed": True, "changed": result == "rolled_back", "msg": summary,
        "error": {"step": step, "detail": detail, "evidence": list(evidence), "summary": summary},
        "result": result, "service_action": action, "reason": "app_env changed (systemd reads it at start only)",
        "changed_files": list(changed_files), "healthy": healthy, "rolled_back": result == "rolled_back",
        "steps": [{"step": step, "result": "failed", "detail": detail, "seconds": 1.2}],
        "record": record(**sizing_args),
    }


def checked(action="reload", changed_files=("config",), before="workers = 3\n", after="workers = 4\n"):
    """Check mode with --diff: what the release would do."""
    changed = bool(changed_files) or action == "start"
    result = {
        "changed": changed, "result": "would %s" % action if changed else "unchanged", "service_action": action,
        "reason": "only gunicorn.conf.py changed: reload with HUP", "changed_files": list(changed_files),
        "msg": "mysite: would %s (check mode)" % action,
    }
    if changed_files:
        result["diff"] = [{"before": before, "after": after, "before_header": CONFIG, "after_header": CONFIG}]
    return result


def unreachable():
    return {"unreachable": True, "changed": False,
            "msg": "Task failed: Failed to connect to the host via ssh: connect to host web3 port 22: No route to host"}


def task_failed(msg="gunicorn_django_bind must be a loopback address (127.0.0.1:PORT, [::1]:PORT, localhost:PORT)"):
    """A failure outside the release module (a preflight assert)."""
    return {"failed": True, "changed": False, "msg": msg, "assertion": "false", "evaluated_to": False}
