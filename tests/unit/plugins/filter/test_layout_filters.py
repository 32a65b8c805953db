"""The gunicorn_layout and gunicorn_bind filters expose module_utils with operator-facing errors."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.djangoops.gunicorn.plugins.filter.layout import FilterModule

FILTERS = FilterModule().filters()


def test_layout_filter_passes_the_base_directories():
    names = FILTERS["gunicorn_layout"]("mysite", "/etc/g", "/var/g", "/etc/systemd/system")
    assert names["config_file"] == "/etc/g/mysite/gunicorn.conf.py"
    assert names["app_state_dir"] == "/var/g/mysite"


def test_layout_filter_names_the_problem():
    with pytest.raises(AnsibleFilterError, match="gunicorn_layout: app name 'My Site'"):
        FILTERS["gunicorn_layout"]("My Site")


def test_bind_filter():
    assert FILTERS["gunicorn_bind"]("unix:/run/shop/gunicorn.sock")["listen_stream"] == "/run/shop/gunicorn.sock"
    assert FILTERS["gunicorn_bind"]("0.0.0.0:8000")["loopback"] is False


@pytest.mark.parametrize("value", [None, "", "127.0.0.1:notaport"])
def test_bind_filter_names_the_problem(value):
    with pytest.raises(AnsibleFilterError, match="gunicorn_bind: "):
        FILTERS["gunicorn_bind"](value)
