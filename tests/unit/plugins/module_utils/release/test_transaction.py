"""The release state machine on a FakeHost: every action, every failing step, rollbacks, recovery
from every pending state, lock contention, and the hardening findings it fixes."""
import fcntl
import os
import signal
import stat

import pytest

from ansible_collections.djangoops.gunicorn.plugins.module_utils.release import plan
from ansible_collections.djangoops.gunicorn.plugins.module_utils.release.host import HostError
from ansible_collections.djangoops.gunicorn.plugins.module_utils.release.steps import StepFailed

from release_fakes import SOCKET, config_spec, release_files


def failure_of(call, *args, **kwargs):
    with pytest.raises(StepFailed) as caught:
        call(*args, **kwargs)
    return caught.value


def started(app, spec=None, files=None):
    result = app.deploy(spec, files)
    assert result["result"] == "started" and result["healthy"]
    return result


def test_first_release_starts_keeps_last_known_good_and_records(app):
    result = started(app)
    assert result["action"] == plan.ACTION_START
    files, meta = app.store.last_known_good()
    assert files["config"] == app.host.files["config"] and meta["release_id"] == result["record"]["release_id"]
    assert meta["config"]["settings"]["workers"] == 2
    assert app.store.read_pending() is None and not os.path.exists(app.layout["candidate_dir"])
    assert app.layout["unit"] in app.host.enabled
    assert [step["step"] for step in result["steps"]] == [
        "candidate", "check-config", "canary", "promote", "start", "health-gate", "enable", "last-known-good"]


def test_no_change_runs_only_the_gate(app):
    started(app)
    calls = len(app.host.calls)
    result = app.deploy()
    assert (result["result"], result["action"], result["changed_files"]) == ("unchanged", "none", [])
    assert app.host.calls[calls:] == []


@pytest.mark.parametrize("change, action, verbs", [
    pytest.param({"spec": config_spec(timeout=60)}, plan.ACTION_RELOAD, ["reload"], id="reload"),
    pytest.param({"spec": config_spec(workers=4)}, plan.ACTION_SCALE, ["SIGTTIN", "SIGTTIN"], id="scale-up"),
    pytest.param({"app_env": "MYSITE=2\n"}, plan.ACTION_RESTART, ["reset-failed", "restart"], id="restart"),
    pytest.param({"spec": config_spec(bind="127.0.0.1:8001")}, plan.ACTION_RESTART, ["reset-failed", "restart"],
                 id="bind-restarts"),
    pytest.param({"socket": SOCKET}, plan.ACTION_RESOCKET, ["stop", "stop", "reset-failed", "start", "start"],
                 id="resocket"),
])
def test_each_action_applies_and_passes_the_gate(app, change, action, verbs):
    started(app)
    pid = app.host.master["pid"]
    spec = change.get("spec") or config_spec()
    files = release_files(spec, **dict((key, value) for key, value in change.items() if key != "spec"))
    calls = len(app.host.calls)
    result = app.deploy(spec, files)
    assert result["action"] == action and result["healthy"] and result["result"] == plan.RESULT_OF_ACTION[action]
    assert [verb for verb, unit in app.host.calls[calls:] if unit != app.layout["canary_unit"]
            and verb not in ("daemon-reload", "enable")] == verbs
    same_master = action in (plan.ACTION_RELOAD, plan.ACTION_SCALE)
    assert (app.host.master["pid"] == pid) is same_master
    assert app.store.last_known_good()[0] == dict(files, socket=files["socket"])


def test_scale_down_retires_workers_with_ttou(app):
    started(app, config_spec(workers=4))
    result = app.deploy(config_spec(workers=1))
    assert result["action"] == plan.ACTION_SCALE and len(app.host.master["workers"]) == 1
    assert [call[0] for call in app.host.calls if call[0].startswith("SIG")] == ["SIGTTOU"] * 3


def test_raw_python_that_sets_workers_again_reloads_instead_of_scaling(app):
    python = "if True:\n    workers = 3\n"
    started(app, config_spec(workers=2, python=python))
    assert app.deploy(config_spec(workers=3, python=python))["action"] == plan.ACTION_RELOAD


@pytest.mark.parametrize("spec, prepare, step", [
    pytest.param(config_spec(bind="127.0.0.1:9000"), lambda host: host.taken_ports.add(9000), "validate",
                 id="validate-port-taken"),
    pytest.param(config_spec(extra={"worker": 4}), None, "validate", id="validate-unknown-setting"),
    pytest.param(config_spec(python="# CHECK-FAILS"), None, "check-config", id="check-config"),
    pytest.param(config_spec(python="# HANGS"), None, "check-config", id="check-config-hangs"),
    pytest.param(config_spec(python="# BROKEN"), None, "canary", id="canary-unhealthy"),
    pytest.param(config_spec(python="# NO-BOOT"), None, "canary", id="canary-no-boot"),
])
def test_a_rejected_candidate_never_touches_the_live_service(app, spec, prepare, step):
    started(app)
    before = (dict(app.host.files), dict(app.host.master))
    if prepare:
        prepare(app.host)
    failure = failure_of(app.deploy, spec)
    assert failure.step == step and failure.result["result"] == "rejected"
    assert "was not touched" in failure.result["error"]["summary"]
    assert (app.host.files, app.host.master) == before
    assert app.store.read_pending() is None
    assert app.store.read_kept(app.store.lkg)[0]["config"] == before[0]["config"]
    current = app.store.path("current.json")
    assert '"result": "rejected"' in open(current, encoding="utf-8").read()
    # Finding 11: the rejected candidate stays as evidence, without its copy of the secrets.
    assert os.path.exists(os.path.join(app.layout["candidate_dir"], "config"))
    assert not os.path.exists(os.path.join(app.layout["candidate_dir"], "secret_env"))


def test_finding_2_a_check_that_hangs_is_rejected_at_check_config_and_frees_the_lock(app):
    started(app)
    before = (dict(app.host.files), dict(app.host.master))
    failure = failure_of(app.deploy, config_spec(python="# HANGS"),
                         option_names={"check_timeout": "gunicorn_django_check_timeout"})
    assert failure.step == "check-config" and failure.result["result"] == "rejected"
    assert "did not finish within 10 s (gunicorn_django_check_timeout)" in failure.detail
    assert "Release FAILED at step 'check-config'" in failure.result["error"]["summary"]
    assert (app.host.files, app.host.master) == before
    # The lock is free (lock_timeout 0: a held lock fails at once) and the next release runs.
    assert app.deploy(config_spec(timeout=60))["result"] == "reloaded"


def test_finding_11_a_release_that_went_live_and_was_rolled_back_keeps_no_candidate_secrets(app):
    started(app)
    failure = failure_of(app.deploy, config_spec(python="# BROKEN"), canary=False)
    assert failure.result["result"] == "rolled_back"
    assert not os.path.exists(os.path.join(app.layout["candidate_dir"], "secret_env"))


def test_finding_11_results_and_records_hold_a_keyed_checksum_of_the_secrets(app):
    result = started(app)
    plain = plan.checksum(app.host.files["secret_env"])
    assert result["checksums"]["secret_env"].startswith("hmac-sha256:")
    assert result["checksums"]["config"] == plan.checksum(app.host.files["config"])
    for name in ("releases.json", "current.json", "last-known-good/meta.json"):
        with open(app.store.path(name), encoding="utf-8") as handle:
            assert plain not in handle.read(), name


def test_unknown_setting_names_the_option_and_the_near_name(app):
    started(app)
    failure = failure_of(app.deploy, config_spec(extra={"worker": 4}),
                         option_names={"config.extra_settings": "gunicorn_django_extra_settings"})
    assert failure.detail == "gunicorn_django_extra_settings: unknown Gunicorn setting(s) 'worker' (did you " \
                             "mean 'workers'?)"


def test_a_promotion_that_cannot_write_puts_the_live_files_back(app):
    started(app)
    before = dict(app.host.files)
    app.host.fail_write.add("unit")
    failure = failure_of(app.deploy, files=release_files(config_spec(timeout=60), unit="[Service]\n# new\n"))
    assert failure.step == "promote" and "No space left" in failure.detail
    assert app.host.files == before and app.store.read_pending() is None
    assert failure.result["result"] == "rejected"


@pytest.mark.parametrize("spec, step", [
    pytest.param(config_spec(python="# BROKEN", timeout=60), "health-gate", id="gate-after-reload"),
    pytest.param(config_spec(python="# NO-BOOT", workers=2, timeout=31), "health-gate", id="hup-kills-master"),
])
def test_a_live_failure_rolls_back_to_last_known_good(app, spec, step):
    started(app)
    good = dict(app.host.files)
    failure = failure_of(app.deploy, spec, canary=False)
    assert failure.step == step and failure.result["result"] == "rolled_back" and failure.result["healthy"]
    assert app.host.files == good and app.host.master["config"] == good["config"]
    assert "Service healthy on last-known-good: yes" in failure.result["error"]["summary"]
    assert app.store.read_pending() is None


def test_a_start_that_fails_rolls_back(app):
    started(app)
    failure = failure_of(app.deploy, files=release_files(config_spec(python="# NO-BOOT"), app_env="X=1\n"),
                         canary=False)
    assert failure.step == plan.ACTION_RESTART and failure.result["rolled_back"] and failure.result["healthy"]


def test_a_rollback_that_fails_says_so(app):
    started(app)
    app.host.starts_fail = True
    failure = failure_of(app.deploy, files=release_files(config_spec(), app_env="X=1\n"), canary=False)
    assert failure.result["result"] == "rolled_back" and not failure.result["healthy"]
    assert "Service healthy on last-known-good: NO" in failure.result["error"]["summary"]
    assert any(line.startswith("rollback: ") for line in failure.result["error"]["evidence"])
    assert app.store.read_pending() is None


def test_a_first_release_that_fails_stops_the_service(app):
    failure = failure_of(app.deploy, config_spec(python="# BROKEN"), canary=False)
    assert failure.result["result"] == "failed" and app.host.master is None
    assert "Nothing could be restored" in failure.result["error"]["summary"]


def test_rollback_off_leaves_the_candidate_and_clears_pending(app):
    started(app)
    failure = failure_of(app.deploy, config_spec(python="# BROKEN"), canary=False, rollback=False)
    assert failure.result["result"] == "failed" and "BROKEN" in app.host.files["config"]
    assert app.store.read_pending() is None


def test_on_demand_rollback_restores_a_history_entry_through_the_gate(app):
    first = started(app)["record"]["release_id"]
    app.deploy(config_spec(timeout=60))
    result = app.rollback(first)
    assert result["result"] == "rolled_back" and "timeout = 30\n" in app.host.files["config"]


def test_a_running_service_without_last_known_good_is_adopted_first(app):
    started(app)
    app.store.lkg and __import__("shutil").rmtree(app.store.lkg)
    result = app.deploy(config_spec(timeout=60))
    assert [step["detail"].split(": ", 1)[1] for step in result["steps"] if step["step"] == "last-known-good"] == [
        "running config adopted before the change", "passed the health gate"]


def test_a_hand_edited_last_known_good_stops_the_release(app):
    started(app)
    with open(os.path.join(app.store.lkg, "config"), "a", encoding="utf-8") as handle:
        handle.write("workers = 9\n")
    assert failure_of(app.deploy, config_spec(timeout=60)).step == "last-known-good"


def test_lock_contention_fails_with_who_holds_it(app):
    started(app)
    lock_path = app.store.path("private", "lock")
    with open(lock_path, "r+", encoding="utf-8") as holder:
        fcntl.flock(holder, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(HostError, match="another release of this app is running"):
            app.deploy(config_spec(timeout=60))
    assert app.deploy(config_spec(timeout=60))["result"] == "reloaded"


# -- recovery from every pending state ---------------------------------------------------------

def interrupted(app, spec, files=None, applied=False, promote=True, apply=False):
    """Leave the host as a release killed after pending.json was written."""
    transaction = app.transaction(spec, files)
    live = transaction.live_files()
    changed = plan.changed_files(live, transaction.desired)
    transaction._promote(changed, live) if promote else app.store.write_pending({
        "release_id": "interrupted", "previous": plan.checksums(live), "candidate": plan.checksums(
            transaction.desired)})
    if apply:
        app.host.systemctl("reload", app.layout["unit"])
    if applied:
        app.store.mark_applied()


@pytest.mark.parametrize("how, outcome", [
    pytest.param(dict(promote=False), "not applied", id="nothing-went-live"),
    pytest.param(dict(apply=True, applied=True), "verified healthy", id="applied"),
    pytest.param(dict(), "applied again (reload)", id="promoted-not-applied"),
])
def test_recovery_finishes_an_interrupted_release(app, how, outcome):
    started(app)
    interrupted(app, config_spec(timeout=60), **how)
    result = app.deploy(config_spec(timeout=60) if how.get("promote", True) else config_spec())
    assert result["recovered"]["outcome"].startswith(outcome)
    assert app.store.read_pending() is None and result["healthy"]


def test_recovery_of_an_environment_change_restarts(app):
    started(app)
    files = release_files(config_spec(), app_env="MYSITE=2\n")
    interrupted(app, config_spec(), files)
    pid = app.host.master["pid"]
    result = app.deploy(config_spec(), files)
    assert result["recovered"]["outcome"] == "applied again (restart) and verified healthy"
    assert app.host.master["pid"] != pid


def test_recovery_restores_half_promoted_files(app):
    started(app)
    good = dict(app.host.files)
    interrupted(app, config_spec(timeout=60))
    app.host.files["app_env"] = "HALF=1\n"
    result = app.deploy()
    assert result["recovered"]["outcome"] == "rolled back to last-known-good"
    assert app.host.files == good


def test_recovery_restores_when_the_service_is_down(app):
    started(app)
    interrupted(app, config_spec(python="# NO-BOOT"))
    app.host.master = None
    result = app.deploy()
    assert result["recovered"]["outcome"] == "rolled back to last-known-good" and app.host.master


def test_a_recovery_that_cannot_heal_clears_pending_and_fails_once(app):
    started(app)
    interrupted(app, config_spec(timeout=60))
    app.host.master, app.host.starts_fail = None, True
    failure = failure_of(app.deploy)
    assert failure.step == "recover" and app.store.read_pending() is None
    app.host.starts_fail = False
    assert app.deploy()["result"] == "started"


# -- hardening findings --------------------------------------------------------------------------

def test_finding_1_the_gate_probes_the_live_configs_bind_after_a_rollback(app):
    started(app)
    failure = failure_of(app.deploy, config_spec(bind="127.0.0.1:8001", python="# BROKEN"), canary=False)
    assert failure.result["rolled_back"] and failure.result["healthy"]
    assert "Service healthy on last-known-good: yes" in failure.result["error"]["summary"]


def test_finding_1_recovery_gates_the_live_bind_and_clears_pending(app):
    started(app)
    interrupted(app, config_spec(bind="127.0.0.1:8001", python="# NO-BOOT"))
    app.host.master = None
    result = app.transaction(config_spec(bind="127.0.0.1:8001")).deploy()
    assert result["recovered"]["outcome"] == "rolled back to last-known-good"
    assert app.store.read_pending() is None


@pytest.mark.parametrize("break_host, spec", [
    pytest.param(lambda host: setattr(host, "fail_unit_state_after", host.unit_state_calls + 4),
                 config_spec(timeout=60), id="systemctl-show-fails-in-the-gate"),
    pytest.param(lambda host: setattr(host, "signal_error", ProcessLookupError(3, "No such process")),
                 config_spec(workers=3), id="master-gone-during-scale"),
])
def test_finding_5_any_error_after_going_live_rolls_back_and_is_recorded(app, break_host, spec):
    started(app)
    good = dict(app.host.files)
    break_host(app.host)
    with pytest.raises(Exception) as caught:
        app.deploy(spec, canary=False)
    app.host.fail_unit_state_after, app.host.signal_error = None, None
    assert isinstance(caught.value, StepFailed), caught.value
    assert app.host.files == good and app.store.read_pending() is None
    assert caught.value.result["record"]["result"] in ("rolled_back", "failed")
    assert caught.value.result["rolled_back"]


def test_finding_8_on_demand_rollback_removes_a_socket_the_target_did_not_have(app):
    first = started(app)["record"]["release_id"]
    app.deploy(files=release_files(config_spec(), socket=SOCKET))
    assert app.host.files.get("socket") == SOCKET
    result = app.rollback(first)
    assert result["changed_files"] == ["socket", "probe_socket"] and result["action"] == plan.ACTION_RESOCKET
    assert not app.host.files.get("socket") and not app.host.files.get("probe_socket")


def test_finding_10_the_lock_is_root_only(app):
    started(app)
    lock_path = app.store.path("private", "lock")
    assert stat.S_IMODE(os.stat(lock_path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(os.path.dirname(lock_path)).st_mode) == 0o700
    assert os.stat(os.path.dirname(lock_path)).st_uid == 0


def test_signal_numbers_are_the_masters(app):
    started(app)
    app.deploy(config_spec(workers=3))
    assert (signal.SIGTTIN.name, app.host.master["pid"]) in app.host.calls


def test_a_release_refused_before_it_starts_is_recorded(app):
    started(app)
    before = dict(app.host.files)
    failure = app.transaction(config_spec(timeout=60)).reject("preflight", "venv /srv/x has no bin/gunicorn")
    assert failure.result["record"]["result"] == "rejected" and failure.result["record"]["error"]["step"] == "preflight"
    assert app.host.files == before


def test_a_pending_file_of_an_earlier_version_recovers_with_a_reload(app):
    """pending.json written before settings were recorded in it: the previous settings come from
    last-known-good, so a config-only change is applied again with a HUP, not a restart."""
    started(app)
    transaction = app.transaction(config_spec(timeout=60))
    live = transaction.live_files()
    transaction._promote(["config"], live)
    pending = app.store.read_pending()
    del pending["candidate_settings"], pending["previous_settings"]
    app.store.write_pending(pending)
    assert app.deploy(config_spec(timeout=60))["recovered"]["outcome"] == "applied again (reload) and verified healthy"


def test_finding_7_a_config_edited_after_the_master_started_is_not_adopted(app):
    started(app)
    app.store.lkg and __import__("shutil").rmtree(app.store.lkg)
    # Edited by hand and never loaded: the master runs what it started with.
    app.host.clock += 5
    app.host.write_live("config", app.host.files["config"].replace("timeout = 30", "timeout = 31"))
    result = app.deploy(config_spec(timeout=60))
    adopt = [step for step in result["steps"] if step["step"] == "adopt"]
    assert adopt and adopt[0]["result"] == "skipped" and "started before config was last written" in adopt[0]["detail"]
    kept = [step["detail"] for step in result["steps"] if step["step"] == "last-known-good"]
    assert kept == ["%s: passed the health gate" % result["record"]["release_id"]]


def test_finding_7_a_hand_edited_live_config_that_matches_the_inventory_is_not_adopted_unloaded(app):
    started(app)
    app.store.lkg and __import__("shutil").rmtree(app.store.lkg)
    app.store.record({"release_id": "by-hand", "healthy": False})  # the last release's record is no proof
    app.host.clock += 5
    app.host.write_live("config", app.host.files["config"])
    result = app.deploy()
    assert result["result"] == "unchanged" and app.store.last_known_good() is None


def test_files_a_hup_released_are_adopted_for_the_master_that_passed_their_gate(app):
    # After a HUP the master is older than its config; the release's record (same master, same
    # files, gate passed) proves it runs them. A failing release then rolls back to them.
    started(app)
    app.deploy(config_spec(timeout=60))
    assert app.store.last_record()["action"] == "reload"
    app.store.lkg and __import__("shutil").rmtree(app.store.lkg)
    pid = app.host.master["pid"]
    bad = config_spec(timeout=61, python="# BROKEN\n")
    failure = failure_of(app.deploy, bad, canary=False)
    assert failure.result["result"] == "rolled_back" and failure.result["healthy"]
    assert "timeout = 60" in app.host.files["config"] and app.host.master
    adopted = [step for step in failure.result["steps"] if step["step"] == "last-known-good"]
    assert adopted and "running config adopted before the change" in adopted[0]["detail"]
    assert pid  # the master that passed the HUP's gate


def test_files_of_another_master_are_not_adopted_on_the_records_word(app):
    started(app)
    app.deploy(config_spec(timeout=60))
    app.store.lkg and __import__("shutil").rmtree(app.store.lkg)
    record = app.store.last_record()
    app.store.record(dict(record, main_pid=record["main_pid"] + 1000))
    result = app.deploy(config_spec(timeout=62))
    adopt = [step for step in result["steps"] if step["step"] == "adopt"]
    assert adopt and adopt[0]["result"] == "skipped"


@pytest.mark.parametrize("started_at, written, problem", [
    (100.0, {"config": 99.0, "unit": 50.0}, None),
    (100.0, {"config": 100.0}, None),
    (100.0, {"config": 101.0}, "config was last written"),
    (100.0, {"app_env": 101.0, "unit": 102.0}, "app_env, unit were last written"),
    (None, {"config": 1.0}, "cannot be read"),
])
def test_adoption_problem(started_at, written, problem):
    found = plan.adoption_problem(started_at, written)
    assert (found is None) if problem is None else (problem in found)
