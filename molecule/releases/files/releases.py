"""Release checks of molecule/releases, run from the controller (docs/reliability.md, "App releases").

    releases.py <host1>,<host2>,<host3>

The sample app is laid out in release directories /srv/mysite/releases/<revision>/{app,venv}; each
revision's code says its name at /version/ (mysite/revision.py). Converge deployed r1 everywhere.

On the first host, with the role in nested ansible-playbook runs under load (the deploy-under-load
helper and checks of molecule/handover): a new revision in a new directory and a code change in
place go live by hand-over with no failed request; an import error (check-config), a URLconf that
fails at the first request and a page that answers 500 (canary) are refused with the live master
untouched, and with the canary off the bad partner is stopped at its gate. Across the three hosts:
playbooks/deploy.yml with `migrate --noinput` once per rollout (the migration is in django_migrations
of the first host only), a failing migration stops the rollout on the first host before its canary;
playbooks/rollback.yml with no target, `previous` and a rollout id restores the code, the live unit's
directories and the config of the release before, on every host. Prints each check and a JSON
summary; exits 1 if a check failed.
"""
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(HERE)), "handover", "files"))
import handover  # noqa: E402  pylint: disable=wrong-import-position
# faults is on the path handover.py set.
import faults  # noqa: E402  pylint: disable=wrong-import-position,wrong-import-order

VARS_FILE = os.path.join(faults.PROJECT, "molecule", "shared", "sample_app_vars.yml")
# A generous gate on a shared, loaded machine; the second batch of a rollout is the other two hosts.
BASE = {"gunicorn_django_health_timeout": 90}
FLEET = {"deploy_serial": [1, 2], "rollback_serial": [1, 2]}
MIGRATE_ONCE = {"gunicorn_django_release_commands": ["migrate --noinput"],
                "gunicorn_django_release_commands_once": True}
MARKER_MIGRATION = "0003_release_marker"


def release(revision, directory=None):
    """The role's variables of a revision in its release directory (by default its own)."""
    root = "/srv/mysite/releases/%s" % (directory or revision)
    return dict(BASE, gunicorn_django_app_revision=revision, gunicorn_django_app_dir=root + "/app",
                gunicorn_django_venv=root + "/venv")


class Releases(handover.Handover):
    def py(self, code):
        proc = subprocess.run(["podman", "exec", self.host, "python3", "-c", code], capture_output=True, text=True,
                              check=True)
        return proc.stdout

    def code(self):
        """What the host serves and runs: the revision /version/ shows, the live unit's directories,
        its master, the live config's timeout and the revision of release.json."""
        page = self.sh("curl -s --max-time 10 http://127.0.0.1:8000/version/", check=False).stdout.strip()
        unit = self.sh("systemctl show -p WorkingDirectory -p ExecStart -p MainPID gunicorn-mysite").stdout
        props = dict(line.split("=", 1) for line in unit.splitlines() if "=" in line)
        config = self.sh("cat /etc/gunicorn/mysite/gunicorn.conf.py").stdout
        timeout = next((line.split("=", 1)[1].strip() for line in config.splitlines() if line.startswith("timeout = ")),
                       None)
        record = json.loads(self.sh("cat /etc/gunicorn/mysite/release.json", check=False).stdout or "{}")
        return {"version": page[len("revision "):] if page.startswith("revision ") else page,
                "workdir": props.get("WorkingDirectory"), "execstart": props.get("ExecStart", ""),
                "main_pid": int(props.get("MainPID") or 0), "timeout": timeout, "revision": record.get("revision")}

    def serves(self, label, revision, directory=None, timeout=None):
        """The host serves `revision`'s code from its release directory (and the config's timeout)."""
        root = "/srv/mysite/releases/%s" % (directory or revision)
        now = self.code()
        ok = self.check("%s: %s serves revision %s (/version/ and release.json)" % (label, self.host, revision),
                        now["version"] == revision and now["revision"] == revision, json.dumps(now))
        ok &= self.check("%s: %s's live unit runs from %s (WorkingDirectory, ExecStart)" % (label, self.host, root),
                         now["workdir"] == root + "/app" and ("path=%s/venv/bin/gunicorn " % root) in now["execstart"],
                         json.dumps(now))
        if timeout is not None:
            ok &= self.check("%s: %s's live config has timeout = %s" % (label, self.host, timeout),
                             now["timeout"] == str(timeout), json.dumps(now))
        return ok

    def migrations(self):
        return self.py("import sqlite3; print('\\n'.join(r[0] for r in sqlite3.connect("
                       "'file:/var/lib/mysite/db.sqlite3?mode=ro', uri=True).execute("
                       "\"SELECT name FROM django_migrations WHERE app = 'catalog'\")))").split()

    def new_code(self, label, extra, revision, directory=None):
        """A new revision goes live by hand-over under load, and the page shows its code."""
        measured = self.change(label, extra)
        self.serves(label, revision, directory)
        return measured

    def refused(self, label, extra, step, serving):
        """A broken revision is refused at `step` before it takes live traffic: the live master
        never stopped, no request failed, the old code still serves."""
        before, run, probe, after = self.deploy_under_load(extra)
        rel = run["release"] or {}
        error = rel.get("error") or {}
        self.check("%s: refused at %s" % (label, step),
                   run["rc"] != 0 and rel.get("result") == "rejected" and error.get("step") == step,
                   json.dumps({"rc": run["rc"], "result": rel.get("result"), "step": error.get("step"),
                               "detail": error.get("detail")}))
        self.check("%s: the live master never stopped" % label, after["main_pid"] == before["main_pid"],
                   "%s -> %s" % (before["main_pid"], after["main_pid"]))
        self.check("%s: no failed request (%d sent)" % (label, probe["sent"]), probe["sent"] > 0 and probe["failed"] == 0,
                   json.dumps(probe))
        self.check_healthy(label, after)
        self.serves(label, *serving)
        return {"seconds": run["seconds"], "sent": probe["sent"], "failed": probe["failed"]}


class Fleet:
    """The three hosts together: playbooks of the collection in their own ansible-playbook, under a
    light load on every host (one client each)."""

    def __init__(self, hosts):
        self.hosts = [Releases(host) for host in hosts]
        self.first = self.hosts[0]
        for host in self.hosts[1:]:
            host.failed = self.first.failed  # one list of failed checks

    def check(self, what, ok, detail=""):
        return self.first.check(what, ok, detail)

    @property
    def failed(self):
        return self.first.failed

    def run(self, playbook, extra):
        """Run `playbook` on the three hosts under load: rc, seconds, each host's release result, the
        prober's counts summed over the hosts."""
        for host in self.hosts:
            host.start_prober(seconds=300, concurrency=1, interval=0.05)
        env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json")
        argv = ["ansible-playbook", "--inventory", os.environ["MOLECULE_INVENTORY_FILE"], "--extra-vars",
                "@" + VARS_FILE, "--extra-vars", json.dumps(dict(FLEET, **extra)), playbook]
        started = time.monotonic()
        proc = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=900, check=False)
        seconds = round(time.monotonic() - started, 1)
        probes = [host.stop_prober() for host in self.hosts]
        releases = {}
        try:
            for play in json.loads(proc.stdout)["plays"]:
                for task in play["tasks"]:
                    for name, result in task["hosts"].items():
                        if "changed_files" in result or result.get("error"):
                            releases.setdefault(name, result)
        except (ValueError, KeyError):
            pass
        probe = dict((key, sum(p[key] for p in probes)) for key in ("sent", "failed", "refused"))
        return {"rc": proc.returncode, "seconds": seconds, "releases": releases, "probe": probe,
                "stderr": proc.stderr[-800:]}

    def no_failed_request(self, label, run):
        self.check("%s: no failed request on any host (%d sent)" % (label, run["probe"]["sent"]),
                   run["probe"]["sent"] > 0 and run["probe"]["failed"] == 0, json.dumps(run["probe"]))

    def deploy(self, label, extra, revision, timeout=None):
        """A revision rolled out with deploy.yml goes live on every host."""
        run = self.run("djangoops.gunicorn.deploy", extra)
        self.check("%s: deploy.yml passed" % label, run["rc"] == 0, run["stderr"])
        for host in self.hosts:
            host.serves(label, revision, timeout=timeout)
        self.no_failed_request(label, run)
        return run

    def rollback(self, label, target, revision, timeout):
        """rollback.yml (to `target`, or with no target) restores `revision` and its config everywhere."""
        extra = dict(BASE, gunicorn_django_rollback_to=target) if target else dict(BASE)
        run = self.run("djangoops.gunicorn.rollback", extra)
        actions = dict((name, (rel.get("service_action"), rel.get("revision"))) for name, rel in run["releases"].items())
        self.check("%s: rollback.yml passed, every host went back by hand-over" % label,
                   run["rc"] == 0 and sorted(actions) == sorted(h.host for h in self.hosts)
                   and all(action == "handover" for action, _revision in actions.values()),
                   json.dumps({"actions": actions, "stderr": run["stderr"]}))
        for host in self.hosts:
            host.serves(label, revision, timeout=timeout)
        self.no_failed_request(label, run)
        return {"seconds": run["seconds"], "sent": run["probe"]["sent"], "failed": run["probe"]["failed"]}


def host_cases(first, measured):
    """Cases 1-3 on the first host: new code by hand-over, broken code refused."""
    measured["r2: a new directory"] = first.new_code("r2 in a new directory", release("r2"), "r2")
    first.sh("printf '\"\"\"The code changed in place.\"\"\"\\nREVISION = \"r2-fix\"\\n' "
             "> /srv/mysite/releases/r2/app/mysite/revision.py")
    measured["r2-fix: in place"] = first.new_code("r2-fix in place (the r2 directory)", release("r2-fix", "r2"),
                                                  "r2-fix", "r2")
    serving = ("r2-fix", "r2")
    measured["import error"] = first.refused("an import error", release("bad-import"), "check-config", serving)
    measured["urlconf error"] = first.refused("a URLconf that fails at the first request", release("bad-urlconf"),
                                              "canary", serving)
    measured["page 500"] = first.refused("a page that answers 500", release("bad-page"), "canary", serving)
    measured["page 500, canary off"] = first.bad_release(dict(release("bad-page"), gunicorn_django_canary=False))
    first.serves("a page that answers 500 with the canary off", *serving)


def release_command_cases(fleet, measured):
    """Case 4: migrate once per rollout; a failing migration stops the rollout on the first host."""
    run = fleet.deploy("r3 with migrate once", dict(release("r3"), deploy_rollout_id="rollout-r3", **MIGRATE_ONCE),
                       "r3")
    migrated = [host.host for host in fleet.hosts if MARKER_MIGRATION in host.migrations()]
    fleet.check("r3: migrate ran on exactly one host, the first (%s in django_migrations)" % MARKER_MIGRATION,
                migrated == [fleet.first.host], json.dumps(migrated))
    ran = [name for name, rel in sorted(run["releases"].items())
           if any(step["step"] == "release-commands" for step in rel.get("steps") or [])]
    fleet.check("r3: the release record of the first host only has the release-commands step",
                ran == [fleet.first.host], json.dumps(ran))
    measured["r3: deploy.yml, migrate once"] = {"seconds": run["seconds"], "sent": run["probe"]["sent"],
                                                "failed": run["probe"]["failed"]}

    before = [(host.state()["records"], host.code()) for host in fleet.hosts]
    run = fleet.run("djangoops.gunicorn.deploy", dict(release("r4-bad-migration"), deploy_rollout_id="rollout-r4",
                                                      **MIGRATE_ONCE))
    rel = run["releases"].get(fleet.first.host) or {}
    error = rel.get("error") or {}
    steps = [step["step"] for step in rel.get("steps") or []]
    fleet.check("r4 (a failing migration): deploy.yml failed, the first host refused it at release-commands",
                run["rc"] != 0 and rel.get("result") == "rejected" and error.get("step") == "release-commands",
                json.dumps({"rc": run["rc"], "result": rel.get("result"), "error": error.get("detail")}))
    fleet.check("r4: the command's output is in the failure (the migration's own error)",
                "fails on purpose" in json.dumps(error), json.dumps(error)[:600])
    fleet.check("r4: rejected before its canary (no canary step)", "canary" not in steps, json.dumps(steps))
    fleet.check("r4: the rollout stopped on the first host (no other host has a release result)",
                sorted(run["releases"]) == [fleet.first.host], json.dumps(sorted(run["releases"])))
    for host, (records, code) in zip(fleet.hosts, before):
        after = host.code()
        if host is not fleet.first:
            fleet.check("r4: %s has no new release record" % host.host, host.state()["records"] == records)
        fleet.check("r4: %s kept r3 and its live master" % host.host,
                    after["main_pid"] == code["main_pid"] and after["version"] == "r3", json.dumps(after))
        host.serves("r4", "r3")
    fleet.no_failed_request("r4", run)
    measured["r4: failing migration"] = {"seconds": run["seconds"], "sent": run["probe"]["sent"],
                                         "failed": run["probe"]["failed"]}


def rollback_cases(fleet, measured):
    """Case 5: rollback.yml with no target, `previous` and a rollout id, each back to the release before."""
    r3_timeout = fleet.first.code()["timeout"]
    r5 = dict(release("r5"), deploy_rollout_id="rollout-r5", gunicorn_django_timeout=45)
    run = fleet.deploy("r5 with timeout 45", r5, "r5", timeout=45)
    measured["r5: deploy.yml"] = {"seconds": run["seconds"], "sent": run["probe"]["sent"],
                                  "failed": run["probe"]["failed"]}
    measured["rollback, no target"] = fleet.rollback("rollback.yml with no target", None, "r3", r3_timeout)
    measured["rollback previous"] = fleet.rollback("rollback.yml previous (the release before: r5)", "previous",
                                                   "r5", 45)
    measured["rollback rollout-r5"] = fleet.rollback("rollback.yml to rollout-r5 (what ran before it: r3)",
                                                     "rollout-r5", "r3", r3_timeout)


def main():
    fleet = Fleet(sys.argv[1].split(","))
    measured = {}
    started = time.monotonic()
    for host in fleet.hosts:
        host.serves("converge", "r1")
    host_cases(fleet.first, measured)
    release_command_cases(fleet, measured)
    rollback_cases(fleet, measured)
    measured["total seconds"] = round(time.monotonic() - started)
    measured["load average"] = os.getloadavg()
    print("SUMMARY " + json.dumps(measured, sort_keys=True))
    return 1 if fleet.failed else 0


if __name__ == "__main__":
    sys.exit(main())
