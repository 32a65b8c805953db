"""Releases of the app itself on a FakeHost: a new revision is a release, rollbacks go back to the
release before the current one (or N back, a history id, a rollout), trial releases take no
history slot, and the code directories the kept releases need are reported."""
import json
import os

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


def release_in(app, rev, directory=None, resolve=None, **params):
    """Deploy revision `rev` from its own release directory (or `directory`), with the canary and
    partner units rendered for it, as the role does."""
    directory = directory or "/srv/mysite/releases/%s" % rev
    app.host.use_directories(directory + "/app", directory + "/venv")
    spec = config_spec()
    files = release_files(spec, socket=SOCKET, revision=rev, app_dir=directory + "/app", venv=directory + "/venv",
                          resolve=resolve or (lambda path: path),
                          unit="[Service]\nWorkingDirectory=%s/app\n" % directory)
    units = dict(canary_unit="[Service]\n# canary of %s\n" % directory,
                 handover_unit="[Service]\n# partner of %s\n" % directory)
    return app.deploy(spec, files, **dict(units, **params))


def test_a_rollback_validates_and_hands_over_with_the_kept_releases_own_directories_and_units(app):
    release_in(app, "v1")
    release_in(app, "v2")
    app.host.installed, app.host.checked_in = [], []
    # The inventory still names v2's directories and units: the rollback must not use them.
    result = app.rollback(canary_unit="[Service]\n# canary of v2\n", handover_unit="[Service]\n# partner of v2\n")
    assert result["result"] == "rolled_back" and result["revision"] == "v1"
    assert result["action"] == plan.ACTION_HANDOVER
    assert app.host.checked_in == [("/srv/mysite/releases/v1/app", "/srv/mysite/releases/v1/venv")]
    assert app.host.installed == [("canary", "[Service]\n# canary of /srv/mysite/releases/v1\n"),
                                  ("partner", "[Service]\n# partner of /srv/mysite/releases/v1\n")]
    assert app.host.files["unit"] == "[Service]\nWorkingDirectory=/srv/mysite/releases/v1/app\n"
    # Kept again with its own units: rolling forward again uses v2's.
    app.host.installed = []
    app.rollback()
    assert ("canary", "[Service]\n# canary of /srv/mysite/releases/v2\n") in app.host.installed


def test_a_rollback_to_directories_that_are_gone_is_refused_before_anything_changes(app):
    release_in(app, "v1")
    release_in(app, "v2")
    live, pid = dict(app.host.files), app.host.master["pid"]
    app.host.paths["/srv/mysite/releases/v1/app"] = None
    failure = failure_of(app.rollback)
    assert failure.step == "rollback" and "rollback_to" in failure.detail
    assert "app_dir /srv/mysite/releases/v1/app, which release v1 ran from, no longer exists" in failure.detail
    assert app.host.files == live and app.host.master["pid"] == pid


def test_a_rollback_through_a_current_symlink_switched_since_is_refused(app):
    # A deploy tool switches /srv/mysite/current; the role resolved it at each release.
    release_in(app, "v1", directory="/srv/mysite/current", resolve=lambda path: path.replace("current", "releases/v1"))
    release_in(app, "v2", directory="/srv/mysite/current", resolve=lambda path: path.replace("current", "releases/v2"))
    app.host.paths.update({"/srv/mysite/current/app": "/srv/mysite/releases/v2/app",
                           "/srv/mysite/current/venv": "/srv/mysite/releases/v2/venv"})
    failure = failure_of(app.rollback)
    assert ("app_dir /srv/mysite/current/app now resolves to /srv/mysite/releases/v2/app, but release v1 ran "
            "from /srv/mysite/releases/v1/app") in failure.detail
    # Once the deploy tool has switched it back, the rollback goes through.
    app.host.paths.update({"/srv/mysite/current/app": "/srv/mysite/releases/v1/app",
                           "/srv/mysite/current/venv": "/srv/mysite/releases/v1/venv"})
    assert app.rollback()["revision"] == "v1"


def test_a_release_kept_without_its_own_units_in_other_directories_rolls_back_by_restart_without_canary(app):
    release_in(app, "v1")
    release_in(app, "v2")
    # As an earlier version kept it: no canary or partner units in its meta.json.
    meta_path = os.path.join(app.store.history, os.listdir(app.store.history)[0], "meta.json")
    with open(meta_path, encoding="utf-8") as handle:
        meta = json.load(handle)
    del meta["companion_units"]
    with open(meta_path, "w", encoding="utf-8") as handle:
        json.dump(meta, handle)
    app.host.installed = []
    result = app.rollback()
    assert result["revision"] == "v1" and result["action"] == plan.ACTION_RESTART
    canary = [step for step in result["steps"] if step["step"] == "canary"][0]
    assert canary["result"] == "skipped" and "no canary unit of its own" in canary["detail"]
    assert app.host.installed == []


@pytest.mark.parametrize("record, now, says", [
    ({"revision": "v1", "app_dir": "/a", "venv": "/v"}, {"app_dir": "/a", "venv": "/v"}, None),
    ({"revision": "v1", "app_dir": "/c", "app_dir_resolved": "/r1", "venv": "/v", "venv_resolved": "/v"},
     {"app_dir": "/r1", "venv": "/v"}, None),
    ({"revision": "v1", "app_dir": "/c", "app_dir_resolved": "/r1", "venv": "/v"},
     {"app_dir": "/r2", "venv": "/v"}, ("app_dir", "now resolves to /r2")),
    ({"revision": "v1", "app_dir": "/a", "venv": "/v", "venv_resolved": "/v"},
     {"app_dir": "/a", "venv": None}, ("venv", "no longer exists")),
    ({}, {}, None),
])
def test_release_directories_problem(record, now, says):
    problem = plan.release_directories_problem(record, now)
    if says is None:
        assert problem is None
    else:
        assert problem[0] == says[0] and says[1] in problem[1]


def test_the_record_of_a_refused_release_names_the_revision_it_refused(app):
    """A rejected release leaves the live revision live (`revision`); its record and result also name
    the revision that was refused (`candidate_revision`), which no other field would (seen in
    molecule/releases: three refused revisions all recorded as the one still live)."""
    revision(app, "v1")
    failure = failure_of(revision, app, "v2-broken", release_commands=["migrate fails"])
    assert failure.result["result"] == "rejected"
    assert failure.result["revision"] == "v1" and failure.result["candidate_revision"] == "v2-broken"
    record = failure.result["record"]
    assert record["revision"] == "v1" and record["candidate_revision"] == "v2-broken"
    good = revision(app, "v2")
    assert good["revision"] == good["candidate_revision"] == "v2"
