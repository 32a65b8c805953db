# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One Gunicorn release as a transaction on the host.

validate -> canary -> promote -> apply (HUP / restart / start) -> health gate
         -> keep as last-known-good, or roll back (restore last-known-good, restart, gate again)

State kept per app in ``state_dir`` (root-owned, 0750 root:<group>):

- ``candidate/``        the files being validated (readable by the app's group for the checks)
- ``last-known-good/``  the files that last passed the health gate, with ``meta.json``
- ``history/<id>/``     earlier last-known-good versions, newest ``history_size`` kept
- ``pending.json``      written before a candidate goes live, removed once it is verified or
                        rolled back: a run that finds it finishes the interrupted release first
- ``releases.json``     the newest release records (what, when, action, result, checksums)
- ``lock``              serialises releases of the same app
"""

from __future__ import annotations

import os
import shutil
import signal
import time

from ansible_collections.djangoops.gunicorn.plugins.module_utils import release_plan as plan
from ansible_collections.djangoops.gunicorn.plugins.module_utils.release_host import (
    HostError,
    Lock,
    Systemd,
    child_pids,
    describe_address,
    http_get,
    make_dir,
    port_is_free,
    read_file,
    read_json,
    write_file,
    write_json,
)

RECORDS_KEPT = 50
LOCK_TIMEOUT_SEC = 120
WRONG_ANSWERS_TO_FAIL = 3


class StepFailed(Exception):
    """A release step failed; `step` names it for the report, `lines` hold evidence."""

    def __init__(self, step, detail, lines=None):
        Exception.__init__(self, detail)
        self.step = step
        self.detail = detail
        self.lines = lines or []


class Release:
    def __init__(self, module, params):
        self.module = module
        self.p = params
        self.systemd = Systemd(module)
        self.unit = params["unit_name"]
        # gunicorn-<app>.socket, present when socket activation is on.
        self.socket_unit = self.unit[:-len(".service")] + ".socket" if self.unit.endswith(".service") else None
        self.canary_unit = params["canary_unit_name"]
        self.state_dir = params["state_dir"]
        self.steps = []
        self.evidence = []
        self.scale_counts = None
        self.started = time.time()
        self.release_id = time.strftime(plan.RELEASE_ID_FORMAT, time.gmtime(self.started))
        self.lock_wait = 0.0
        self.paths = params["paths"]
        self.desired = dict((name, params["files"].get(name)) for name in plan.MANAGED_FILES)

    # -- small helpers -------------------------------------------------------------------

    def _dir(self, name):
        return os.path.join(self.state_dir, name)

    def _mode(self, name):
        if name in ("unit", "socket"):
            return ("root", "root", 0o644)
        return ("root", self.p["group"], 0o640)

    def _put_live(self, name, content):
        """Write a live file, or remove it when its content is empty (an absent socket unit)."""
        if content:
            owner, group, mode = self._mode(name)
            write_file(self.paths[name], content, owner, group, mode)
        elif os.path.exists(self.paths[name]):
            if name == "socket":
                self.systemd.run("systemctl", "disable", self.socket_unit)
            os.unlink(self.paths[name])

    def step(self, name, result, detail="", since=None):
        self.steps.append({
            "step": name,
            "result": result,
            "detail": detail,
            "seconds": round(time.time() - (since or time.time()), 3),
        })

    def live_files(self):
        return dict((name, read_file(self.paths[name])) for name in plan.MANAGED_FILES)

    def _read_set(self, directory):
        return dict((name, read_file(os.path.join(directory, name))) for name in plan.MANAGED_FILES)

    def checksums(self, files):
        return dict((name, plan.checksum(plan.normalize(files.get(name)))) for name in plan.MANAGED_FILES)

    def service_state(self):
        return self.systemd.state(self.unit)

    # -- entry points --------------------------------------------------------------------

    def plan(self):
        """What a run would do, without changing anything (check mode)."""
        live = self.live_files()
        changed = plan.changed_files(live, self.desired)
        state = self.service_state()
        action, reason = plan.plan_action(changed, state["ActiveState"] == "active",
                                          live["config"], self.desired["config"])
        return {"changed_files": changed, "action": action, "reason": reason, "live": live}

    def deploy(self):
        make_dir(self.state_dir, group=self.p["group"])
        with Lock(self._dir("lock"), self.p.get("lock_timeout", LOCK_TIMEOUT_SEC)):
            self._begin()
            return self._deploy_locked()

    def _begin(self):
        """The release starts once it holds the lock: its id, start time and records say so."""
        now = time.time()
        self.lock_wait = round(now - self.started, 3)
        self.started = now
        records = read_json(self._dir("releases.json"), default=[])
        taken = [record.get("release_id") for record in records if isinstance(record, dict)]
        history = self._dir("history")
        if os.path.isdir(history):
            taken.extend(os.listdir(history))
        meta = read_json(os.path.join(self._dir("last-known-good"), "meta.json"))
        if isinstance(meta, dict):
            taken.append(meta.get("release_id"))
        self.release_id = plan.unique_release_id(time.strftime(plan.RELEASE_ID_FORMAT, time.gmtime(now)), taken)

    def load_rollback_target(self, entry=None):
        """Make last-known-good (or a history entry) the desired files, verified against its meta.json."""
        if entry and (os.sep in entry or entry.startswith(".")):
            raise StepFailed("rollback", "rollback_to must name an entry of %s, got %r" % (self._dir("history"), entry))
        source = self._dir("last-known-good") if not entry else os.path.join(self._dir("history"), entry)
        files = self._verified_set(source)
        if files is None:
            raise StepFailed("rollback", "%s holds no release to roll back to" % source)
        self.desired = files
        return source

    def rollback_on_demand(self, entry=None):
        """Restore last-known-good (or a history entry), then the same validation and gate."""
        make_dir(self.state_dir, group=self.p["group"])
        with Lock(self._dir("lock"), self.p.get("lock_timeout", LOCK_TIMEOUT_SEC)):
            self._begin()
            self.load_rollback_target(entry)
            return self._deploy_locked(kind="rollback")

    # -- the transaction -------------------------------------------------------------------

    def _deploy_locked(self, kind="deploy"):
        recovered = self.recover_interrupted()
        lkg = self._verified_set(self._dir("last-known-good"))
        live = self.live_files()
        changed = plan.changed_files(live, self.desired)
        state = self.service_state()
        active = state["ActiveState"] == "active"
        action, reason = plan.plan_action(changed, active, live["config"], self.desired["config"])
        result = {"kind": kind, "changed_files": changed, "action": action, "reason": reason,
                  "recovered": recovered, "rolled_back": False, "healthy": False}

        if not changed:
            try:
                if action == plan.ACTION_START:
                    self._apply(action, state)
                self._gate(action, state, [])
            except StepFailed as failure:
                # Nothing was changed, so there is nothing to roll back: report and record.
                failure.detail = "nothing changed, but the service is unhealthy: %s" % failure.detail
                self._record_failure(result, failure, restored=None, healthy_after=False)
                raise
            result["healthy"] = True
            self._enable()
            if lkg is None or self.checksums(lkg) != self.checksums(live):
                self._keep_as_last_known_good(live, "verified healthy (adopted)")
            result["result"] = "started" if action == plan.ACTION_START else "unchanged"
            return self._finish(result, live)

        # A running service without last-known-good (adopted from elsewhere, or an earlier
        # release whose record was lost): keep what runs now if it is healthy.
        if lkg is None and active and any(live.values()):
            try:
                self._gate(plan.ACTION_NONE, state, [])
                lkg = self._keep_as_last_known_good(live, "running config adopted before the change")
            except StepFailed:
                self.step("adopt", "skipped", "the running service is not healthy: nothing to adopt")

        self._write_candidate()
        try:
            self._validate()
            if self.p["canary"]:
                self._canary()
            else:
                self.step("canary", "skipped", "gunicorn_django_canary is false")
        except StepFailed as failure:
            self._record_failure(result, failure, restored=None, healthy_after=active)
            raise

        before_workers = child_pids(state["MainPID"]) if state["MainPID"] else []
        # The live config is replaced by the promotion: a scale needs the counts from before.
        self.scale_counts = plan.workers_only_change(live["config"], self.desired["config"])
        try:
            self._promote(changed, live)
        except HostError as exc:
            # A live file could not be written (a full disk, a read-only file system): nothing
            # was applied yet, so put back the live files that were replaced and report it.
            failure = StepFailed("promote", str(exc))
            self._undo_promote(live)
            self._record_failure(result, failure, restored=None, healthy_after=active)
            raise failure
        try:
            self._apply(action, state)
            self._mark_applied()
            self._gate(action, state, before_workers)
        except StepFailed as failure:
            restored, healthy_after = self._rollback_after(failure, lkg, live)
            result["rolled_back"] = bool(restored)
            self._record_failure(result, failure, restored=restored, healthy_after=healthy_after)
            raise
        self._enable()
        live = self.live_files()
        self._keep_as_last_known_good(live, "passed the health gate")
        self._clear_pending()
        # The candidate holds a copy of the secrets: keep none once it is live (a rejected
        # candidate stays, as evidence, until the next release replaces it).
        shutil.rmtree(self._dir("candidate"), ignore_errors=True)
        result["healthy"] = True
        # A scale applies the new config in place, like a reload (same master, no restart).
        result["result"] = {"start": "started", "reload": "reloaded", "scale": "reloaded", "restart": "restarted",
                            "resocket": "restarted"}[action]
        if kind == "rollback":
            result["result"] = "rolled_back"
        return self._finish(result, live)

    # -- steps -----------------------------------------------------------------------------

    def _write_candidate(self):
        since = time.time()
        candidate = self._dir("candidate")
        if os.path.isdir(candidate):
            shutil.rmtree(candidate)
        make_dir(candidate, group=self.p["group"])
        for name in plan.MANAGED_FILES:
            if self.desired.get(name):
                owner, group, mode = self._mode(name)
                write_file(os.path.join(candidate, name), self.desired[name], owner, group, mode)
        self.step("candidate", "ok", "rendered files staged in %s" % candidate, since)

    def _validate(self):
        since = time.time()
        bind = self.p["bind"]
        try:
            parsed = plan.parse_bind(bind)
        except ValueError as exc:
            raise StepFailed("validate", "gunicorn_django_bind: %s" % exc)
        # A new TCP address must be free: Gunicorn would only find out at boot, after the HUP.
        # The live master holds its own address, so an unchanged bind is not probed, and a port
        # taken by the live master itself (another host on the same port) frees itself with the
        # restart that a changed bind gets.
        serving = self.service_state()["ActiveState"] == "active"
        ours = plan.rendered_binds(read_file(self.paths["config"])) if serving else []
        if (parsed[0] == "tcp" and bind not in ours and not port_is_free(parsed[1], parsed[2])
                and not plan.held_by_live_binds(bind, ours)):
            raise StepFailed("validate", "gunicorn_django_bind %s: port %d is already in use by another process"
                             % (bind, parsed[2]))
        names = self.p.get("extra_setting_names") or []
        if names:
            known = self._known_settings()
            unknown = plan.unknown_settings(names, known)
            if unknown:
                raise StepFailed("validate", "gunicorn_django_extra_settings: unknown Gunicorn setting(s) %s" % ", ".join(
                    "%r%s" % (name, " (did you mean %r?)" % near if near else "") for name, near in unknown))
        rc, out, err = self._run_as_app(
            [os.path.join(self.p["venv"], "bin", "gunicorn"), "--check-config", "--config",
             os.path.join(self._dir("candidate"), "config")])
        if rc != 0:
            raise StepFailed("check-config", "gunicorn --check-config failed in the app's context (rc=%d)" % rc,
                             _tail(err or out))
        self.step("check-config", "ok", "gunicorn --check-config passed as %s in %s" % (
            self.p["user"], self.p["app_dir"]), since)

    def _run_as_app(self, command):
        """Run a command in the app's real context: its user, working directory and environment files."""
        candidate = self._dir("candidate")
        args = ["systemd-run", "--quiet", "--wait", "--pipe", "--collect", "--service-type=exec",
                "--property=User=%s" % self.p["user"], "--property=Group=%s" % self.p["group"],
                "--property=WorkingDirectory=%s" % self.p["app_dir"],
                "--property=EnvironmentFile=%s" % os.path.join(candidate, "app_env"),
                "--property=EnvironmentFile=%s" % os.path.join(candidate, "secret_env"),
                "--property=UnsetEnvironment=GUNICORN_CMD_ARGS", "--"] + command
        rc, out, err = self.module.run_command(args, data="")
        return rc, out, err

    def _known_settings(self):
        python = os.path.join(self.p["venv"], "bin", "python")
        rc, out, err = self.module.run_command([python, "-c", (
            "import gunicorn.config as c; s = c.KNOWN_SETTINGS; "
            "print('\\n'.join(sorted(x if isinstance(x, str) else x.name for x in s)))")])
        if rc != 0:
            raise StepFailed("validate", "cannot list Gunicorn's settings with %s: %s" % (python, err.strip()))
        return set(out.split())

    def _canary(self):
        since = time.time()
        unit_path = os.path.join("/run/systemd/system", self.canary_unit)
        address = ("unix", self.p["canary_socket"])
        make_dir("/run/systemd/system", mode=0o755)
        if os.path.exists(unit_path):
            # A canary left running by an interrupted release would answer for this candidate.
            self.systemd.run("systemctl", "stop", self.canary_unit)
            self.systemd.run("systemctl", "reset-failed", self.canary_unit)
        write_file(unit_path, self.p["canary_unit"], mode=0o644)
        try:
            self.systemd.daemon_reload()
            rc, out, err = self.systemd.run("systemctl", "start", self.canary_unit)
            if rc != 0:
                raise StepFailed("canary", "the candidate did not boot (%s)" % (err or out),
                                 self.systemd.journal(self.canary_unit, since))
            failures = self._health_checks(address, time.time() + self.p["health_timeout"])
            if failures:
                raise StepFailed("canary", "the candidate booted but failed its health checks: %s"
                                 % "; ".join(failures), self.systemd.journal(self.canary_unit, since))
        finally:
            self.systemd.run("systemctl", "stop", self.canary_unit)
            self.systemd.run("systemctl", "reset-failed", self.canary_unit)
            if os.path.exists(unit_path):
                os.unlink(unit_path)
            self.systemd.daemon_reload()
        self.step("canary", "ok", "the candidate booted on %s and passed %d health check(s)" % (
            describe_address(address), len(self.p["health_checks"])), since)

    def _promote(self, changed, live):
        since = time.time()
        write_json(self._dir("pending.json"), {
            "release_id": self.release_id,
            "started": self.started,
            "candidate": self.checksums(self.desired),
            "previous": self.checksums(live),
        })
        for name in plan.MANAGED_FILES:
            if name in changed:
                self._put_live(name, self.desired[name])
        if "unit" in changed or "socket" in changed:
            self.systemd.daemon_reload()
        self.step("promote", "ok", "live files replaced: %s" % ", ".join(changed), since)

    def _undo_promote(self, live):
        """Put back the live files a failed promotion replaced; pending.json goes once they are."""
        since = time.time()
        put_back = self._restore(live)
        self._clear_pending()
        self.step("promote", "undone", "live files put back: %s" % (", ".join(put_back) or "none was replaced"), since)

    def _mark_applied(self):
        """Note in pending.json that the candidate was reloaded or started (see recover_interrupted)."""
        pending = read_json(self._dir("pending.json"))
        if isinstance(pending, dict):
            pending["applied"] = True
            write_json(self._dir("pending.json"), pending)

    def _apply(self, action, state):
        since = time.time()
        if action == plan.ACTION_NONE:
            return
        if action in (plan.ACTION_RELOAD, plan.ACTION_SCALE):
            # A HUP that lands before the master's signal handlers exist kills it: only reload a
            # master that systemd reports ready (Type=notify) and whose workers are up.
            current = self.service_state()
            if current["ActiveState"] != "active" or current["MainPID"] != state["MainPID"]:
                raise StepFailed(action, "the service changed state before the %s (%s, MainPID %s)"
                                 % (action, current["ActiveState"], current["MainPID"]))
            if action == plan.ACTION_SCALE:
                self._scale(state["MainPID"], since)
                return
            command = ("reload",)
        elif action == plan.ACTION_RESTART:
            self.systemd.run("systemctl", "reset-failed", self.unit)
            command = ("restart",)
        elif action == plan.ACTION_RESOCKET:
            # The listening socket changes hands (systemd <-> Gunicorn) or address: stop the
            # service, re-create the socket, start again (the socket first, if there is one).
            self.systemd.run("systemctl", "stop", self.unit)
            self.systemd.run("systemctl", "stop", self.socket_unit)
            self.systemd.run("systemctl", "reset-failed", self.unit)
            self._start_socket(since)
            command = ("start",)
        else:
            self.systemd.run("systemctl", "reset-failed", self.unit)
            self._start_socket(since)
            command = ("start",)
        rc, out, err = self.systemd.run("systemctl", *(command + (self.unit,)))
        if rc != 0:
            raise StepFailed(action, "systemctl %s %s failed: %s" % (command[0], self.unit, err or out),
                             self.systemd.journal(self.unit, since))
        self.step(action, "ok", "systemctl %s %s" % (command[0], self.unit), since)

    def _scale(self, pid, since):
        """Add or retire workers with TTIN/TTOU, one signal at a time.

        Gunicorn's master acts on a signal once its handler has run, and signals of one kind that
        arrive before that are merged: each signal waits until the worker count has moved (a
        retired worker first finishes its request). The health gate then checks the final count.
        """
        before, after = self.scale_counts
        signum = signal.SIGTTIN if after > before else signal.SIGTTOU
        deadline = since + self.p["health_timeout"]
        for sent in range(abs(after - before)):
            count = len(child_pids(pid))
            os.kill(pid, signum)
            while True:
                now = len(child_pids(pid))
                if (now > count) if signum == signal.SIGTTIN else (now < count):
                    break
                if time.time() >= deadline:
                    raise StepFailed("scale", "the worker count did not move after %s number %d (%d workers)"
                                     % (signum.name, sent + 1, now), self.systemd.journal(self.unit, since - 5))
                time.sleep(0.05)
        self.step("scale", "ok", "workers %d -> %d: %d %s to the master, no worker replaced" % (
            before, after, abs(after - before), signum.name), since)

    def _start_socket(self, since):
        if self.socket_unit and os.path.exists(self.paths["socket"]):
            rc, out, err = self.systemd.run("systemctl", "start", self.socket_unit)
            if rc != 0:
                raise StepFailed("socket", "systemctl start %s failed: %s" % (self.socket_unit, err or out),
                                 self.systemd.journal(self.socket_unit, since))

    def _gate(self, action, before, before_workers):
        """Active, same master after a HUP, the expected workers (all new after a HUP), healthy."""
        since = time.time()
        deadline = since + self.p["health_timeout"]
        # The live config says how many workers to expect (a rollback restores another count).
        expected = plan.rendered_workers(read_file(self.paths["config"])) or self.p["workers"]
        old = set(before_workers) if action == plan.ACTION_RELOAD else set()
        delays = plan.backoff_delays()
        while True:
            state = self.service_state()
            pid = state["MainPID"]
            problem = None
            if action in (plan.ACTION_RELOAD, plan.ACTION_SCALE) and pid != before["MainPID"]:
                problem = "the master did not survive the %s (MainPID %s -> %s, %s)" % (
                    "HUP" if action == plan.ACTION_RELOAD else "TTIN/TTOU", before["MainPID"], pid,
                    state["ActiveState"])
                raise StepFailed("health-gate", problem, self.systemd.journal(self.unit, since - 5))
            if state["ActiveState"] in ("failed", "inactive"):
                raise StepFailed("health-gate", "the service is %s (%s)" % (state["ActiveState"], state["SubState"]),
                                 self.systemd.journal(self.unit, since - 5))
            workers = child_pids(pid) if pid else []
            if state["ActiveState"] == "active" and len(workers) == expected and not old & set(workers):
                break
            problem = "%d of %d workers running%s, service %s" % (
                len(workers), expected, " (old workers still there)" if old & set(workers) else "",
                state["ActiveState"])
            if time.time() >= deadline:
                raise StepFailed("health-gate", problem, self.systemd.journal(self.unit, since - 5))
            time.sleep(next(delays))
        failures = self._health_checks(plan.probe_address(self.p["bind"]), deadline)
        if failures:
            raise StepFailed("health-gate", "; ".join(failures), self.systemd.journal(self.unit, since - 5))
        self.step("health-gate", "ok", "active, %d workers, %d health check(s) passed" % (
            expected, len(self.p["health_checks"])), since)

    def _health_checks(self, address, deadline):
        """Run every check until it passes; the reasons of those that did not.

        A check gives up at the deadline, or sooner after WRONG_ANSWERS_TO_FAIL wrong answers in
        a row: an app that answers 500 will not heal by waiting, and every second counts when
        the release is live. Connection errors (workers still booting) wait for the deadline.
        """
        failures = []
        for check in self.p["health_checks"]:
            path = check.get("path") or "/"
            delays = plan.backoff_delays()
            wrong_answers = 0
            while True:
                try:
                    status, body = http_get(address, path)
                    problem = plan.check_response(check, status, body)
                    wrong_answers = wrong_answers + 1 if problem else 0
                except HostError as exc:
                    problem = str(exc)
                if problem is None:
                    break
                if time.time() >= deadline or wrong_answers >= WRONG_ANSWERS_TO_FAIL:
                    failures.append("%s: %s" % (path, problem))
                    break
                time.sleep(next(delays))
        return failures

    def _rollback_after(self, failure, lkg, live_before):
        """Restore last-known-good and restart; (restored file names, healthy?)."""
        if not self.p["rollback"]:
            self.step("rollback", "skipped", "gunicorn_django_rollback is false")
            self._clear_pending()
            return [], False
        since = time.time()
        if lkg is None:
            self.systemd.run("systemctl", "stop", self.unit)
            self.step("rollback", "failed", "no last-known-good exists (first release): the service is stopped", since)
            self._clear_pending()
            return [], False
        restored = self._restore(lkg)
        try:
            self._apply(plan.ACTION_RESOCKET if "socket" in restored else plan.ACTION_RESTART, self.service_state())
            self._gate(plan.ACTION_RESTART, self.service_state(), [])
            healthy = True
        except StepFailed as again:
            self.evidence.append("rollback: %s" % again.detail)
            self.evidence.extend(again.lines)
            healthy = False
        self._clear_pending()
        self.step("rollback", "ok" if healthy else "failed", "restored %s from last-known-good, restarted" % (
            ", ".join(restored) or "nothing"), since)
        return restored or ["(live already equal)"], healthy

    def _restore(self, files):
        live = self.live_files()
        restored = []
        for name in plan.MANAGED_FILES:
            if plan.normalize(live.get(name)) != plan.normalize(files.get(name)):
                self._put_live(name, files.get(name))
                restored.append(name)
        if "unit" in restored or "socket" in restored:
            self.systemd.daemon_reload()
        return restored

    def _enable(self):
        units = [self.unit]
        if self.socket_unit and os.path.exists(self.paths["socket"]):
            units.append(self.socket_unit)
        for unit in units:
            if self.systemd.state(unit).get("UnitFileState") != "enabled":
                self.systemd.systemctl("enable", unit)
                self.step("enable", "ok", "enabled %s" % unit)

    # -- last-known-good, history, records -------------------------------------------------

    def _verified_set(self, directory):
        """The files of a kept release, after checking them against its meta.json (never blindly)."""
        meta = read_json(os.path.join(directory, "meta.json"))
        if meta is None:
            if os.path.isdir(directory) and os.listdir(directory):
                raise StepFailed("last-known-good", "%s has files but no meta.json: it was changed by hand. "
                                 "Inspect it, then remove it to let the next healthy release become "
                                 "last-known-good" % directory)
            return None
        files = self._read_set(directory)
        bad = [name for name in plan.MANAGED_FILES
               if plan.checksum(plan.normalize(files[name])) != meta["checksums"].get(name)]
        if bad:
            raise StepFailed("last-known-good", "%s is corrupt (%s differ from meta.json): refusing to restore it "
                             "blindly. Inspect it, then remove it to let the next healthy release become "
                             "last-known-good" % (directory, ", ".join(bad)))
        return files

    def _keep_as_last_known_good(self, files, why):
        lkg = self._dir("last-known-good")
        history = self._dir("history")
        make_dir(history)
        previous = read_json(os.path.join(lkg, "meta.json"))
        if previous is not None:
            target = os.path.join(history, previous["release_id"])
            if not os.path.exists(target):
                shutil.copytree(lkg, target)
        staging = lkg + ".new"
        if os.path.isdir(staging):
            shutil.rmtree(staging)
        make_dir(staging, mode=0o700)
        for name in plan.MANAGED_FILES:
            if files.get(name):
                write_file(os.path.join(staging, name), files[name], mode=0o600)
        write_json(os.path.join(staging, "meta.json"), {
            "release_id": self.release_id, "kept": time.time(), "why": why, "checksums": self.checksums(files)})
        if os.path.isdir(lkg):
            shutil.rmtree(lkg)
        os.rename(staging, lkg)
        for name in plan.prune_history(os.listdir(history), self.p["history_size"]):
            shutil.rmtree(os.path.join(history, name))
        self.step("last-known-good", "ok", "%s: %s" % (self.release_id, why))
        return files

    def _clear_pending(self):
        path = self._dir("pending.json")
        if os.path.exists(path):
            os.unlink(path)

    def recover_interrupted(self):
        """Finish a release that was interrupted after pending.json was written.

        The live files are then unverified (release_plan.recovery_plan decides): keep the
        previous files if nothing went live, apply the candidate again if it may not have been
        reloaded yet, then gate it; if it does not pass, or the files are half promoted or the
        service is down, restore last-known-good. Returns what was done, or None.
        """
        pending = read_json(self._dir("pending.json"))
        if pending is None:
            return None
        since = time.time()
        live = self.live_files()
        state = self.service_state()
        lkg_config = (read_file(os.path.join(self._dir("last-known-good"), "config"))
                      if os.path.isdir(self._dir("last-known-good")) else None)
        what, action = plan.recovery_plan(pending, self.checksums(live), state["ActiveState"] == "active",
                                          live["config"], lkg_config)
        outcomes = {
            plan.RECOVER_KEEP_PREVIOUS: "not applied (the live files are still the previous release's), verified healthy",
            plan.RECOVER_VERIFY: "verified healthy",
            plan.RECOVER_APPLY: "applied again (%s) and verified healthy" % action,
        }
        try:
            if what == plan.RECOVER_RESTORE:
                raise StepFailed("recover", "the interrupted release %s left the service %s" % (
                    pending["release_id"], state["ActiveState"]))
            workers = child_pids(state["MainPID"]) if state["MainPID"] else []
            self._apply(action, state)
            self._gate(action, state, workers)
            if what != plan.RECOVER_KEEP_PREVIOUS:
                self._keep_as_last_known_good(live, "interrupted release %s verified healthy" % pending["release_id"])
            outcome = outcomes[what]
        except StepFailed:
            lkg = self._verified_set(self._dir("last-known-good"))
            if lkg is None:
                outcome = "unverified, no last-known-good to restore"
            else:
                restored = self._restore(lkg)
                self._apply(plan.ACTION_RESOCKET if "socket" in restored else plan.ACTION_RESTART,
                            self.service_state())
                self._gate(plan.ACTION_RESTART, self.service_state(), [])
                outcome = "rolled back to last-known-good"
        self._clear_pending()
        self.step("recover", "ok", "interrupted release %s: %s" % (pending["release_id"], outcome), since)
        return {"release_id": pending["release_id"], "outcome": outcome}

    def _record(self, result, live):
        record = {
            "release_id": self.release_id,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "seconds": round(time.time() - self.started, 3),
            "kind": result["kind"],
            "result": result["result"],
            "action": result["action"],
            "reason": result["reason"],
            "changed_files": result["changed_files"],
            "checksums": self.checksums(live),
            "healthy": result["healthy"],
            "rolled_back": result["rolled_back"],
            "sizing": self.p.get("sizing") or {},
            "lock_wait_seconds": self.lock_wait,
            "steps": self.steps,
        }
        if result.get("error"):
            record["error"] = result["error"]
        path = self._dir("releases.json")
        records = read_json(path, default=[])
        records.append(record)
        write_json(path, records[-RECORDS_KEPT:])
        write_json(self._dir("current.json"), record)
        return record

    def _finish(self, result, live):
        result["record"] = self._record(result, live)
        result["steps"] = self.steps
        result["checksums"] = result["record"]["checksums"]
        return result

    def _record_failure(self, result, failure, restored, healthy_after):
        self.step(failure.step, "failed", failure.detail)
        # rejected: stopped before going live; rolled_back: went live, last-known-good restored.
        result["result"] = "rejected" if restored is None else ("rolled_back" if restored else "failed")
        result["healthy"] = bool(healthy_after)
        result["error"] = {
            "step": failure.step,
            "detail": failure.detail,
            "evidence": failure.lines + self.evidence,
            "summary": plan.describe_failure(failure.step, failure.detail, restored, healthy_after),
        }
        failure.result = self._finish(result, self.live_files())


def _tail(text, lines=15):
    return [line for line in (text or "").splitlines() if line.strip()][-lines:]
