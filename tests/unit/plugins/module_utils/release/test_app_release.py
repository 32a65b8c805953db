"""Releases of the app itself on a FakeHost: a new revision is a release, rollbacks go back to the
release before the current one (or N back, a history id, a rollout), trial releases take no
history slot, and the code directories the kept releases need are reported."""
import json

import pytest

from ansible_collections.djangoops.gunicorn.plugins.module_utils.release import plan
from ansible_collections.djangoops.gunicorn.plugins.module_utils.release.steps import StepFailed

from release_fakes import SOCKET, config_spec, release_files


def failure_of(call, *args, **kwargs):
    with pytest.raises(StepFailed) as caught:
        call(*args, **kwargs)
    return caught.value


def revision(app, rev, workers=2, **params):
    spec = config_spec(workers=workers)
    return app.deploy(spec, release_files(spec, socket=SOCKET, revision=rev), **params)


def test_a_new_revision_alone_is_a_release_by_hand_over(app):
    revision(app, "v1")
    result = revision(app, "v2")
    assert result["changed_files"] == ["release"] and result["action"] == plan.ACTION_HANDOVER
    assert result["revision"] == "v2" and result["record"]["revision"] == "v2"
    assert app.store.last_known_good()[1]["revision"] == "v2"
    assert revision(app, "v2")["result"] == "unchanged"


def test_without_socket_activation_a_new_revision_restarts(app):
    spec = config_spec()
    app.deploy(spec, release_files(spec, revision="v1"))
    assert app.deploy(spec, release_files(spec, revision="v2"))["action"] == plan.ACTION_RESTART


def test_a_release_without_revision_has_no_release_file():
    assert plan.release_record("", "/srv/a", "/srv/a/venv", lambda path: path) == ""
    record = json.loads(plan.release_record("v1", "/srv/current", "/srv/current/venv",
                                            lambda path: path.replace("current", "releases/v1")))
    assert record == {"revision": "v1", "app_dir": "/srv/current", "venv": "/srv/current/venv",
                      "app_dir_resolved": "/srv/releases/v1", "venv_resolved": "/srv/releases/v1/venv"}


def test_rollback_without_target_goes_back_to_the_release_before_the_current_one(app):
    # The case: a host moved from 3 to 4 workers; "roll back" must bring back 3.
    revision(app, "v1", workers=3)
    revision(app, "v1", workers=4)
    result = app.rollback()
    assert result["result"] == "rolled_back" and len(app.host.master["workers"]) == 3
    assert "workers = 3\n" in app.host.files["config"]


@pytest.mark.parametrize("target, expected_revision", [
    ("previous", "v2"), ("1", "v2"), ("2", "v1"), ("rollout-b", "v1"), ("rollout-c", "v2")])
def test_rollback_targets(app, target, expected_revision):
    revision(app, "v1", rollout_id="rollout-a")
    revision(app, "v2", rollout_id="rollout-b")
    revision(app, "v3", rollout_id="rollout-c")
    result = app.rollback(target)
    assert result["revision"] == expected_revision and result["result"] == "rolled_back"


def test_rollback_to_a_history_id(app):
    first = revision(app, "v1")["record"]["release_id"]
    revision(app, "v2")
    revision(app, "v3")
    assert app.rollback(first)["revision"] == "v1"


@pytest.mark.parametrize("target, says", [
    ("5", "only 2 earlier release(s) are kept"),
    ("0", "starts at 1"),
    ("rollout-a", "no release kept from before that rollout"),
    ("nosuch", "neither a number of releases back, a history id"),
])
def test_rollback_targets_that_cannot_be_restored_name_the_option(app, target, says):
    revision(app, "v1", rollout_id="rollout-a")
    revision(app, "v2")
    revision(app, "v3")
    failure = failure_of(app.rollback, target)
    assert failure.step == "rollback" and says in failure.detail and "rollback_to" in failure.detail


def test_trial_releases_take_no_history_slot(app):
    revision(app, "v1")
    revision(app, "v2")
    for workers in (3, 4, 5):
        revision(app, "v2", workers=workers, trial=True)
    revision(app, "v2", workers=3)
    history, last = app.store.kept_index()
    assert [meta.get("revision") for _entry, meta in history] == ["v1", "v2"]
    assert not any(meta.get("trial") for _entry, meta in history)
    assert last[1]["revision"] == "v2" and "trial" not in last[1]


def test_the_directories_kept_releases_need_are_reported(app):
    result = revision(app, "v1")
    assert result["kept_directories"] == ["/srv/mysite/app", "/srv/mysite/venv"]


def test_release_commands_run_after_check_config_and_before_the_canary(app):
    revision(app, "v1")
    result = revision(app, "v2", release_commands=["migrate --noinput", "collectstatic --noinput"])
    names = [step["step"] for step in result["steps"]]
    assert names.index("check-config") < names.index("release-commands") < names.index("canary")
    assert [call for call in app.host.calls if call[0] == "manage.py"] == [
        ("manage.py", "migrate --noinput"), ("manage.py", "collectstatic --noinput")]


def test_a_failing_release_command_rejects_the_release_before_the_canary(app):
    revision(app, "v1")
    pid, live = app.host.master["pid"], dict(app.host.files)
    failure = failure_of(revision, app, "v2", release_commands=["migrate fails"])
    assert failure.step == "release-commands" and failure.result["result"] == "rejected"
    assert "manage.py migrate fails failed (rc=1)" in failure.detail
    assert any("CommandError" in line for line in failure.result["error"]["evidence"])
    assert app.host.master["pid"] == pid and app.host.files == live
    assert ("start", app.layout["canary_unit"]) not in app.host.calls[-5:]
