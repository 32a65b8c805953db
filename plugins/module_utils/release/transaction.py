# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One release as a transaction on the host, over a Host (host.py, or a fake in tests).

    recover -> plan -> candidate -> validate -> canary -> [partner] -> promote -> apply -> gate
            -> [retire partner] -> keep;  after promote, a failure rolls back: restore, restart, gate

A candidate rejected before `promote` never touched the live service. Once it is live, any
failure (a failed step or any other error) rolls back to last-known-good and is recorded.

A hand-over (plan.ACTION_HANDOVER) boots the candidate as a partner master beside the live one on
the shared listening socket and gates it through its own probe socket; only then are the files
promoted and the live unit restarted on them while the partner serves, gated through the live
probe socket, and the partner retired. A partner that fails its gate is stopped and the live
master never stopped; the live unit always ends up running the live files, so a reboot starts
the release that went live.
"""

from __future__ import annotations

import time

from ansible_collections.djangoops.gunicorn.plugins.module_utils import gunicorn_config
from ansible_collections.djangoops.gunicorn.plugins.module_utils.release import plan
from ansible_collections.djangoops.gunicorn.plugins.module_utils.release.host import HostError
from ansible_collections.djangoops.gunicorn.plugins.module_utils.release.steps import StepFailed, Steps
from ansible_collections.djangoops.gunicorn.plugins.module_utils.release.store import KeptReleaseError

RECOVERY_OUTCOMES = {
    plan.RECOVER_KEEP_PREVIOUS: "not applied (the live files are still the previous release's), verified healthy",
    plan.RECOVER_VERIFY: "verified healthy",
    plan.RECOVER_APPLY: "applied again (%s) and verified healthy",
}


class Transaction(Steps):
    """`desired` holds the files to release; `config` the spec they were rendered from
    (app_name, header, settings, extra_settings, python: see gunicorn_config.render), or None."""

    def __init__(self, host, store, params, desired, config=None):
        self.host, self.store, self.p = host, store, params
        self.layout = params["layout"]
        self.unit, self.socket_unit = self.layout["unit"], self.layout["socket_unit"]
        self.desired = dict((name, desired.get(name) or "") for name in plan.MANAGED_FILES)
        self.config = config
        self.steps, self.evidence = [], []
        self.stage = "plan"
        self.started = host.now()
        self.lock_wait = 0.0
        self.release_id = time.strftime(plan.RELEASE_ID_FORMAT, time.gmtime(self.started))
        self.without_companions = None  # why a rollback goes without canary and hand-over

    # -- facts ----------------------------------------------------------------------------

    def step(self, name, result, detail="", since=None):
        now = self.host.now()
        self.steps.append({"step": name, "result": result, "detail": detail,
                           "seconds": round(now - (since or now), 3)})

    def live_files(self):
        return dict((name, self.host.read_live(name) or "") for name in plan.MANAGED_FILES)

    def state(self):
        return self.host.unit_state(self.unit)

    def settings_of(self, config_text):
        """Settings of a config: as recorded when the collection released it, else as read."""
        if not config_text:
            return None
        if config_text == self.desired["config"] and self.config:
            return self.config["settings"]
        recorded = self.store.known_settings_of(plan.checksum(config_text))
        return recorded if recorded is not None else gunicorn_config.read_literals(config_text)[0]

    @staticmethod
    def revision_of(files):
        """The app revision a release's files record (its "release" file), or None."""
        return plan.read_release_record(files.get("release")).get("revision") or None

    def label(self, option):
        """How messages name a module option (option_names: the caller's own variable names)."""
        return (self.p.get("option_names") or {}).get(option, option)

    def desired_settings(self):
        return self.settings_of(self.desired["config"]) or {}

    def _config_record(self, files):
        settings = self.settings_of(files.get("config"))
        if self.config and files.get("config") == self.desired["config"]:
            return {"settings": settings, "spec": self.config}
        return {"settings": settings}

    def _last_known_good(self):
        try:
            return self.store.last_known_good()
        except KeptReleaseError as exc:
            raise StepFailed("last-known-good", str(exc))

    # -- entry points ---------------------------------------------------------------------

    def plan(self):
        """What a run would do, without changing anything (check mode)."""
        live = self.live_files()
        changed = plan.changed_files(live, self.desired)
        live_settings = self.settings_of(live["config"])
        counts = plan.scale_counts(live["config"], live_settings, self.config) if changed == ["config"] else None
        state = self.state()
        active = state["ActiveState"] == "active"
        handover = (active and bool(changed) and bool(self.p.get("handover_unit"))
                    and plan.can_hand_over(live, self.desired))
        overlap = plan.overlap_problem(*self.host.overlap_memory(state["MainPID"])) if handover else None
        action, reason = plan.plan_action(changed, active, live_settings, self.desired_settings(), counts,
                                          handover=handover, overlap=overlap)
        return {"changed_files": changed, "action": action, "reason": reason, "live": live, "counts": counts}

    def load_rollback_target(self, target=None):
        """Make the release `target` names (plan.rollback_target: the previous one by default, a
        number back, a history id, a rollout id, or last-known-good) the desired release."""
        try:
            self.store.last_known_good()  # finishes an interrupted replacement first
            entry, problem = plan.rollback_target(target, *self.store.kept_index())
            if problem:
                raise StepFailed("rollback", "%s: %s" % (self.label("rollback_to"), problem))
            kept = self.store.history_entry(entry) if entry else self.store.last_known_good()
        except KeptReleaseError as exc:
            raise StepFailed("rollback", str(exc))
        source = self.store.path("history", entry) if entry else self.store.lkg
        if kept is None:
            raise StepFailed("rollback", "%s holds no release to roll back to" % source)
        files, meta = kept
        self.desired = files
        self.config = (meta.get("config") or {}).get("spec")
        self._use_kept_release(files, meta)
        return source

    def _use_kept_release(self, files, meta):
        """Validate and boot a kept release as it ran: its code directories (refused when they are
        gone or a symlink now leads elsewhere) and the canary and partner units kept with it. A
        release kept without them (by an earlier version, or adopted) whose directories differ
        from the inventory's goes live by restart with no canary: the units rendered now would
        check other code."""
        record = plan.read_release_record(files.get("release"))
        inventory_directories = (self.host.app_dir, self.host.venv)
        if record.get("app_dir") and record.get("venv"):
            resolved = dict((option, self.host.resolve_path(record[option])) for option in ("app_dir", "venv"))
            problem = plan.release_directories_problem(record, resolved)
            if problem:
                raise StepFailed("rollback", "%s: %s %s" % (self.label("rollback_to"), self.label(problem[0]),
                                                            problem[1]))
            self.host.use_directories(record["app_dir"], record["venv"])
        units = meta.get("companion_units")
        if isinstance(units, dict):
            self.p.update(canary_unit=units.get("canary") or "", handover_unit=units.get("handover") or "",
                          handover_socket_unit=units.get("handover_socket") or "")
        elif record.get("app_dir") and (record["app_dir"], record.get("venv")) != inventory_directories:
            self.p.update(canary_unit="", handover_unit="")
            self.without_companions = ("the kept release has no canary unit of its own (kept by an earlier "
                                       "version) and ran from other directories than %s/%s"
                                       % (self.label("app_dir"), self.label("venv")))

    def deploy(self, rollback_to=None, kind="deploy"):
        with self.store.lock(self.p["lock_timeout"]):
            now = self.host.now()
            self.lock_wait, self.started = round(now - self.started, 3), now
            self.release_id = plan.unique_release_id(
                time.strftime(plan.RELEASE_ID_FORMAT, time.gmtime(now)), self.store.taken_ids())
            if kind == "rollback":
                self.load_rollback_target(rollback_to)
            return self._run(kind)

    def reject(self, step, detail):
        """Record a release refused before it started (the host lacks what it needs): StepFailed."""
        failure = StepFailed(step, detail)
        with self.store.lock(self.p["lock_timeout"]):
            self._record_failure({"kind": "deploy", "changed_files": [], "action": plan.ACTION_NONE, "reason": "",
                                  "recovered": None, "rolled_back": False}, failure, None, False)
        return failure

    # -- the transaction ------------------------------------------------------------------

    def _run(self, kind):
        result = {"kind": kind, "changed_files": [], "action": plan.ACTION_NONE, "reason": "",
                  "recovered": None, "rolled_back": False, "healthy": False}
        try:
            result["recovered"] = self.recover()
        except StepFailed as failure:
            self._record_failure(result, failure, restored=failure.restored, healthy_after=False)
            raise
        lkg = self._last_known_good()
        planned = self.plan()
        live, changed, action = planned["live"], planned["changed_files"], planned["action"]
        state = self.state()
        active = state["ActiveState"] == "active"
        result.update(changed_files=changed, action=action, reason=planned["reason"])

        if not changed:
            try:
                self.stage = action
                self._apply(action, state, None)
                self._gate(action, state, [])
            except (StepFailed, HostError) as exc:
                failure = self._as_failure(exc)
                # Nothing was changed, so there is nothing to roll back: report and record.
                failure.detail = "nothing changed, but the service is unhealthy: %s" % failure.detail
                self._record_failure(result, failure, restored=None, healthy_after=False)
                raise failure
            result["healthy"] = True
            self._enable()
            if (lkg is None or self.store.checksums(lkg[0]) != self.store.checksums(live)) and self._adoptable(state):
                self._keep(live, "verified healthy (adopted)")
            result["result"] = plan.RESULT_OF_ACTION[action]
            return self._finish(result)

        # A running service without last-known-good (adopted from elsewhere, or a release whose
        # record was lost): keep what runs now if it is healthy.
        if lkg is None and active and any(live.values()) and self._adoptable(state):
            try:
                self._gate(plan.ACTION_NONE, state, [])
                self._keep(live, "running config adopted before the change")
                lkg = (live, None)
            except (StepFailed, HostError):
                self.step("adopt", "skipped", "the running service is not healthy: nothing to adopt")

        try:
            self.stage = "candidate"
            since = self.host.now()
            candidate = self.store.write_candidate(self.desired)
            self.step("candidate", "ok", "rendered files staged in %s" % candidate, since)
            self._validate(live)
            self._release_commands()
            if self.p["canary"] and self.p.get("canary_unit"):
                self._canary()
            else:
                self.step("canary", "skipped", self.without_companions or "%s is false" % self.label("canary"))
        except (StepFailed, HostError) as exc:
            failure = self._as_failure(exc)
            self._record_failure(result, failure, restored=None, healthy_after=active)
            raise failure

        if action == plan.ACTION_HANDOVER:
            try:
                # pending.json first: a run killed while the partner serves finds it and retires it.
                self.store.write_pending(self._pending(live, partner=True))
                self._start_partner()
            except Exception as exc:
                failure = self._as_failure(exc)
                self._retire_partner("it failed its gate; the live master never stopped")
                self.store.clear_pending()
                self._record_failure(result, failure, restored=None, healthy_after=active, served_beside=True)
                raise failure

        before_workers = self.host.workers(state["MainPID"])
        try:
            self.stage = "promote"
            self._promote(changed, live)
        except Exception as exc:
            # A live file could not be written (a full disk): nothing was applied yet, so put
            # back the live files that were replaced and report it.
            failure = self._as_failure(exc)
            since = self.host.now()
            put_back = self._restore(live)
            self.store.clear_pending()
            self.step("promote", "undone", "live files put back: %s" % (", ".join(put_back) or "none"), since)
            self._record_failure(result, failure, restored=None, healthy_after=active)
            raise failure
        try:
            self.stage = action
            self._apply(action, state, planned["counts"])
            self.stage = "health-gate"
            self.store.mark_applied()
            self._gate(action, state, before_workers)
        except Exception as exc:
            # Whatever went wrong once the candidate is live (a failed step, systemctl or a
            # signal failing, a write error): roll back and record it.
            failure = self._as_failure(exc)
            restored, healthy_after = self._rollback_after(lkg)
            result["rolled_back"] = bool(restored)
            self._retire_partner_if(healthy_after)
            self._record_failure(result, failure, restored=restored, healthy_after=healthy_after)
            raise failure
        self._retire_partner("the live unit runs the release and passed its gate")
        self._enable()
        self._keep(self.live_files(), "passed the health gate")
        self.store.clear_pending()
        self.store.remove_candidate()
        result["healthy"] = True
        result["result"] = "rolled_back" if kind == "rollback" else plan.RESULT_OF_ACTION[action]
        return self._finish(result)

    def _as_failure(self, exc):
        if isinstance(exc, StepFailed):
            return exc
        detail = str(exc) if isinstance(exc, HostError) else "%s: %s" % (type(exc).__name__, exc)
        return StepFailed(self.stage, detail, self.host.journal(self.unit, self.started))

    # -- promotion and restore ---------------------------------------------------------

    def _pending(self, live, partner=False):
        """What pending.json holds: enough for recovery_plan to finish the release after a kill."""
        return {"release_id": self.release_id, "started": self.started,
                "candidate": self.store.checksums(self.desired), "previous": self.store.checksums(live),
                "candidate_settings": self.desired_settings(), "previous_settings": self.settings_of(live["config"]),
                "handover": partner or self.host.partner_installed()}

    def _retire_partner_if(self, live_healthy):
        """Retire a hand-over's partner once the live unit is healthy again; while it is not, the
        partner (which passed its own gate) is all that serves: keep it and say so."""
        if live_healthy:
            self._retire_partner("the live unit is healthy on last-known-good")
        elif self.host.partner_installed():
            self.evidence.append("%s still serves (the live unit is not healthy): stop it by hand once %s is "
                                 "(systemctl stop %s)" % (self.layout["handover_unit"], self.unit,
                                                          self.layout["handover_unit"]))

    def _promote(self, changed, live):
        since = self.host.now()
        self.store.write_pending(self._pending(live))
        self._put_live(changed, self.desired)
        self.step("promote", "ok", "live files replaced: %s" % ", ".join(changed), since)

    def _put_live(self, names, files):
        for name in names:
            if files.get(name):
                self.host.write_live(name, files[name])
            else:
                self.host.remove_live(name)
        if any(name in plan.UNIT_FILES for name in names):
            self.host.daemon_reload()

    def _restore(self, files):
        """Make the live files equal to `files` (a missing file is removed); the names changed."""
        restored = plan.changed_files(self.live_files(), files)
        self._put_live(restored, files)
        return restored

    def _restore_and_verify(self, files):
        """Restore `files`, restart (never only HUP: the master may be dead), gate: (restored, healthy)."""
        restored = self._restore(files)
        try:
            self._apply(plan.ACTION_RESOCKET if "socket" in restored else plan.ACTION_RESTART, self.state(), None)
            self._gate(plan.ACTION_RESTART, self.state(), [], urls=False)
            return restored, True
        except Exception as again:
            again = self._as_failure(again)
            self.evidence.append("rollback: %s" % again.detail)
            self.evidence.extend(again.lines)
            return restored, False

    def _rollback_after(self, lkg):
        """After a live failure: restore last-known-good; (restored file names, healthy?)."""
        since = self.host.now()
        try:
            if not self.p["rollback"]:
                self.step("rollback", "skipped", "%s is false" % self.label("rollback"))
                return [], False
            if lkg is None:
                self.host.systemctl("stop", self.unit)
                self.step("rollback", "failed", "no last-known-good exists (first release): the service is stopped",
                          since)
                return [], False
            restored, healthy = self._restore_and_verify(lkg[0])
            self.step("rollback", "ok" if healthy else "failed", "restored %s from last-known-good, restarted" % (
                ", ".join(restored) or "nothing"), since)
            return restored or ["(live already equal)"], healthy
        finally:
            self.store.clear_pending()

    def _adoptable(self, state):
        """Whether the running master runs the live files, so that they may become last-known-good:
        it is the master whose release of exactly these files passed its gate (the last record), or
        it started after they were written (plan.adoption_problem). Says why not in a step."""
        last = self.store.last_record()
        if (last and last.get("healthy") and not last.get("error") and last.get("main_pid") == state["MainPID"]
                and last.get("checksums")
                and self.store.checksums(self.live_files(), like=last["checksums"]) == last["checksums"]):
            return True
        problem = plan.adoption_problem(self.host.master_started(state["MainPID"]), self.host.written())
        if problem:
            self.step("adopt", "skipped", "%s; nothing adopted as last-known-good (the next release that passes "
                      "its gate becomes it)" % problem)
        return problem is None

    def _enable(self):
        units = [self.unit] + ([self.socket_unit] if self.host.read_live("socket") else [])
        for unit in units:
            if self.host.unit_state(unit).get("UnitFileState") != "enabled":
                rc, message = self.host.systemctl("enable", unit)
                if rc != 0:
                    raise HostError("systemctl enable %s failed: %s" % (unit, message))
                self.step("enable", "ok", "enabled %s" % unit)

    def _keep(self, files, why):
        extra = {"revision": self.revision_of(files), "rollout": self.p.get("rollout_id") or None,
                 "trial": bool(self.p.get("trial"))}
        if files == self.desired and self.p.get("canary_unit"):
            # The units that validate and hand over this release, so a rollback to it checks and
            # boots its own directories, not the inventory's of the day.
            extra["companion_units"] = {"canary": self.p["canary_unit"],
                                        "handover": self.p.get("handover_unit") or "",
                                        "handover_socket": self.p.get("handover_socket_unit") or ""}
        self.store.keep(self.release_id, files, why, self.p["history_size"], self._config_record(files),
                        dict((key, value) for key, value in extra.items() if value))
        self.step("last-known-good", "ok", "%s: %s" % (self.release_id, why))

    # -- recovery ---------------------------------------------------------------------------

    def recover(self):
        """Finish a release interrupted after pending.json was written (plan.recovery_plan
        decides); pending.json is gone afterwards whatever happens. Returns what was done."""
        pending = self.store.read_pending()
        if pending is None:
            # A partner without pending.json was started by hand or outlived its release's
            # records: the live unit was never touched by it.
            self._retire_partner("no release is under way")
            return None
        since, release_id = self.host.now(), pending.get("release_id")
        try:
            try:
                live = self.live_files()
                state = self.state()
                pending.setdefault("candidate_settings", self.settings_of(live["config"]))
                if "previous_settings" not in pending:
                    # A pending.json of an earlier version: the previous release is last-known-good.
                    kept = self._last_known_good()
                    pending["previous_settings"] = self.settings_of(kept[0]["config"]) if kept else None
                what, action = plan.recovery_plan(pending, self.store.checksums(live, like=pending.get("candidate")),
                                                  state["ActiveState"] == "active")
                if what == plan.RECOVER_RESTORE:
                    raise StepFailed("recover", "the interrupted release %s left the service %s" % (
                        release_id, state["ActiveState"]))
                workers = self.host.workers(state["MainPID"])
                self._apply(action, state, None)
                self._gate(action, state, workers, urls=not self.host.partner_installed())
                if what != plan.RECOVER_KEEP_PREVIOUS:
                    self._keep(live, "interrupted release %s verified healthy" % release_id)
                outcome = RECOVERY_OUTCOMES[what] % action if what == plan.RECOVER_APPLY else RECOVERY_OUTCOMES[what]
                self._retire_partner("the live unit of the interrupted release %s is healthy" % release_id)
            except Exception:
                lkg = self._last_known_good()
                if lkg is None:
                    outcome = "unverified, no last-known-good to restore"
                else:
                    restored, healthy = self._restore_and_verify(lkg[0])
                    if not healthy:
                        failure = StepFailed("recover", "the interrupted release %s was rolled back to last-known-good, "
                                             "which is not healthy either" % release_id, self.evidence)
                        failure.restored = restored or ["(live already equal)"]
                        raise failure
                    outcome = "rolled back to last-known-good"
                    self._retire_partner("the live unit is healthy on last-known-good")
        finally:
            self.store.clear_pending()
        self.step("recover", "ok", "interrupted release %s: %s" % (release_id, outcome), since)
        return {"release_id": release_id, "outcome": outcome}

    # -- records ----------------------------------------------------------------------------

    def _finish(self, result):
        live = self.live_files()
        record = {
            "release_id": self.release_id,
            "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started)),
            "seconds": round(self.host.now() - self.started, 3),
            "kind": result["kind"], "result": result["result"], "action": result["action"],
            "reason": result["reason"], "changed_files": result["changed_files"],
            "checksums": self.store.checksums(live), "config": {"settings": self.settings_of(live["config"])},
            "healthy": result["healthy"], "rolled_back": result["rolled_back"],
            "revision": self.revision_of(live), "rollout": self.p.get("rollout_id") or None,
            # The revision this run was asked for: a rejected or rolled-back one is not `revision`
            # (what is live), and without this no record would name the revision that was refused.
            "candidate_revision": self.revision_of(self.desired),
            "trial": bool(self.p.get("trial")),
            "sizing": self.p.get("sizing") or {}, "lock_wait_seconds": self.lock_wait, "steps": self.steps,
            # The master that serves these files (a later run may adopt them for it).
            "main_pid": self._main_pid(),
        }
        if result.get("error"):
            record["error"] = result["error"]
        result["record"] = self.store.record(record)
        result["steps"], result["checksums"] = self.steps, record["checksums"]
        result["revision"], result["rollout"] = record["revision"], record["rollout"]
        result["candidate_revision"] = record["candidate_revision"]
        result["kept_directories"] = self.store.kept_directories()
        return result

    def _main_pid(self):
        try:
            return self.state().get("MainPID") or None
        except HostError:
            return None

    def _record_failure(self, result, failure, restored, healthy_after, served_beside=False):
        # Every failure ends here: the candidate stays as evidence, its copy of the secrets does not.
        self.store.remove_candidate_secrets()
        self.step(failure.step, "failed", failure.detail)
        # rejected: stopped before going live; rolled_back: went live, last-known-good restored.
        result["result"] = "rejected" if restored is None else ("rolled_back" if restored else "failed")
        result["healthy"] = bool(healthy_after)
        result["error"] = {"step": failure.step, "detail": failure.detail, "evidence": failure.lines + self.evidence,
                           "summary": plan.describe_failure(failure.step, failure.detail, restored, healthy_after,
                                                            served_beside)}
        failure.result = self._finish(result)
