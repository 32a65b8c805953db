"""Unit tests of the pure release decisions."""
import itertools

import pytest
from hypothesis import given, strategies as st

from ansible_collections.djangoops.gunicorn.plugins.module_utils import release_plan as plan

CONFIG = "workers = 3\npreload_app = False\n"
CONFIG_PRELOAD = "workers = 3\npreload_app = True\n"
CONFIG_MORE_WORKERS = "workers = 5\npreload_app = False\n"
BIND_IPV4 = "bind = ['127.0.0.1:8000']\n"
BIND_LOCALHOST = "bind = ['localhost:8000']\n"


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
        # A changed bind restarts: a HUP binds the new address before it closes the old one.
        (["config"], True, BIND_IPV4 + CONFIG, BIND_LOCALHOST + CONFIG, plan.ACTION_RESTART),
        (["config"], True, BIND_IPV4 + CONFIG, BIND_IPV4 + CONFIG_MORE_WORKERS, plan.ACTION_SCALE),
        (["config"], True, BIND_IPV4 + CONFIG, BIND_IPV4 + CONFIG_PRELOAD.replace("True", "False") + "timeout = 60\n", plan.ACTION_RELOAD),
        (["config"], True, CONFIG, BIND_IPV4 + CONFIG, plan.ACTION_RESTART),
        (["config"], False, BIND_IPV4 + CONFIG, BIND_LOCALHOST + CONFIG, plan.ACTION_START),
        (["socket", "config"], True, BIND_IPV4 + CONFIG, BIND_LOCALHOST + CONFIG, plan.ACTION_RESOCKET),
    ],
)
def test_plan_action_picks_the_cheapest_safe_action(changed, active, live_config, desired_config, action):
    assert plan.plan_action(changed, active, live_config, desired_config)[0] == action


def test_plan_action_says_why_a_bind_change_restarts():
    action, reason = plan.plan_action(["config"], True, BIND_IPV4 + CONFIG, BIND_LOCALHOST + CONFIG)
    assert action == plan.ACTION_RESTART and "bind" in reason


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


RENDERED = ("wsgi_app = 'mysite.wsgi:application'\nbind = ['127.0.0.1:8000']\n\nworkers = {workers}\n"
            "worker_class = 'sync'\nthreads = 1\ntimeout = {timeout}\npreload_app = {preload}\n")


def rendered(workers=3, timeout=30, preload=False):
    return RENDERED.format(workers=workers, timeout=timeout, preload=preload)


@pytest.mark.parametrize(
    "changed, live_config, desired_config, action",
    [
        pytest.param(["config"], rendered(3), rendered(5), plan.ACTION_SCALE, id="more-workers"),
        pytest.param(["config"], rendered(5), rendered(2), plan.ACTION_SCALE, id="fewer-workers"),
        pytest.param(["config"], rendered(3), rendered(4, timeout=40), plan.ACTION_RELOAD, id="workers-and-more"),
        pytest.param(["config"], rendered(3), rendered(3, timeout=40), plan.ACTION_RELOAD, id="no-workers-change"),
        pytest.param(["config", "app_env"], rendered(3), rendered(4), plan.ACTION_RESTART, id="with-environment"),
        pytest.param(["config"], rendered(3, preload=True), rendered(4, preload=True), plan.ACTION_RESTART,
                     id="preload-restarts"),
        pytest.param(["config", "socket"], rendered(3), rendered(4), plan.ACTION_RESOCKET, id="with-socket"),
    ],
)
def test_plan_action_scales_when_only_the_workers_count_changes(changed, live_config, desired_config, action):
    assert plan.plan_action(changed, True, live_config, desired_config)[0] == action


def test_plan_action_scale_says_how():
    action, reason = plan.plan_action(["config"], True, rendered(3), rendered(5))
    assert action == plan.ACTION_SCALE and "3 -> 5" in reason and "2 TTIN" in reason
    action, reason = plan.plan_action(["config"], True, rendered(4), rendered(3))
    assert action == plan.ACTION_SCALE and "1 TTOU" in reason


@pytest.mark.parametrize(
    "live, desired, counts",
    [
        pytest.param(rendered(3), rendered(4), (3, 4), id="up"),
        pytest.param(rendered(4), rendered(1), (4, 1), id="down"),
        pytest.param(rendered(3), rendered(3), None, id="same"),
        pytest.param(rendered(3), rendered(4, timeout=31), None, id="another-line-too"),
        pytest.param(rendered(3), rendered(4) + "\n# hooks\n", None, id="an-added-line"),
        pytest.param(None, rendered(4), None, id="no-live-config"),
        pytest.param(rendered(3), "", None, id="empty-desired"),
        pytest.param("timeout = 30\n", "timeout = 30\n", None, id="no-workers-line"),
        pytest.param(rendered(3) + "workers = 8\n", rendered(4) + "workers = 8\n", None, id="two-workers-lines"),
        pytest.param(rendered(3) + "if True:\n    workers = cpus()\n", rendered(4) + "if True:\n    workers = cpus()\n",
                     None, id="computed-later"),
        pytest.param(rendered(3) + "workers += 1\n", rendered(4) + "workers += 1\n", None, id="augmented-later"),
        pytest.param(rendered(3), rendered(0), None, id="zero-workers"),
        pytest.param(rendered(3) + "max_workers_hint = 2\n", rendered(4) + "max_workers_hint = 2\n", (3, 4),
                     id="other-names-containing-workers"),
    ],
)
def test_workers_only_change(live, desired, counts):
    assert plan.workers_only_change(live, desired) == counts


@given(
    before=st.integers(min_value=1, max_value=64),
    after=st.integers(min_value=1, max_value=64),
    lines=st.lists(st.from_regex(r"[a-v_]{1,12} = [0-9'a-z]{1,8}", fullmatch=True), max_size=8),
    position=st.integers(min_value=0, max_value=8),
)
def test_workers_only_change_property(before, after, lines, position):
    """Only the count differs: scale between exactly those counts; any other edit: never scale."""
    def config(count, extra=()):
        body = list(lines) + list(extra)
        body.insert(min(position, len(body)), "workers = %d" % count)
        return "\n".join(body) + "\n"

    expected = (before, after) if before != after else None
    assert plan.workers_only_change(config(before), config(after)) == expected
    assert plan.workers_only_change(config(before), config(after, ["timeout = 99"])) is None


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
        # a workers-only change interrupted mid-scale: HUP applies the recorded count
        ({}, CANDIDATE, True, CONFIG_MORE_WORKERS, CONFIG, (plan.RECOVER_APPLY, plan.ACTION_RELOAD)),
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
