"""Unit tests of the pure release decisions."""
import itertools

import pytest

from ansible_collections.djangoops.gunicorn.plugins.module_utils import release_plan as plan

CONFIG = "workers = 3\npreload_app = False\n"
CONFIG_PRELOAD = "workers = 3\npreload_app = True\n"


@pytest.mark.parametrize(
    "changed, active, live_config, desired_config, action",
    [
        ([], True, CONFIG, CONFIG, plan.ACTION_NONE),
        ([], False, CONFIG, CONFIG, plan.ACTION_START),
        (["config"], False, CONFIG, CONFIG, plan.ACTION_START),
        (["config"], True, CONFIG, CONFIG, plan.ACTION_RELOAD),
        (["unit"], True, CONFIG, CONFIG, plan.ACTION_RESTART),
        (["config", "unit"], True, CONFIG, CONFIG, plan.ACTION_RESTART),
        (["app_env"], True, CONFIG, CONFIG, plan.ACTION_RESTART),
        (["secret_env"], True, CONFIG, CONFIG, plan.ACTION_RESTART),
        (["config"], True, CONFIG_PRELOAD, CONFIG, plan.ACTION_RESTART),
        (["config"], True, CONFIG, CONFIG_PRELOAD, plan.ACTION_RESTART),
        (["socket"], True, CONFIG, CONFIG, plan.ACTION_RESOCKET),
        (["unit", "socket"], True, CONFIG, CONFIG, plan.ACTION_RESOCKET),
        (["socket"], False, CONFIG, CONFIG, plan.ACTION_START),
    ],
)
def test_plan_action_picks_the_cheapest_safe_action(changed, active, live_config, desired_config, action):
    assert plan.plan_action(changed, active, live_config, desired_config)[0] == action


def test_plan_action_says_why():
    action, reason = plan.plan_action(["secret_env"], True, CONFIG, CONFIG)
    assert action == plan.ACTION_RESTART and "secret_env" in reason


@pytest.mark.parametrize(
    "live, desired, changed",
    [
        ({}, {"config": "a", "unit": "u", "app_env": "e", "secret_env": "s"}, ["config", "app_env", "secret_env", "unit"]),
        ({"socket": None}, {"socket": ""}, []),
        ({"socket": "[Socket]"}, {"socket": ""}, ["socket"]),
        ({"socket": None}, {"socket": "[Socket]"}, ["socket"]),
        ({"config": "a", "unit": "u"}, {"config": "a", "unit": "u"}, []),
        ({"config": "a", "unit": "u"}, {"config": "b", "unit": "u"}, ["config"]),
        ({"config": "a"}, {"config": "a", "unit": None}, []),
    ],
)
def test_changed_files(live, desired, changed):
    assert plan.changed_files(live, desired) == changed


@pytest.mark.parametrize(
    "bind, parsed",
    [
        ("127.0.0.1:8000", ("tcp", "127.0.0.1", 8000)),
        ("localhost:80", ("tcp", "localhost", 80)),
        ("[::1]:8000", ("tcp", "::1", 8000)),
        ("0.0.0.0:8000", ("tcp", "0.0.0.0", 8000)),
        ("unix:/run/mysite/gunicorn.sock", ("unix", "/run/mysite/gunicorn.sock")),
    ],
)
def test_parse_bind(bind, parsed):
    assert plan.parse_bind(bind) == parsed


@pytest.mark.parametrize(
    "bind, message",
    [
        ("127.0.0.1:notaport", "not a number"),
        ("127.0.0.1:0", "not a number"),
        ("127.0.0.1:65536", "not a number"),
        ("127.0.0.1", "no port"),
        (":8000", "no host"),
        ("unix:relative.sock", "absolute path"),
        ("[::1]8000", "IPv6"),
        ("", "non-empty"),
        ("fd://3", "file descriptor"),
    ],
)
def test_parse_bind_rejects_what_gunicorn_only_finds_at_boot(bind, message):
    with pytest.raises(ValueError, match=message):
        plan.parse_bind(bind)


@pytest.mark.parametrize(
    "bind, loopback",
    [
        ("127.0.0.1:8000", True),
        ("127.0.1.1:8000", True),
        ("localhost:8000", True),
        ("[::1]:8000", True),
        ("unix:/run/x.sock", True),
        ("0.0.0.0:8000", False),
        ("10.0.0.5:8000", False),
        ("example.com:8000", False),
    ],
)
def test_is_loopback_bind(bind, loopback):
    assert plan.is_loopback_bind(bind) is loopback


@pytest.mark.parametrize(
    "bind, address",
    [
        ("0.0.0.0:8000", ("tcp", "127.0.0.1", 8000)),
        ("[::]:8000", ("tcp", "::1", 8000)),
        ("localhost:8000", ("tcp", "127.0.0.1", 8000)),
        ("127.0.0.2:8000", ("tcp", "127.0.0.2", 8000)),
        ("unix:/run/a.sock", ("unix", "/run/a.sock")),
    ],
)
def test_probe_address_reaches_wildcards_through_loopback(bind, address):
    assert plan.probe_address(bind) == address


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
    if problem is None:
        assert result is None
    else:
        assert problem in result


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
    ],
)
def test_prune_history_keeps_the_newest(entries, keep, deleted):
    assert plan.prune_history(entries, keep) == deleted


@pytest.mark.parametrize(
    "text, enabled",
    [
        ("preload_app = True\n", True),
        ("x = 1\npreload_app = True\n", True),
        ("preload_app = False\n", False),
        ("# preload_app = True\n", False),
        ("", False),
        (None, False),
    ],
)
def test_preload_enabled(text, enabled):
    assert plan.preload_enabled(text) is enabled


def test_checksum_of_missing_file_is_none():
    assert plan.checksum(None) is None
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
    assert summary.startswith("Release FAILED at step 'canary': boom")
    assert expected in summary


@pytest.mark.parametrize(
    "config, binds",
    [
        ("workers = 3\nbind = ['127.0.0.1:8000']\n", ["127.0.0.1:8000"]),
        ("bind = '127.0.0.1:8000'\n", ["127.0.0.1:8000"]),
        ("bind = ['unix:/run/a.sock', '[::1]:8000']\n", ["unix:/run/a.sock", "[::1]:8000"]),
        ("bind = make_binds()\n", []),
        ("workers = 3\n", []),
        (None, []),
    ],
)
def test_rendered_binds(config, binds):
    assert plan.rendered_binds(config) == binds


@pytest.mark.parametrize(
    "config, workers",
    [
        ("bind = ['127.0.0.1:8000']\nworkers = 3\n", 3),
        ("workers = 12\nthreads = 4\n", 12),
        ("workers = auto_size()\n", None),
        ("", None),
        (None, None),
    ],
)
def test_rendered_workers(config, workers):
    assert plan.rendered_workers(config) == workers


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


PREVIOUS = _sums("old")
CANDIDATE = _sums("new")


@pytest.mark.parametrize(
    "pending_extra, live, active, live_config, previous_config, expected",
    [
        # nothing went live: keep the previous files, gate what runs
        ({}, PREVIOUS, True, CONFIG, CONFIG, (plan.RECOVER_KEEP_PREVIOUS, plan.ACTION_NONE)),
        ({"applied": True}, PREVIOUS, True, CONFIG, CONFIG, (plan.RECOVER_KEEP_PREVIOUS, plan.ACTION_NONE)),
        # promoted, maybe not reloaded yet: reload again (config only), restart (environment)
        ({}, CANDIDATE, True, CONFIG, CONFIG, (plan.RECOVER_APPLY, plan.ACTION_RELOAD)),
        ({}, CANDIDATE, True, CONFIG_PRELOAD, CONFIG, (plan.RECOVER_APPLY, plan.ACTION_RESTART)),
        ({}, CANDIDATE, True, CONFIG, CONFIG_PRELOAD, (plan.RECOVER_APPLY, plan.ACTION_RESTART)),
        ({}, CANDIDATE, True, CONFIG, None, (plan.RECOVER_APPLY, plan.ACTION_RELOAD)),
        ({"candidate": _sums("new", "env2")}, _sums("new", "env2"), True, CONFIG, CONFIG,
         (plan.RECOVER_APPLY, plan.ACTION_RESTART)),
        # applied before the interruption: gate it as it runs
        ({"applied": True}, CANDIDATE, True, CONFIG, CONFIG, (plan.RECOVER_VERIFY, plan.ACTION_NONE)),
        # half promoted, or the service is down: restore last-known-good
        ({}, _sums("new", "other"), True, CONFIG, CONFIG, (plan.RECOVER_RESTORE, plan.ACTION_RESTART)),
        ({"applied": True}, CANDIDATE, False, CONFIG, CONFIG, (plan.RECOVER_RESTORE, plan.ACTION_RESTART)),
        ({}, PREVIOUS, False, CONFIG, CONFIG, (plan.RECOVER_RESTORE, plan.ACTION_RESTART)),
    ],
)
def test_recovery_plan(pending_extra, live, active, live_config, previous_config, expected):
    pending = dict({"release_id": "r", "previous": PREVIOUS, "candidate": CANDIDATE}, **pending_extra)
    assert plan.recovery_plan(pending, live, active, live_config, previous_config) == expected
