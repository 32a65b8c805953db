"""Unit tests of the one gunicorn.conf.py reader."""
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
