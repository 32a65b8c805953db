"""gunicorn_release_info on a real state directory written by the release transaction (on a FakeHost)."""
import json

import pytest

from core_compat import patch_module_args
from release_fakes import SOCKET, Harness, config_spec, release_files

from ansible_collections.djangoops.gunicorn.plugins.modules import gunicorn_release_info


def run_module(capsys, **args):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            gunicorn_release_info.main()
    return json.loads(capsys.readouterr().out)


def test_it_lists_the_releases_and_which_are_kept(tmp_path, capsys):
    app = Harness(tmp_path)
    for rev in ("v1", "v2"):
        spec = config_spec()
        app.deploy(spec, release_files(spec, socket=SOCKET, revision=rev), rollout_id="rollout-" + rev)
    result = run_module(capsys, app_name="mysite", state_dir=str(tmp_path / "state"))
    assert not result["changed"]
    assert [(row["revision"], row["kept"]) for row in result["releases"]] == [
        ("v2", "last-known-good"), ("v1", "history")]


def test_an_app_never_released_has_no_releases(tmp_path, capsys):
    result = run_module(capsys, app_name="mysite", state_dir=str(tmp_path))
    assert result["releases"] == [] and "no release yet" in result["msg"]


@pytest.mark.parametrize("args, says", [
    ({"app_name": "My Site"}, "must match"),
    ({"app_name": "mysite", "limit": 0}, "limit must be from 1 to 50"),
])
def test_bad_options_are_refused(tmp_path, capsys, args, says):
    result = run_module(capsys, state_dir=str(tmp_path), **args)
    assert result["failed"] and says in result["msg"]
