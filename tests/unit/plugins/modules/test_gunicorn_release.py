"""gunicorn_release's own logic: the release it builds from its options, and check mode's diff."""
from __future__ import annotations

import hashlib

import pytest

from ansible_collections.djangoops.gunicorn.plugins.module_utils import layout
from ansible_collections.djangoops.gunicorn.plugins.module_utils.release.store import Store
from ansible_collections.djangoops.gunicorn.plugins.modules import gunicorn_release

NAMES = layout.app_layout("mysite")
PARAMS = {"app_name": "mysite", "app_env": "A=1\n", "secret_env": "S=1\n",
          "units": {"service": "[Service]\n", "socket": "", "canary": "[Service]\n"},
          "config": {"settings": {"wsgi_app": "mysite.wsgi:application", "bind": "127.0.0.1:8000", "workers": 3},
                     "extra_settings": {"forwarded_allow_ips": "*"}, "python": "", "header": "# managed"}}


class Refused(Exception):
    pass


def refuse(message, option):
    raise Refused(option, message)


def test_the_release_renders_the_config_from_its_settings():
    files, spec = gunicorn_release.desired_release(PARAMS, NAMES, refuse)
    assert files["config"].startswith("# managed\n# Gunicorn settings of the Django app \"mysite\".\n")
    assert "workers = 3\n" in files["config"] and "forwarded_allow_ips = '*'\n" in files["config"]
    assert "control_socket = '/run/gunicorn-mysite/gunicorn.ctl'\n" in files["config"]
    assert spec["settings"]["bind"] == ["127.0.0.1:8000"] and files["secret_env"] == "S=1\n"


@pytest.mark.parametrize("settings, option_text", [
    ({"bind": "127.0.0.1:8000"}, "config.settings.wsgi_app is required"),
    ({"wsgi_app": "a:b", "bind": "x:1", "workers": "many"}, "config.settings.workers must be an integer"),
])
def test_bad_settings_are_refused_naming_the_option(settings, option_text):
    params = dict(PARAMS, config=dict(PARAMS["config"], settings=settings))
    with pytest.raises(Refused) as refused:
        gunicorn_release.desired_release(params, NAMES, refuse)
    assert refused.value.args[0] == "config.settings"
    assert refused.value.args[1].startswith(option_text)


def test_check_mode_diff_shows_config_and_unit_but_never_secrets(tmp_path):
    live = {"config": "workers = 2\n", "unit": "[Service]\n", "secret_env": "S=old-secret\n"}
    desired = {"config": "workers = 3\n", "unit": "[Service]\nUser=x\n", "secret_env": "S=new-secret\n"}
    paths = {"config": "/etc/gunicorn/mysite/gunicorn.conf.py", "unit": "/etc/systemd/system/gunicorn-mysite.service",
             "secret_env": "/etc/gunicorn/mysite/secret.env"}
    diffs = gunicorn_release.file_diffs(live, desired, ["config", "secret_env", "unit"], paths,
                                        Store(str(tmp_path), "root").checksums)
    assert [(diff["before"], diff["after"]) for diff in diffs][0] == ("workers = 2\n", "workers = 3\n")
    assert diffs[2]["after"] == "[Service]\nUser=x\n" and diffs[2]["after_header"] == paths["unit"]
    assert "secret" not in (diffs[1]["before"] + diffs[1]["after"]).replace("(secret content", "")
    # Finding 11: only a keyed checksum of the secrets, never their plain sha256 (a weak secret
    # could be confirmed offline from it).
    shown = diffs[1]["before"] + diffs[1]["after"]
    assert hashlib.sha256(b"S=old-secret\n").hexdigest() not in shown
    assert hashlib.sha256(b"S=new-secret\n").hexdigest() not in shown
    assert shown.count("hmac-sha256:") == 2
