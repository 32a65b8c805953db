# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The steps of a release that act on the host: validate, canary, partner, apply, scale, health gate.

Each step talks to the host only through the Host interface (host.py) and fails with StepFailed
naming itself; the order of the steps and what follows a failure are transaction.py's.
"""

from __future__ import annotations

import signal

from ansible_collections.djangoops.gunicorn.plugins.module_utils.release import plan
from ansible_collections.djangoops.gunicorn.plugins.module_utils.release.host import HostError

WRONG_ANSWERS_TO_FAIL = 3


class StepFailed(Exception):
    """A release step failed; `step` names it for the report, `lines` hold evidence."""

    def __init__(self, step, detail, lines=None):
        Exception.__init__(self, detail)
        self.step, self.detail, self.lines = step, detail, list(lines or [])
        # Set by the transaction: the release's result, and what a failed recovery restored.
        self.result = None
        self.restored = None


def _tail(text, lines=15):
    return [line for line in (text or "").splitlines() if line.strip()][-lines:]


class Steps:
    """Mixed into Transaction: expects host, store, p, layout, unit, socket_unit, stage, the
    desired files and settings_of()/desired_settings()/state()/step()."""

    def _validate(self, live):
        since = self.host.now()
        self.stage = "validate"
        serving = self.state()["ActiveState"] == "active"
        live_binds = (self.settings_of(live["config"]) or {}).get("bind") if serving else []
        for bind in self.desired_settings().get("bind") or []:
            problem = plan.bind_problem(bind, live_binds, self.host.port_is_free)
            if problem:
                raise StepFailed("validate", "%s %s" % (self.label("config.settings.bind"), problem))
        names = sorted((self.config or {}).get("extra_settings") or {})
        if names:
            unknown = plan.unknown_settings(names, self.host.known_settings())
            if unknown:
                raise StepFailed("validate", "%s: unknown Gunicorn setting(s) %s" % (self.label("config.extra_settings"), ", ".join(
                    "%r%s" % (name, " (did you mean %r?)" % near if near else "") for name, near in unknown)))
        self.stage = "check-config"
        rc, output = self.host.check_config(self.store.path("candidate", "config"), self.store.candidate)
        if rc != 0:
            raise StepFailed("check-config", "gunicorn --check-config failed in the app's context (rc=%d)" % rc,
                             _tail(output))
        self.step("check-config", "ok", "gunicorn --check-config passed as the service user in its working "
                  "directory", since)

    def _release_commands(self):
        """Django management commands of the release (migrate, collectstatic, ...), each as the
        service user in the candidate's context (its venv, working directory and environment
        files), after check-config and before the canary: one that fails rejects the release with
        its output, and the live service is untouched."""
        commands = self.p.get("release_commands") or []
        if not commands:
            return
        since = self.host.now()
        self.stage = "release-commands"
        for command in commands:
            started = self.host.now()
            rc, output = self.host.run_release_command(command, self.store.candidate)
            if rc != 0:
                raise StepFailed("release-commands", "manage.py %s failed (rc=%d)" % (command, rc), _tail(output))
            self.step("release-command", "ok", "manage.py %s" % command, started)
        self.step("release-commands", "ok", "%d command(s) as the service user in the release's context"
                  % len(commands), since)

    def _canary(self):
        since = self.host.now()
        self.stage = "canary"
        canary_unit = self.layout["canary_unit"]
        address = ("unix", self.layout["canary_socket"])
        self.host.install_canary(self.p["canary_unit"])
        try:
            rc, message = self.host.systemctl("start", canary_unit)
            if rc != 0:
                raise StepFailed("canary", "the candidate did not boot (%s)" % message,
                                 self.host.journal(canary_unit, since))
            pid = self.host.unit_state(canary_unit)["MainPID"]
            if self.p.get("boot_nice"):
                # It never serves: it boots and answers its checks with the CPU the serving workers leave.
                self.host.boot_autogroup(pid, self.p["boot_nice"])
            failures = self._health_checks(address, self.host.now() + self.p["health_timeout"], canary_unit, pid,
                                           urls=False)
            if failures:
                raise StepFailed("canary", "the candidate booted but failed its health checks: %s"
                                 % "; ".join(failures), self.host.journal(canary_unit, since))
        finally:
            self.host.remove_canary()
        self.step("canary", "ok", "the candidate booted on %s and passed %d health check(s)" % (
            plan.describe_address(address), len(self._checks(urls=False))), since)

    def _start_partner(self):
        """The first half of a hand-over: boot the candidate as a second master on the live
        listening socket (the partner unit, under /run), and gate it through its own probe socket.
        While it boots the live master serves alone; once it passed, both serve. A partner that
        fails is stopped (out of rotation at once) and the live master never stopped."""
        since = self.host.now()
        self.stage = "partner"
        unit = self.layout["handover_unit"]
        self.host.install_partner(self.p["handover_unit"], self.p["handover_socket_unit"])
        rc, message = self.host.systemctl("start", unit)
        if rc != 0:
            raise StepFailed("partner", "the new master did not boot beside the live one (%s)" % message,
                             self.host.journal(unit, since))
        state = self.host.unit_state(unit)
        self._gate(plan.ACTION_START, state, [], unit=unit, address=("unix", self.layout["handover_socket"]),
                   settings=self.desired_settings(), step="partner", urls=False)
        workers = self.desired_settings().get("workers") or 0
        self.step("partner", "ok", "the new master serves beside the live one on the shared socket (%s, %d "
                  "workers, health checks through %s)" % (unit, workers, self.layout["handover_socket"]), since)

    def _retire_partner(self, why):
        """The end of a hand-over: stop the partner master (gracefully: the requests it holds
        finish) and remove its units. Nothing to do when none runs."""
        if not self.host.partner_installed():
            return
        since = self.host.now()
        self.host.remove_partner()
        self.step("partner-stop", "ok", "%s stopped: %s" % (self.layout["handover_unit"], why), since)

    def _systemctl(self, step, verb, unit, since, check=True):
        rc, message = self.host.systemctl(verb, unit)
        if rc != 0 and check:
            raise StepFailed(step, "systemctl %s %s failed: %s" % (verb, unit, message), self.host.journal(unit, since))

    def _apply(self, action, state, counts):
        since = self.host.now()
        if action == plan.ACTION_NONE:
            return
        if action in (plan.ACTION_RELOAD, plan.ACTION_SCALE):
            # A HUP that lands before the master's signal handlers exist kills it: only reload a
            # master that systemd reports ready (Type=notify) and whose workers are up.
            current = self.state()
            if current["ActiveState"] != "active" or current["MainPID"] != state["MainPID"]:
                raise StepFailed(action, "the service changed state before the %s (%s, MainPID %s)"
                                 % (action, current["ActiveState"], current["MainPID"]))
            if action == plan.ACTION_SCALE:
                return self._scale(state["MainPID"], counts, since)
            verb = "reload"
        else:
            if action == plan.ACTION_RESOCKET:
                # The listening socket changes hands or address: stop the service, re-create the
                # socket, start again.
                self._systemctl(action, "stop", self.unit, since, check=False)
                self._systemctl(action, "stop", self.socket_unit, since, check=False)
            self._systemctl(action, "reset-failed", self.unit, since, check=False)
            if action not in (plan.ACTION_RESTART, plan.ACTION_HANDOVER) and self.host.read_live("socket"):
                self._systemctl("socket", "start", self.socket_unit, since)
            # A hand-over restarts the live unit on the promoted files while its partner serves.
            verb = "restart" if action in (plan.ACTION_RESTART, plan.ACTION_HANDOVER) else "start"
        self._systemctl(action, verb, self.unit, since)
        self.step(action, "ok", "systemctl %s %s" % (verb, self.unit), since)
        return None

    def _scale(self, pid, counts, since):
        """Add or retire workers with TTIN/TTOU, one signal at a time: signals of one kind that
        reach the master before its handler ran are merged, so each waits for the count to move."""
        before, after = counts
        signum = signal.SIGTTIN if after > before else signal.SIGTTOU
        deadline = since + self.p["health_timeout"]
        for sent in range(abs(after - before)):
            count = len(self.host.workers(pid))
            self.host.signal(pid, signum)
            while True:
                now = len(self.host.workers(pid))
                if (now > count) if signum == signal.SIGTTIN else (now < count):
                    break
                if self.host.now() >= deadline:
                    raise StepFailed("scale", "the worker count did not move after %s number %d (%d workers)"
                                     % (signum.name, sent + 1, now), self.host.journal(self.unit, since - 5))
                self.host.sleep(0.05)
        self.step("scale", "ok", "workers %d -> %d: %d %s to the master, no worker replaced" % (
            before, after, abs(after - before), signum.name), since)

    def _live_probe_address(self, live_settings):
        """Where the live master's health checks connect: its private probe socket when the live
        release has one (only that master answers there, even during a hand-over), else its bind."""
        if self.host.read_live("probe_socket"):
            return ("unix", self.layout["probe_socket"])
        binds = live_settings.get("bind") or self.desired_settings().get("bind")
        return plan.probe_address(binds[0])

    def _gate(self, action, before, before_workers, unit=None, address=None, settings=None, step="health-gate",
              urls=True):
        """Active, same master after a HUP or a scale, the config's workers (all new after a HUP),
        and every health check passing. By default it gates the live unit on the live config
        through _live_probe_address; a hand-over's partner passes its own unit, address and
        settings. `urls`: also run the checks with a `url` (the site as users reach it): only
        where every master behind it runs the release gated (not a partner beside the old live
        master, nor a rollback's or a recovery's gate while a partner of another release may
        still serve)."""
        since = self.host.now()
        deadline = since + self.p["health_timeout"]
        unit = unit or self.unit
        if settings is None:
            settings = self.settings_of(self.host.read_live("config")) or self.desired_settings()
        expected = settings.get("workers") or self.desired_settings().get("workers")
        address = address or self._live_probe_address(settings)
        old = set(before_workers) if action == plan.ACTION_RELOAD else set()
        delays = plan.backoff_delays()
        first = None
        while True:
            state = self.host.unit_state(unit)
            first = first or state
            pid = state["MainPID"]
            if action in (plan.ACTION_RELOAD, plan.ACTION_SCALE) and pid != before["MainPID"]:
                raise StepFailed(step, "the master did not survive the %s (MainPID %s -> %s, %s)" % (
                    "HUP" if action == plan.ACTION_RELOAD else "TTIN/TTOU", before["MainPID"], pid,
                    state["ActiveState"]), self.host.journal(unit, since - 5))
            if state["ActiveState"] in ("failed", "inactive"):
                raise StepFailed(step, "%s is %s (%s)" % (unit, state["ActiveState"], state["SubState"]),
                                 self.host.journal(unit, since - 5))
            workers = self.host.workers(pid)
            if state["ActiveState"] == "active" and len(workers) == expected and not old & set(workers):
                break
            if self.host.now() >= deadline:
                raise StepFailed(step, "%d of %s workers running%s, %s %s" % (
                    len(workers), expected, " (old workers still there)" if old & set(workers) else "",
                    unit, state["ActiveState"]), self.host.journal(unit, since - 5))
            self.host.sleep(next(delays))
        failures = self._health_checks(address, deadline, unit, pid, urls=urls)
        if failures:
            raise StepFailed(step, "; ".join(failures), self.host.journal(unit, since - 5))
        self._same_master_after_checks(action, unit, state, first, step, since)
        if step == "health-gate":
            through = [check["url"] for check in self._checks(urls) if plan.through_url(check)]
            self.step(step, "ok", "active, %s workers, %d health check(s) passed through %s%s" % (
                expected, len(self._checks(urls=False)), plan.describe_address(address),
                " and %d through %s" % (len(through), ", ".join(through)) if through else ""), since)

    def _checks(self, urls=True):
        """The health checks a gate runs: all of them, or (`urls` false) those to the master itself."""
        return [check for check in self.p["health_checks"] if urls or not plan.through_url(check)]

    def _same_master_after_checks(self, action, unit, state, first, step, since):
        """The master the checks reached is the one the gate saw: still active, the same MainPID,
        no automatic restart (Restart=on-failure) since the gate began - nor since the release's
        own start or restart, which cleared the count (reset-failed)."""
        after = self.host.unit_state(unit)
        restarted = after.get("NRestarts", 0) != first.get("NRestarts", 0) or (
            unit == self.unit and action in plan.STARTING_ACTIONS and first.get("NRestarts", 0) > 0)
        if after["ActiveState"] != "active" or after["MainPID"] != state["MainPID"] or restarted:
            raise StepFailed(step, "the master changed during the health checks (MainPID %s -> %s, %s, NRestarts "
                             "%s -> %s): systemd restarted it" % (
                                 state["MainPID"], after["MainPID"], after["ActiveState"],
                                 first.get("NRestarts", 0), after.get("NRestarts", 0)),
                             self.host.journal(unit, since - 5))

    def _master_gone(self, unit, pid):
        """Why the master `pid` of `unit` no longer serves, or None (no unit: nothing to ask)."""
        if not unit:
            return None
        state = self.host.unit_state(unit)
        if state["ActiveState"] in ("failed", "inactive") or (pid and state["MainPID"] != pid):
            return "the master is gone (%s %s, MainPID %s -> %s)" % (
                unit, state["ActiveState"], pid, state["MainPID"])
        return None

    def _health_checks(self, address, deadline, unit=None, pid=None, urls=True):
        """Run every check (`urls` false: only those to the master's `address`, not those with a
        `url`) until it passes; the reasons of those that did not.

        A check waits for the deadline through connection errors and "not ready yet" answers
        (plan.NOT_READY_STATUSES: an app warming up), fails after WRONG_ANSWERS_TO_FAIL other
        wrong answers in a row (an app that answers 500 will not heal by waiting), and at once
        when the master `pid` of `unit` is gone (a dead master will not answer either)."""
        failures = []
        for check in self._checks(urls):
            method, path, headers = plan.health_request(check)
            target = plan.health_address(check, address)
            delays, wrong_answers = plan.backoff_delays(), 0
            while True:
                try:
                    status, body, location = self.host.http_request(target, method, path, headers)
                    problem = plan.check_response(check, status, body, location)
                    if problem is None:
                        break
                    if not plan.not_ready(status):
                        wrong_answers += 1
                except HostError as exc:
                    problem = str(exc)
                gone = self._master_gone(unit, pid)
                if gone or self.host.now() >= deadline or wrong_answers >= WRONG_ANSWERS_TO_FAIL:
                    failures.append("%s: %s" % (check.get("url") or path,
                                                "%s (last answer: %s)" % (gone, problem) if gone else problem))
                    break
                self.host.sleep(next(delays))
        return failures
