"""Unit tests of the names of an app on a host (plugins/module_utils/layout.py)."""
import pytest

from ansible_collections.djangoops.gunicorn.plugins.module_utils import layout


def test_default_layout_names_everything_the_role_documents():
    names = layout.app_layout("mysite")
    assert names["unit"] == "gunicorn-mysite.service"
    assert names["socket_unit"] == "gunicorn-mysite.socket"
    assert names["canary_unit"] == "gunicorn-mysite-canary.service"
    assert names["unit_file"] == "/etc/systemd/system/gunicorn-mysite.service"
    assert names["socket_file"] == "/etc/systemd/system/gunicorn-mysite.socket"
    assert names["config_file"] == "/etc/gunicorn/mysite/gunicorn.conf.py"
    assert names["app_env_file"] == "/etc/gunicorn/mysite/app.env"
    assert names["secret_env_file"] == "/etc/gunicorn/mysite/secret.env"
    assert names["app_state_dir"] == "/var/lib/gunicorn/mysite"
    assert names["candidate_dir"] == "/var/lib/gunicorn/mysite/candidate"
    assert names["control_socket"] == "/run/gunicorn-mysite/gunicorn.ctl"
    assert names["canary_socket"] == "/run/gunicorn-mysite-canary/canary.sock"
    assert names["canary_control_socket"] == "/run/gunicorn-mysite-canary/gunicorn.ctl"
    assert names["proc_name"] == "gunicorn-mysite"


def test_base_directories_are_normalised():
    names = layout.app_layout("shop", "/opt/etc/gunicorn/", "/srv/state//", "/run/systemd/system")
    assert names["config_file"] == "/opt/etc/gunicorn/shop/gunicorn.conf.py"
    assert names["app_state_dir"] == "/srv/state/shop"
    assert names["unit_file"] == "/run/systemd/system/gunicorn-shop.service"


def test_two_apps_share_no_name():
    first, second = layout.app_layout("shop"), layout.app_layout("blog")
    shared = {key for key in first if key not in ("config_dir", "state_dir") and first[key] == second[key]}
    assert shared == set()


@pytest.mark.parametrize("name", ["", "MySite", "1site", "my site", "my/site", "a" * 49, None, 3])
def test_bad_app_names_are_refused(name):
    with pytest.raises(ValueError, match="app name"):
        layout.app_layout(name)


@pytest.mark.parametrize("name", ["a", "my-site", "my_site2", "a" * 48])
def test_good_app_names(name):
    assert layout.app_layout(name)["unit"] == "gunicorn-%s.service" % name


@pytest.mark.parametrize("option", ["config_dir", "state_dir", "systemd_dir"])
def test_relative_directories_are_refused(option):
    with pytest.raises(ValueError, match=option):
        layout.app_layout("mysite", **{option: "relative/dir"})
