"""Unit tests of the filters behind the role's preflight checks."""
import pytest

from ansible.errors import AnsibleFilterError

from ansible_collections.djangoops.gunicorn.plugins.filter.config_python_overrides import config_python_overrides
from ansible_collections.djangoops.gunicorn.plugins.filter.env_problems import env_problems
from ansible_collections.djangoops.gunicorn.plugins.filter.path_within import path_within

MANAGED = ["bind", "workers", "user", "accesslog"]


@pytest.mark.parametrize(
    "code, found",
    [
        ("", []),
        (None, []),
        ('bind.append("0.0.0.0:8001")\n', ["line 1: bind is changed with .append()"]),
        ('bind.extend(["0.0.0.0:8001"])\n', ["line 1: bind is changed with .extend()"]),
        ("bind[0] = '0.0.0.0:8001'\n", ["line 1: bind is assigned"]),
        ("workers = 50\n", ["line 1: workers is assigned"]),
        ("workers += 1\n", ["line 1: workers is assigned"]),
        ("workers: int = 5\n", ["line 1: workers is assigned"]),
        ("user, group = 'root', 'root'\n", ["line 1: user is assigned"]),
        ("del accesslog\n", ["line 1: accesslog is deleted"]),
        ("from os import sep as bind\n", ["line 1: bind is imported over"]),
        ("import user\n", ["line 1: user is imported over"]),
        ("for workers in range(3):\n    pass\n", ["line 1: workers is assigned by a for loop"]),
        ("with open('/dev/null') as user:\n    pass\n", ["line 1: user is assigned by with ... as"]),
        ("import os\nif os.environ.get('X'):\n    workers = 4\n", ["line 3: workers is assigned"]),
        ("try:\n    pass\nfinally:\n    bind = []\n", ["line 4: bind is assigned"]),
        # Hooks, comprehensions and reading a managed setting are fine.
        ("def post_fork(server, worker):\n    workers = 1\n    bind = []\n", []),
        ("class Hooks:\n    bind = []\n", []),
        ("names = [workers for workers in range(3)]\n", []),
        ("threads = workers * 2\n", []),
        ("print(bind)\n", []),
        ("raw_env = ['A=1']\n", []),
        # What the controller cannot parse is left to gunicorn --check-config.
        ("def broken(:\n", []),
        ("bind = 1\nworkers = 2\n", ["line 1: bind is assigned", "line 2: workers is assigned"]),
    ],
)
def test_config_python_overrides(code, found):
    assert config_python_overrides(code, MANAGED) == found


def test_config_python_overrides_needs_a_string():
    with pytest.raises(AnsibleFilterError):
        config_python_overrides(["bind = 1"], MANAGED)


@pytest.mark.parametrize(
    "env, problems",
    [
        ({}, []),
        ({"DJANGO_DEBUG": "0", "_X1": 1, "ON": True, "RATIO": 0.5, "EMPTY": ""}, []),
        ({"MY VAR": "x"}, ['"MY VAR" is not a valid environment variable name']),
        ({"1ST": "x"}, ['"1ST" is not a valid environment variable name']),
        ({"A-B": "x"}, ['"A-B" is not a valid environment variable name']),
        ({"A\nB": "x"}, ['"A\\nB" is not a valid environment variable name']),
        ({1: "x"}, ['"1" is not a valid environment variable name']),
        ({"HOSTS": "a\nDJANGO_DEBUG=1"}, ['the value of "HOSTS" contains a control character']),
        ({"TAB": "a\tb"}, ['the value of "TAB" contains a control character']),
        ({"DEL": "a\x7f"}, ['the value of "DEL" contains a control character']),
        ({"NONE": None}, ['the value of "NONE" must be a string, a number or a boolean (got null)']),
        ({"LIST": [1]}, ['the value of "LIST" must be a string, a number or a boolean (got list)']),
        ({"DICT": {"a": 1}}, ['the value of "DICT" must be a string, a number or a boolean (got dict)']),
    ],
)
def test_env_problems(env, problems):
    found = env_problems(env)
    assert len(found) == len(problems)
    for text, expected in zip(found, problems):
        assert text.startswith(expected)


def test_env_problems_never_show_a_value():
    secret = "s3cr3t\nvalue"
    for text in env_problems({"DJANGO_SECRET_KEY": secret, "BAD NAME": secret, "LIST": [secret]}):
        assert "s3cr3t" not in text and "value\n" not in text


def test_env_problems_needs_a_mapping():
    with pytest.raises(AnsibleFilterError):
        env_problems("A=1")


@pytest.mark.parametrize(
    "path, directories, within",
    [
        ("/var/log/mysite/access.log", ["/var/log/mysite"], True),
        ("/var/log/mysite/access.log", ["/var/log/mysite/"], True),
        ("/var/log/mysite", ["/var/log/mysite"], True),
        ("/var/log/mysite/access.log", ["-/var/log/mysite"], True),
        ("/var/log/mysite/access.log", ["/srv", "+/var/log"], True),
        ("//var/log/mysite/a.log", ["/var/log"], True),
        ("/anything", ["/"], True),
        ("/var/log/mysite-access.log", ["/var/log/mysite"], False),
        ("/var/log/mysite/../../../etc/passwd", ["/var/log/mysite"], False),
        ("/var/log/gunicorn-mysite-access.log", ["/var/lib/mysite"], False),
        ("/var/log/x.log", [], False),
        ("/var/log/x.log", None, False),
        ("var/log/x.log", ["/var/log"], False),
        ("-/var/log/x.log", ["/var/log"], False),
        ("/var/log/x.log", ["var/log"], False),
        (None, ["/var/log"], False),
    ],
)
def test_path_within(path, directories, within):
    assert path_within(path, directories) is within
