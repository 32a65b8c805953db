"""The hand-over on a FakeHost: with a socket unit, a release boots a partner master beside the
live one on the shared socket, gates it through its own probe socket, then restarts the live unit
on the promoted files while the partner serves, gates that through the live probe socket and
retires the partner. Every failure ends with the live unit serving the right release."""
import pytest

from ansible_collections.djangoops.gunicorn.plugins.module_utils.release import plan
from ansible_collections.djangoops.gunicorn.plugins.module_utils.release.steps import StepFailed

from release_fakes import SOCKET, config_spec, release_files

MIB = 1024 * 1024


def failure_of(call, *args, **kwargs):
    with pytest.raises(StepFailed) as caught:
        call(*args, **kwargs)
    return caught.value


def files(spec=None, **given):
    return release_files(spec or config_spec(), **dict({"socket": SOCKET}, **given))


def live_with_socket(app):
    result = app.deploy(files=files())
    assert result["result"] == "started" and app.host.master["probe"]
    return app.host.master["pid"]


def verbs(app, since):
    return [call for call in app.host.calls[since:]
            if call[0] != "daemon-reload" and call[1] != app.layout["canary_unit"]]


@pytest.mark.parametrize("change", [
    pytest.param({"spec": config_spec(timeout=60)}, id="gunicorn.conf.py setting"),
    pytest.param({"spec": config_spec(preload=True)}, id="preload_app on"),
    pytest.param({"app_env": "MYSITE=2\n"}, id="app environment"),
    pytest.param({"secret_env": "SECRET=2\n"}, id="secret environment"),
    pytest.param({"unit": "[Service]\nProtectHome=yes\n"}, id="unit"),
])
def test_every_change_but_the_workers_count_goes_live_by_hand_over(app, change):
    old_pid = live_with_socket(app)
    since = len(app.host.calls)
    spec = change.pop("spec", None)
    result = app.deploy(spec, files(spec, **change))
    assert (result["action"], result["result"], result["healthy"]) == (plan.ACTION_HANDOVER, "handed_over", True)
    assert verbs(app, since) == [
        ("install-partner", None), ("start", app.layout["handover_unit"]), ("reset-failed", app.layout["unit"]),
        ("restart", app.layout["unit"]), ("remove-partner", None)]
    # The live unit runs the new files (a reboot starts this release); the partner is gone.
    assert app.host.master["pid"] != old_pid and app.host.master["config"] == app.host.files["config"]
    assert app.host.partner is None and not app.host.partner_installed()
    assert [step["step"] for step in result["steps"]] == [
        "candidate", "check-config", "canary", "partner", "promote", "handover", "health-gate", "partner-stop",
        "last-known-good"]
    assert app.store.read_pending() is None


def test_the_workers_count_alone_keeps_ttin(app):
    pid = live_with_socket(app)
    result = app.deploy(config_spec(workers=3), files(config_spec(workers=3)))
    assert result["action"] == plan.ACTION_SCALE and app.host.master["pid"] == pid
    assert ("install-partner", None) not in app.host.calls


def test_the_partner_gate_probes_the_partner_and_the_live_gate_the_live_master(app):
    live_with_socket(app)
    app.host.requests.clear()
    app.deploy(config_spec(timeout=60), files(config_spec(timeout=60)))
    probed = [request[0] for request in app.host.requests]
    assert ("unix", app.layout["handover_socket"]) in probed
    assert ("unix", app.layout["probe_socket"]) in probed
    # Never the shared bind, where either master may answer.
    assert ("tcp", "127.0.0.1", 8000) not in probed


def test_a_partner_that_fails_its_gate_is_stopped_and_the_live_master_never_stopped(app):
    old_pid = live_with_socket(app)
    live_config = app.host.files["config"]
    bad = config_spec(python="# BROKEN\n")
    failure = failure_of(app.deploy, bad, files(bad), canary=False)
    assert failure.step == "partner" and failure.result["result"] == "rejected"
    assert "served beside the live release and was stopped" in failure.result["error"]["summary"]
    assert app.host.master["pid"] == old_pid and app.host.files["config"] == live_config
    assert app.host.partner is None and not app.host.partner_installed()
    assert app.store.read_pending() is None
    assert ("restart", app.layout["unit"]) not in app.host.calls


def test_a_partner_that_does_not_boot_is_rejected_beside_the_live_master(app):
    old_pid = live_with_socket(app)
    bad = config_spec(python="# NO-PARTNER\n")
    failure = failure_of(app.deploy, bad, files(bad), canary=False)
    assert failure.step == "partner" and "did not boot" in failure.detail
    assert app.host.master["pid"] == old_pid and not app.host.partner_installed()


def test_with_the_canary_on_a_broken_release_never_reaches_a_partner(app):
    live_with_socket(app)
    bad = config_spec(python="# BROKEN\n")
    failure = failure_of(app.deploy, bad, files(bad))
    assert failure.step == "canary" and ("install-partner", None) not in app.host.calls


def test_a_live_unit_that_fails_after_the_partner_passed_rolls_back_then_retires_the_partner(app):
    live_with_socket(app)
    good_config = app.host.files["config"]
    bad = config_spec(python="# LIVE-BROKEN\n")
    failure = failure_of(app.deploy, bad, files(bad), canary=False)
    # The partner passed on its own probe socket; the live master's probe answered 500.
    assert failure.step == "health-gate" and failure.result["result"] == "rolled_back"
    assert failure.result["healthy"] and app.host.files["config"] == good_config
    assert app.host.master["config"] == good_config and not app.host.partner_installed()
    steps = [(step["step"], step["result"]) for step in failure.result["steps"]]
    assert ("partner", "ok") in steps and ("rollback", "ok") in steps and ("partner-stop", "ok") in steps


def test_a_live_unit_that_does_not_restart_rolls_back(app):
    live_with_socket(app)
    good_config = app.host.files["config"]
    bad = config_spec(python="# LIVE-NO-BOOT\n")
    failure = failure_of(app.deploy, bad, files(bad), canary=False)
    assert failure.result["result"] == "rolled_back" and app.host.master["config"] == good_config
    assert not app.host.partner_installed()


def test_a_partner_is_kept_while_nothing_else_serves(app):
    live_with_socket(app)
    bad = config_spec(python="# LIVE-NO-BOOT\n")
    real = app.host.systemctl

    def no_live_start(verb, unit):
        if unit == app.layout["unit"] and verb in ("start", "restart") and app.host.partner:
            app.host.calls.append((verb, unit))
            app.host.master, app.host.failed = None, True
            return 1, "Job failed"
        return real(verb, unit)
    app.host.systemctl = no_live_start
    failure = failure_of(app.deploy, bad, files(bad), canary=False)
    assert failure.result["result"] == "rolled_back" and not failure.result["healthy"]
    # The partner passed its gate and is all that serves: it stays, and the evidence says so.
    assert app.host.partner is not None
    assert any("still serves" in line for line in failure.result["error"]["evidence"])


def test_a_host_that_cannot_hold_two_masters_restarts_instead(app):
    live_with_socket(app)
    app.host.memory = (600 * MIB, 500 * MIB)
    result = app.deploy(config_spec(timeout=60), files(config_spec(timeout=60)))
    assert result["action"] == plan.ACTION_RESTART and "no hand-over: a second master needs about 750 MiB" in (
        result["reason"])
    assert ("install-partner", None) not in app.host.calls


def test_without_a_socket_the_release_reloads_or_restarts_as_before(app):
    app.deploy()
    assert app.deploy(config_spec(timeout=60))["action"] == plan.ACTION_RELOAD
    assert app.deploy(config_spec(timeout=60), release_files(config_spec(timeout=60), app_env="X=1\n"))[
        "action"] == plan.ACTION_RESTART


def test_a_host_of_the_previous_version_moves_over_by_hand_over(app):
    # Socket activation but no probe socket: the unit of the previous version.
    app.deploy(files=files(probe=False))
    assert not app.host.master["probe"]
    result = app.deploy(files=files())
    assert result["action"] == plan.ACTION_HANDOVER and result["changed_files"] == ["probe_socket"]
    assert app.host.master["probe"]


def test_a_host_without_socket_activation_moves_over_with_one_resocket(app):
    app.deploy()
    result = app.deploy(files=files())
    assert result["action"] == plan.ACTION_RESOCKET and result["healthy"]


def test_a_rollback_goes_live_by_hand_over(app):
    first = live_with_socket(app) and app.store.last_known_good()[1]["release_id"]
    app.deploy(config_spec(timeout=60), files(config_spec(timeout=60)))
    result = app.rollback(first)
    assert (result["action"], result["result"]) == (plan.ACTION_HANDOVER, "rolled_back")
    assert "timeout = 30" in app.host.master["config"] and not app.host.partner_installed()


def test_a_run_killed_while_the_partner_served_retires_it_and_keeps_the_live_release(app):
    old_pid = live_with_socket(app)
    live_config = app.host.files["config"]
    transaction = app.transaction(config_spec(timeout=60), files(config_spec(timeout=60)))
    # The release is killed once its partner serves (before promote).
    transaction.store.write_candidate(transaction.desired)
    transaction.store.write_pending(transaction._pending(app.host.files, partner=True))
    transaction._start_partner()
    assert app.host.partner is not None
    # The next run finds pending.json: the live files are the previous release's.
    result = app.deploy(config_spec(timeout=60), files(config_spec(timeout=60)))
    assert result["recovered"]["outcome"].startswith("not applied")
    assert result["action"] == plan.ACTION_HANDOVER and app.host.master["pid"] != old_pid
    assert app.host.files["config"] != live_config and not app.host.partner_installed()
    assert ("remove-partner", None) in app.host.calls


def test_a_run_killed_after_promote_restarts_the_live_unit_while_the_partner_serves(app):
    live_with_socket(app)
    desired = files(config_spec(timeout=60))
    transaction = app.transaction(config_spec(timeout=60), desired)
    transaction.store.write_candidate(transaction.desired)
    transaction.store.write_pending(transaction._pending(app.host.files, partner=True))
    transaction._start_partner()
    live = dict(app.host.files)
    transaction._promote(plan.changed_files(live, desired), live)
    # Killed here: the live files are the candidate's, the live unit still runs the old master.
    result = app.deploy(config_spec(timeout=60), desired)
    assert result["recovered"]["outcome"] == "applied again (restart) and verified healthy"
    assert "timeout = 60" in app.host.master["config"] and not app.host.partner_installed()
    assert result["action"] == plan.ACTION_NONE


def test_a_leftover_partner_without_pending_is_retired(app):
    live_with_socket(app)
    app.host.install_partner("[Service]\n", "[Socket]\n")
    app.host.partner = {"pid": 999, "config": app.host.files["config"], "workers": [1000, 1001]}
    result = app.deploy(files=files())
    assert result["result"] == "unchanged" and not app.host.partner_installed()


@pytest.mark.parametrize("needed, available, problem", [
    (None, 100 * MIB, False),
    (100 * MIB, None, False),
    (100 * MIB, 125 * MIB, False),
    (100 * MIB, 124 * MIB, True),
])
def test_overlap_problem(needed, available, problem):
    assert bool(plan.overlap_problem(needed, available)) is problem


@pytest.mark.parametrize("live, desired, expected", [
    ({"socket": SOCKET}, {"socket": SOCKET}, True),
    ({"socket": SOCKET}, {"socket": SOCKET.replace("8000", "8001")}, False),
    ({"socket": ""}, {"socket": SOCKET}, False),
    ({}, {}, False),
])
def test_can_hand_over_needs_the_same_socket_on_both_sides(live, desired, expected):
    assert plan.can_hand_over(live, desired) is expected


def test_with_boot_nice_only_the_canary_boots_below_the_serving_master(app):
    # The partner and the restarted live unit accept on the shared socket as soon as a worker is
    # up, before their gate: they boot at full priority (docs/performance.md measured why).
    live_with_socket(app)
    result = app.deploy(config_spec(timeout=60), files(config_spec(timeout=60)), boot_nice=10)
    assert result["result"] == "handed_over"
    assert app.host.autogroups == [(50, 10)]  # the canary's master (MainPID 50 on the fake host)
