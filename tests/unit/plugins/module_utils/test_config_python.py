# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which managed settings raw config Python changes at module level (plugins/module_utils/config_python.py)."""
import pytest

from ansible_collections.djangoops.gunicorn.plugins.module_utils.config_python import managed_changes

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
def test_managed_changes(code, found):
    assert managed_changes(code, MANAGED) == found
