"""The pure release decisions, over structured settings."""
import itertools

import pytest
from hypothesis import given, strategies as st

from ansible_collections.djangoops.gunicorn.plugins.module_utils import gunicorn_config
from ansible_collections.djangoops.gunicorn.plugins.module_utils.release import plan

from release_fakes import config_spec

SETTINGS = {"bind": ["127.0.0.1:8000"], "workers": 3, "preload_app": False}
PRELOAD = dict(SETTINGS, preload_app=True)
LOCALHOST = dict(SETTINGS, bind=["localhost:8000"])


@pytest.mark.parametrize(
    "changed, active, live, desired, counts, action",
    [
        ([], True, SETTINGS, SETTINGS, None, plan.ACTION_NONE),
        ([], False, SETTINGS, SETTINGS, None, plan.ACTION_START),
        (["config"], False, SETTINGS, SETTINGS, None, plan.ACTION_START),
        (["config"], True, SETTINGS, SETTINGS, None, plan.ACTION_RELOAD),
        (["unit"], True, SETTINGS, SETTINGS, None, plan.ACTION_RESTART),
        (["config", "unit"], True, SETTINGS, SETTINGS, None, plan.ACTION_RESTART),
        (["app_env"], True, SETTINGS, SETTINGS, None, plan.ACTION_RESTART),
        (["secret_env"], True, SETTINGS, SETTINGS, None, plan.ACTION_RESTART),
        (["config"], True, PRELOAD, SETTINGS, None, plan.ACTION_RESTART),
        (["config"], True, SETTINGS, PRELOAD, None, plan.ACTION_RESTART),
        (["socket"], True, SETTINGS, SETTINGS, None, plan.ACTION_RESOCKET),
        (["unit", "socket"], True, SETTINGS, SETTINGS, None, plan.ACTION_RESOCKET),
        (["socket"], False, SETTINGS, SETTINGS, None, plan.ACTION_START),
        # A changed bind restarts: a HUP binds the new address before it closes the old one.
        (["config"], True, SETTINGS, LOCALHOST, None, plan.ACTION_RESTART),
        (["config"], True, SETTINGS, dict(SETTINGS, workers=5), (3, 5), plan.ACTION_SCALE),
        (["config"], True, SETTINGS, dict(SETTINGS, timeout=60), None, plan.ACTION_RELOAD),
        # Settings of the live config unknown: its bind cannot be compared.
        (["config"], True, None, SETTINGS, None, plan.ACTION_RESTART),
        (["config"], False, SETTINGS, LOCALHOST, None, plan.ACTION_START),
        (["socket", "config"], True, SETTINGS, LOCALHOST, None, plan.ACTION_RESOCKET),
        (["config", "app_env"], True, SETTINGS, dict(SETTINGS, workers=4), (3, 4), plan.ACTION_RESTART),
        (["config"], True, PRELOAD, dict(PRELOAD, workers=4), (3, 4), plan.ACTION_RESTART),
        (["config", "socket"], True, SETTINGS, dict(SETTINGS, workers=4), (3, 4), plan.ACTION_RESOCKET),
    ],
)
def test_plan_action_picks_the_cheapest_safe_action(changed, active, live, desired, counts, action):
    assert plan.plan_action(changed, active, live, desired, counts)[0] == action


@pytest.mark.parametrize("changed, live, desired, counts, words", [
    (["config"], SETTINGS, LOCALHOST, None, ["bind"]),
    (["secret_env"], SETTINGS, SETTINGS, None, ["secret_env"]),
    (["config"], SETTINGS, dict(SETTINGS, workers=5), (3, 5), ["3 -> 5", "2 TTIN"]),
    (["config"], SETTINGS, dict(SETTINGS, workers=2), (3, 2), ["1 TTOU"]),
])
def test_plan_action_says_why(changed, live, desired, counts, words):
    reason = plan.plan_action(changed, True, live, desired, counts)[1]
    assert all(word in reason for word in words), reason


def rendered(spec, workers):
    return gunicorn_config.render(spec["app_name"], dict(spec["settings"], workers=workers), spec["extra_settings"],
                                  spec["python"], spec["header"])


@pytest.mark.parametrize(
    "live_spec, live_workers, desired, counts",
    [
        pytest.param(config_spec(), 3, config_spec(workers=4), (3, 4), id="up"),
        pytest.param(config_spec(), 4, config_spec(workers=1), (4, 1), id="down"),
        pytest.param(config_spec(), 3, config_spec(workers=3), None, id="same"),
        pytest.param(config_spec(), 3, config_spec(workers=4, timeout=31), None, id="another-setting-too"),
        pytest.param(config_spec(), 3, config_spec(workers=4, python="# hooks"), None, id="added-python"),
        pytest.param(config_spec(python="if True:\n    workers = 8"), 3,
                     config_spec(workers=4, python="if True:\n    workers = 8"), None, id="computed-later"),
        pytest.param(config_spec(python="workers += 1"), 3, config_spec(workers=4, python="workers += 1"), None,
                     id="augmented-later"),
        pytest.param(config_spec(python="def post_fork(server, worker):\n    workers = 1"), 3,
                     config_spec(workers=4, python="def post_fork(server, worker):\n    workers = 1"), (3, 4),
                     id="local-name-in-a-hook"),
        pytest.param(config_spec(python="max_workers_hint = 2"), 3,
                     config_spec(workers=4, python="max_workers_hint = 2"), (3, 4), id="other-names"),
        pytest.param(config_spec(), 0, config_spec(workers=4), None, id="zero-live-workers"),
    ],
)
def test_scale_counts(live_spec, live_workers, desired, counts):
    live_config = rendered(live_spec, live_workers)
    assert plan.scale_counts(live_config, dict(live_spec["settings"], workers=live_workers), desired) == counts


def test_scale_counts_needs_the_live_config_and_its_settings():
    desired = config_spec(workers=4)
    assert plan.scale_counts(None, {"workers": 3}, desired) is None
    assert plan.scale_counts(rendered(desired, 3), None, desired) is None
    assert plan.scale_counts(rendered(desired, 3), {"workers": 3}, None) is None
    # A hand edit of the live file (one more line) is more than a count.
    assert plan.scale_counts(rendered(desired, 3) + "# edited\n", {"workers": 3}, desired) is None


@given(before=st.integers(min_value=1, max_value=64), after=st.integers(min_value=1, max_value=64),
       timeout=st.integers(min_value=1, max_value=600),
       extra=st.dictionaries(st.from_regex(r"[a-v_]{1,12}", fullmatch=True), st.integers() | st.text(max_size=8),
                             max_size=5))
def test_scale_counts_property(before, after, timeout, extra):
    """Only the count differs: scale between exactly those counts; any other edit: never scale."""
    extra.pop("workers", None)
    live = config_spec(workers=before, timeout=timeout, extra=extra)
    desired = config_spec(workers=after, timeout=timeout, extra=extra)
    expected = (before, after) if before != after else None
    assert plan.scale_counts(rendered(live, before), live["settings"], desired) == expected
    other = config_spec(workers=after, timeout=timeout + 1, extra=extra)
    assert plan.scale_counts(rendered(live, before), live["settings"], other) is None


@pytest.mark.parametrize(
    "live, desired, changed",
    [
        ({}, {"config": "a", "unit": "u", "app_env": "e", "secret_env": "s"},
         ["config", "app_env", "secret_env", "unit"]),
        ({"socket": None}, {"socket": ""}, []),
        ({"socket": "[Socket]"}, {"socket": ""}, ["socket"]),
        # One meaning of a missing file (finding 8): a desired set without it wants it gone.
        ({"socket": "[Socket]"}, {}, ["socket"]),
        ({"socket": None}, {"socket": "[Socket]"}, ["socket"]),
        ({"config": "a", "unit": "u"}, {"config": "a", "unit": "u"}, []),
        ({"config": "a", "unit": "u"}, {"config": "b", "unit": "u"}, ["config"]),
        ({"config": "a"}, {"config": "a", "unit": None}, []),
    ],
)
def test_changed_files(live, desired, changed):
    assert plan.changed_files(live, desired) == changed


@pytest.mark.parametrize(
    "check, status, body, problem",
    [
        ({"path": "/healthz"}, 200, "ok", None),
        ({"path": "/healthz", "status": 204}, 204, "", None),
        ({"path": "/healthz"}, 500, "boom", "status 500, expected 200"),
        ({"path": "/items/", "contains": "Catalog"}, 200, "<h1>Catalog</h1>", None),
        ({"path": "/items/", "contains": "Catalog"}, 200, "<h1>Oops</h1>", "lacks 'Catalog'"),
        ({"path": "/gone", "status": 404}, 404, "", None),
    ],
)
def test_check_response(check, status, body, problem):
    result = plan.check_response(check, status, body)
    assert result is None if problem is None else problem in result


def test_backoff_grows_then_stays_at_the_ceiling():
    delays = plan.backoff_delays(first=0.1, factor=2.0, ceiling=1.0)
    assert [round(delay, 3) for delay in itertools.islice(delays, 7)] == [0.1, 0.2, 0.4, 0.8, 1.0, 1.0, 1.0]


def test_unknown_settings_suggest_the_closest_name():
    known = {"workers", "worker_class", "timeout", "bind"}
    assert plan.unknown_settings(["worker", "timeout", "nosuchthing"], known) == [
        ("nosuchthing", None), ("worker", "workers")]


@pytest.mark.parametrize(
    "entries, keep, deleted",
    [
        ([], 5, []),
        (["20260101T000000Z", "20260102T000000Z"], 5, []),
        (["20260103T000000Z", "20260101T000000Z", "20260102T000000Z"], 2, ["20260101T000000Z"]),
        (["b", "a", "c"], 0, ["a", "b"]),
        ([".a.deleting", "b", "c"], 1, ["b"]),
    ],
)
def test_prune_history_keeps_the_newest(entries, keep, deleted):
    assert plan.prune_history(entries, keep) == deleted


def test_checksum_of_a_missing_file_is_none():
    assert plan.checksum(None) is None and plan.checksum("") is None
    assert plan.checksum("a") == plan.checksum("a") != plan.checksum("b")


@pytest.mark.parametrize(
    "restored, healthy, expected",
    [
        (None, None, "was not touched"),
        (["config"], True, "Service healthy on last-known-good: yes"),
        (["config"], False, "Service healthy on last-known-good: NO"),
        ([], False, "Nothing could be restored"),
    ],
)
def test_describe_failure(restored, healthy, expected):
    summary = plan.describe_failure("canary", "boom", restored, healthy)
    assert summary.startswith("Release FAILED at step 'canary': boom") and expected in summary


@pytest.mark.parametrize("bind, live, taken, problem", [
    ("127.0.0.1:8000", [], set(), None),
    ("127.0.0.1:8000", [], {8000}, "port 8000 is already in use"),
    # the live master's own address, and a clashing address it holds, free themselves
    ("127.0.0.1:8000", ["127.0.0.1:8000"], {8000}, None),
    ("localhost:8000", ["127.0.0.1:8000"], {8000}, None),
    ("127.0.0.1:8001", ["127.0.0.1:8000"], {8001}, "port 8001"),
    ("unix:/run/app.sock", [], set(), None),
    ("127.0.0.1:notaport", [], set(), "not a number"),
])
def test_bind_problem(bind, live, taken, problem):
    found = plan.bind_problem(bind, live, lambda host, port: port not in taken)
    assert found is None if problem is None else problem in found


@pytest.mark.parametrize("bind, address", [
    ("127.0.0.1:8000", ("tcp", "127.0.0.1", 8000)),
    ("0.0.0.0:8000", ("tcp", "127.0.0.1", 8000)),
    ("[::]:8000", ("tcp", "::1", 8000)),
    ("unix:/run/a.sock", ("unix", "/run/a.sock")),
])
def test_probe_address(bind, address):
    assert plan.probe_address(bind) == address


@pytest.mark.parametrize(
    "stamp, taken, expected",
    [
        ("20261126T180351Z", [], "20261126T180351Z"),
        ("20261126T180351Z", ["20261126T180350Z", None], "20261126T180351Z"),
        ("20261126T180351Z", ["20261126T180351Z"], "20261126T180351Z-2"),
        ("20261126T180351Z", ["20261126T180351Z", "20261126T180351Z-2"], "20261126T180351Z-3"),
        ("20261126T180351Z", ["20261126T180351Z-2"], "20261126T180351Z"),
    ],
)
def test_unique_release_id(stamp, taken, expected):
    assert plan.unique_release_id(stamp, taken) == expected


def test_unique_release_ids_keep_sorting_by_time():
    first = "20261126T180351Z"
    second = plan.unique_release_id(first, [first])
    third = plan.unique_release_id(first, [first, second])
    assert sorted([third, "20261126T180352Z", second, first]) == [first, second, third, "20261126T180352Z"]
    assert plan.prune_history([first, second, third, "20261126T180352Z"], 2) == [first, second]


def _sums(config, app_env="env"):
    return {"config": config, "app_env": app_env, "secret_env": "secret", "unit": "unit", "socket": None}


PREVIOUS, CANDIDATE = _sums("old"), _sums("new")


@pytest.mark.parametrize(
    "pending_extra, live, active, expected",
    [
        # nothing went live: keep the previous files, gate what runs
        ({}, PREVIOUS, True, (plan.RECOVER_KEEP_PREVIOUS, plan.ACTION_NONE)),
        ({"applied": True}, PREVIOUS, True, (plan.RECOVER_KEEP_PREVIOUS, plan.ACTION_NONE)),
        # promoted, maybe not applied yet: reload (config only), restart (environment, preload, bind)
        ({}, CANDIDATE, True, (plan.RECOVER_APPLY, plan.ACTION_RELOAD)),
        ({"previous_settings": PRELOAD}, CANDIDATE, True, (plan.RECOVER_APPLY, plan.ACTION_RESTART)),
        ({"candidate_settings": PRELOAD}, CANDIDATE, True, (plan.RECOVER_APPLY, plan.ACTION_RESTART)),
        ({"candidate_settings": LOCALHOST}, CANDIDATE, True, (plan.RECOVER_APPLY, plan.ACTION_RESTART)),
        # a workers-only change interrupted mid-scale: HUP applies the recorded count
        ({"candidate_settings": dict(SETTINGS, workers=5)}, CANDIDATE, True,
         (plan.RECOVER_APPLY, plan.ACTION_RELOAD)),
        ({"candidate": _sums("new", "env2")}, _sums("new", "env2"), True, (plan.RECOVER_APPLY, plan.ACTION_RESTART)),
        # applied before the interruption: gate it as it runs
        ({"applied": True}, CANDIDATE, True, (plan.RECOVER_VERIFY, plan.ACTION_NONE)),
        # half promoted, or the service is down: restore last-known-good
        ({}, _sums("new", "other"), True, (plan.RECOVER_RESTORE, plan.ACTION_RESTART)),
        ({"applied": True}, CANDIDATE, False, (plan.RECOVER_RESTORE, plan.ACTION_RESTART)),
        ({}, PREVIOUS, False, (plan.RECOVER_RESTORE, plan.ACTION_RESTART)),
    ],
)
def test_recovery_plan(pending_extra, live, active, expected):
    pending = dict({"release_id": "r", "previous": PREVIOUS, "candidate": CANDIDATE,
                    "previous_settings": SETTINGS, "candidate_settings": SETTINGS}, **pending_extra)
    assert plan.recovery_plan(pending, live, active) == expected
