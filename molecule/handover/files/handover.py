"""Hand-over checks of molecule/handover, run from the controller.

    handover.py <host>

With socket activation (the default), every kind of change is deployed with the role in a nested
ansible-playbook run while a prober with 4 clients requests /items/ on the host's loopback; each
must go live by a hand-over (a partner master beside the live one, then the live unit restarted on
the new files) with no failed request, and leave no partner behind. Then the host is restarted
(the live release must start, not the other one), and a release that answers 500 is deployed with
the canary off: it is stopped at its gate beside the live master, no connection is refused, and
the old master never stopped. Prints each check and a JSON summary; exits 1 if a check failed.
"""
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "faults", "files"))
import faults  # noqa: E402  pylint: disable=wrong-import-position

ENV = {"MYSITE_DB_PATH": "/var/lib/mysite/db.sqlite3", "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost"}
# Each step changes one thing of the release before it (the values accumulate).
CHANGES = [
    ("timeout", {"gunicorn_django_timeout": 40}),
    ("max_requests", {"gunicorn_django_max_requests": 1200}),
    ("keepalive", {"gunicorn_django_keepalive": 3}),
    ("worker_class gthread with threads", {"gunicorn_django_worker_class": "gthread", "gunicorn_django_threads": 2}),
    ("worker_class back to sync", {"gunicorn_django_worker_class": "sync", "gunicorn_django_threads": 1}),
    ("app environment", {"gunicorn_django_env": dict(ENV, MYSITE_RELEASE="2")}),
    ("secret environment", {"gunicorn_django_secret_env": {"DJANGO_SECRET_KEY": "molecule-handover-second-key"}}),
    ("unit sandbox", {"gunicorn_django_read_write_paths": ["/var/lib/mysite", "/var/tmp"]}),
    ("preload_app on", {"gunicorn_django_preload_app": True}),
    ("preload_app off", {"gunicorn_django_preload_app": False}),
    ("app_dir and venv", {"gunicorn_django_app_dir": "/srv/mysite-b/app", "gunicorn_django_venv": "/srv/mysite-b/venv"}),
]
# /items/ answers 500 on an empty database: the canary would reject it, so the canary is off.
BAD = {"gunicorn_django_env": dict(ENV, MYSITE_DB_PATH="/tmp/empty.sqlite3"), "gunicorn_django_canary": False}


class Handover(faults.Suite):
    def start_load(self, seconds=240):
        self.sh("rm -f /run/djangoops-prober.json; systemd-run --unit=djangoops-prober --collect "
                "/usr/bin/python3 /usr/local/lib/djangoops-prober.py --out /run/djangoops-prober.json "
                "--seconds %d --concurrency 4 --interval 0.01" % seconds)

    def deploy_under_load(self, extra):
        """(state before, the deploy's run, the prober's counts, state after) of one deploy under load."""
        before = self.state()
        self.start_load()
        run = self.deploy(extra)
        probe = self.stop_prober()
        return before, run, probe, self.state()

    def check_clean(self, label, st):
        self.check("%s: no partner left (unit inactive, no unit file under /run)" % label,
                   st["partner"] in ("inactive", "failed", None) and not st["partner_unit_file"],
                   json.dumps({"partner": st["partner"], "file": st["partner_unit_file"]}))
        self.check("%s: the listening socket is active" % label, st["socket"] == "active", st["socket"])

    def change(self, label, extra):
        before, run, probe, after = self.deploy_under_load(extra)
        rel = run["release"] or {}
        self.check("%s: the play passed" % label, run["rc"] == 0, (run["failed"] or {}).get("msg", run["stderr"][-500:]))
        self.check("%s: went live by hand-over" % label,
                   rel.get("service_action") == "handover" and rel.get("result") == "handed_over",
                   json.dumps({k: rel.get(k) for k in ("service_action", "result", "reason", "msg")}))
        self.check("%s: a new live master" % label, after["main_pid"] not in (0, before["main_pid"]),
                   "%s -> %s" % (before["main_pid"], after["main_pid"]))
        self.check("%s: no failed request (%d sent)" % (label, probe["sent"]), probe["sent"] > 0 and probe["failed"] == 0,
                   json.dumps(probe))
        self.check_healthy(label, after)
        self.check_clean(label, after)
        return {"seconds": run["seconds"], "sent": probe["sent"], "failed": probe["failed"]}

    def reboot(self):
        before = self.state()
        subprocess.run(["podman", "restart", "--time", "60", self.host], check=True, capture_output=True)
        self.sh("systemctl is-system-running --wait || true")
        deadline = time.monotonic() + 60
        while True:
            after = self.state()
            # The state is read before the page: a page queued in the socket may answer 200 while
            # the state said "activating" a moment before, so wait for both.
            if (after["page"]["status"] == 200 and after["active"] == "active") or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        self.check("reboot: the live unit runs the last release (the live files are last-known-good)",
                   after["active"] == "active" and after["lkg"]["is_live"] and after["live"] == before["live"],
                   json.dumps({"active": after["active"], "lkg": after["lkg"]["is_live"]}))
        self.check("reboot: the release of the last hand-over serves (from /srv/mysite-b)",
                   "/srv/mysite-b/" in self.sh("systemctl show --property=ExecStart --value gunicorn-mysite").stdout)
        self.check("reboot: /items/ answers 200", after["page"]["status"] == 200 and after["page"]["ok"],
                   json.dumps(after["page"]))
        self.check_clean("reboot", after)

    def bad_release(self, extra):
        before, run, probe, after = self.deploy_under_load(extra)
        rel = run["release"] or {}
        error = rel.get("error") or {}
        self.check("bad release: the play failed, the partner was stopped at its gate",
                   run["rc"] != 0 and rel.get("result") == "rejected" and error.get("step") == "partner",
                   json.dumps({k: rel.get(k) for k in ("result", "msg")}))
        self.check("bad release: the live master never stopped", after["main_pid"] == before["main_pid"],
                   "%s -> %s" % (before["main_pid"], after["main_pid"]))
        self.check("bad release: no connection refused, no timeout (only the bad master's own answers failed)",
                   probe["refused"] == 0 and probe["other"] == 0 and set(probe["statuses"]) <= {"500"},
                   json.dumps(probe))
        self.check_healthy("bad release", after)
        self.check_clean("bad release", after)
        return {"sent": probe["sent"], "answered_by_the_bad_master": probe["http_error"]}


def main():
    suite = Handover(sys.argv[1])
    # A generous gate on a shared, loaded machine: this scenario tests the hand-over, not the timeout.
    extra, measured = {"gunicorn_django_health_timeout": 90}, {}
    for label, change in CHANGES:
        extra = dict(extra, **change)
        measured[label] = suite.change(label, extra)
    workers = dict(extra, gunicorn_django_workers=4)
    suite.start_load()
    run = suite.deploy(workers)
    probe = suite.stop_prober()
    suite.check("workers only: scaled with TTIN, no hand-over, no failed request",
                (run["release"] or {}).get("service_action") == "scale" and probe["failed"] == 0,
                json.dumps({"release": (run["release"] or {}).get("service_action"), "probe": probe}))
    extra = dict(workers, gunicorn_django_workers=faults.WORKERS)
    suite.deploy(extra)
    suite.reboot()
    measured["bad release"] = suite.bad_release(dict(extra, **BAD))
    print("SUMMARY " + json.dumps(measured, sort_keys=True))
    return 1 if suite.failed else 0


if __name__ == "__main__":
    sys.exit(main())
