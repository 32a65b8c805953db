"""Unit tests of the one gunicorn.conf.py reader."""
import json
import os

import pytest

from ansible_collections.djangoops.gunicorn.plugins.module_utils import gunicorn_config


@pytest.mark.parametrize(
    "source, names, settings, not_literal",
    [
        ("workers = 3\nbind = '127.0.0.1:8000'\n", None, {"workers": 3, "bind": ["127.0.0.1:8000"]}, []),
        ("workers = 3\nworkers = 4\n", None, {"workers": 4}, []),
        ("import os\nworkers = int(os.environ['W'])\n", None, {}, ["workers"]),
        ("workers = int('2')\nworkers = 5\n", None, {"workers": 5}, []),
        ("workers = 5\nworkers = 2 * 2\n", None, {}, ["workers"]),
        ("workers: int = 3\n", None, {"workers": 3}, []),
        ("workers = 3\ntimeout = 30\n", ["timeout"], {"timeout": 30}, []),
        ("def post_fork(server, worker):\n    workers = 9\n", None, {}, []),
        ("workers = (\n", None, {}, ["<syntax error>"]),
        ("", None, {}, []),
        (None, None, {}, []),
    ],
)
def test_read_literals(source, names, settings, not_literal):
    assert gunicorn_config.read_literals(source, names) == (settings, not_literal)


FIXTURES = os.path.join(os.path.dirname(__file__), "fixtures", "gunicorn_conf")
CASES = sorted(name[:-len(".json")] for name in os.listdir(FIXTURES) if name.endswith(".json"))


@pytest.mark.parametrize("case", CASES)
def test_render_is_byte_for_byte_what_the_role_template_rendered(case):
    """The fixtures are what roles/gunicorn_django/templates/gunicorn.conf.py.j2 rendered through
    ansible's template lookup (ansible-core 2.21) for the same inputs, before render() replaced it:
    a host deployed by that version sees no change, hence no restart, on upgrade."""
    from ansible_collections.djangoops.gunicorn.plugins.module_utils import layout

    with open(os.path.join(FIXTURES, case + ".json"), encoding="utf-8") as handle:
        spec = json.load(handle)
    with open(os.path.join(FIXTURES, case + ".rendered"), encoding="utf-8") as handle:
        expected = handle.read()
    names = layout.app_layout(spec["app_name"], spec["layout"]["config_dir"], spec["layout"]["state_dir"])
    settings = gunicorn_config.effective_settings(spec["settings"], names["proc_name"], names["control_socket"])
    rendered = gunicorn_config.render(spec["app_name"], settings, spec["extra_settings"], spec["python"],
                                      spec["header"])
    assert rendered == expected
    # The reader gets the structured settings back from the rendered text.
    assert gunicorn_config.read_literals(rendered, gunicorn_config.RENDERED_SETTINGS)[0] == settings


@pytest.mark.parametrize("given, message", [
    ({"bind": "127.0.0.1:8000"}, "settings.wsgi_app is required"),
    ({"wsgi_app": "a:b"}, "settings.bind is required"),
    ({"wsgi_app": "a:b", "bind": "x:1", "workers": "many"}, "settings.workers must be an integer"),
    ({"wsgi_app": "a:b", "bind": "x:1", "workers": True}, "settings.workers must be an integer"),
    ({"wsgi_app": "a:b", "bind": "x:1", "preload_app": "yes"}, "settings.preload_app must be true or false"),
    ({"wsgi_app": "a:b", "bind": "x:1", "loglevel": 3}, "settings.loglevel must be a string"),
    ({"wsgi_app": "a:b", "bind": ["x:1", 8000]}, "settings.bind must be an address"),
    ({"wsgi_app": "a:b", "bind": "x:1", "sendfile": False}, "sendfile is not managed here"),
])
def test_effective_settings_refuse_bad_values_naming_the_setting(given, message):
    with pytest.raises(ValueError, match=message):
        gunicorn_config.effective_settings(given, "gunicorn-a", "/run/gunicorn-a/gunicorn.ctl")


def test_effective_settings_fill_defaults_and_accept_templated_strings():
    settings = gunicorn_config.effective_settings(
        {"wsgi_app": "a:b", "bind": "127.0.0.1:8000", "workers": "3", "preload_app": "False",
         "worker_class": " gthread "}, "gunicorn-a", "/run/gunicorn-a/gunicorn.ctl")
    assert settings["workers"] == 3 and settings["preload_app"] is False and settings["worker_class"] == "gthread"
    assert settings["bind"] == ["127.0.0.1:8000"] and settings["timeout"] == 30
    assert tuple(sorted(settings)) == tuple(sorted(gunicorn_config.RENDERED_SETTINGS))


@pytest.mark.parametrize("source, count", [
    ("workers = 3\n", 1),
    ("if True:\n    workers = 3\n", 1),
    ("workers += 1\n", 1),
    ("for workers in range(2):\n    pass\n", 1),
    ("def post_fork(server, worker):\n    workers = 1\n", 0),
    ("class Hooks:\n    workers = 1\n", 0),
    ("max_workers = 2\nw = workers\n", 0),
    ("(workers := 3)\n", 1),
    ("workers = (\n", -1),
    ("", 0),
])
def test_module_level_assignments(source, count):
    assert gunicorn_config.module_level_assignments(source, "workers") == count


def test_render_takes_the_header_with_or_without_its_last_newline():
    settings = gunicorn_config.effective_settings({"wsgi_app": "a:b", "bind": "127.0.0.1:8000"}, "gunicorn-a",
                                                  "/run/gunicorn-a/gunicorn.ctl")
    assert gunicorn_config.render("a", settings, header="#\n# Ansible managed\n#\n") == gunicorn_config.render(
        "a", settings, header="#\n# Ansible managed\n#")
