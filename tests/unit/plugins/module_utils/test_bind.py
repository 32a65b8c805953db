"""Unit tests of the one bind parser (plugins/module_utils/bind.py)."""
import pytest
from hypothesis import given, strategies as st

from ansible_collections.djangoops.gunicorn.plugins.module_utils import bind


@pytest.mark.parametrize(
    "text, kind, host, port, path",
    [
        ("127.0.0.1:8000", "tcp", "127.0.0.1", 8000, None),
        ("localhost:80", "tcp", "localhost", 80, None),
        ("[::1]:8000", "tcp", "::1", 8000, None),
        ("0.0.0.0:8000", "tcp", "0.0.0.0", 8000, None),
        (" 127.0.0.1:8000 ", "tcp", "127.0.0.1", 8000, None),
        ("unix:/run/mysite/gunicorn.sock", "unix", None, None, "/run/mysite/gunicorn.sock"),
    ],
)
def test_parse(text, kind, host, port, path):
    assert bind.parse(text) == bind.Address(kind, host, port, path)


@pytest.mark.parametrize(
    "text, message",
    [
        ("127.0.0.1:notaport", "not a number"),
        ("127.0.0.1:0", "not a number"),
        ("127.0.0.1:65536", "not a number"),
        ("127.0.0.1:123456", "not a number"),
        ("127.0.0.1:-1", "not a number"),
        ("127.0.0.1", "no port"),
        (":8000", "no host"),
        ("unix:relative.sock", "absolute path"),
        ("unix:/run/my app.sock", "white space"),
        ("my host:8000", "white space"),
        ("[::1]8000", "IPv6"),
        ("", "non-empty"),
        (None, "non-empty"),
        (8000, "non-empty"),
        ("fd://3", "file descriptor"),
    ],
)
def test_parse_rejects_what_gunicorn_only_finds_at_boot(text, message):
    with pytest.raises(ValueError, match=message):
        bind.parse(text)


@pytest.mark.parametrize(
    "text, loopback, ip_literal",
    [
        ("127.0.0.1:8000", True, True),
        ("127.0.1.1:8000", True, True),
        ("localhost:8000", True, False),
        ("[::1]:8000", True, True),
        ("unix:/run/x.sock", True, True),
        ("0.0.0.0:8000", False, True),
        ("[::]:8000", False, True),
        ("10.0.0.5:8000", False, True),
        ("example.com:8000", False, False),
    ],
)
def test_loopback_and_ip_literal(text, loopback, ip_literal):
    address = bind.parse(text)
    assert bind.is_loopback(address) is loopback
    assert bind.is_ip_literal(address) is ip_literal


@pytest.mark.parametrize(
    "text, listen_stream, url",
    [
        ("127.0.0.1:8000", "127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("0.0.0.0:8000", "0.0.0.0:8000", "http://127.0.0.1:8000"),
        ("[::]:8000", "[::]:8000", "http://[::1]:8000"),
        ("[::1]:8001", "[::1]:8001", "http://[::1]:8001"),
        ("localhost:8000", "localhost:8000", "http://127.0.0.1:8000"),
        ("unix:/run/a.sock", "/run/a.sock", None),
    ],
)
def test_listen_stream_and_url(text, listen_stream, url):
    address = bind.parse(text)
    assert bind.listen_stream(address) == listen_stream
    if url is None:
        with pytest.raises(ValueError, match="unix socket"):
            bind.url(address)
    else:
        assert bind.url(address) == url


@pytest.mark.parametrize(
    "text, host",
    [
        ("0.0.0.0:8000", "127.0.0.1"),
        ("[::]:8000", "::1"),
        ("localhost:8000", "127.0.0.1"),
        ("127.0.0.2:8000", "127.0.0.2"),
    ],
)
def test_probe_host_reaches_wildcards_through_loopback(text, host):
    assert bind.probe_host(bind.parse(text)) == host


def test_describe_gives_the_facts_templates_need():
    assert bind.describe("unix:/run/mysite/gunicorn.sock") == {
        "kind": "unix", "host": None, "port": None, "path": "/run/mysite/gunicorn.sock",
        "address": "unix:/run/mysite/gunicorn.sock", "loopback": True, "ip_literal": True,
        "listen_stream": "/run/mysite/gunicorn.sock", "url": None,
    }
    assert bind.describe("[::]:8000")["url"] == "http://[::1]:8000"


@given(st.ip_addresses(), st.integers(min_value=1, max_value=65535))
def test_str_round_trips_every_ip_bind(ip, port):
    text = ("[%s]:%d" if ip.version == 6 else "%s:%d") % (ip, port)
    address = bind.parse(text)
    assert bind.parse(str(address)) == address
    assert bind.is_loopback(address) is ip.is_loopback


@pytest.mark.parametrize(
    "text, live_binds, held",
    [
        # The live master holds the port on a clashing address: a restart frees it.
        ("localhost:8000", ["127.0.0.1:8000"], True),
        ("127.0.0.1:8000", ["localhost:8000"], True),
        ("[::1]:8000", ["localhost:8000"], True),
        ("127.0.0.1:8000", ["0.0.0.0:8000"], True),
        ("0.0.0.0:8000", ["127.0.0.1:8000"], True),
        ("[::]:8000", ["127.0.0.1:8000"], True),
        ("127.0.0.1:8000", ["[::]:8000"], True),
        ("app.internal:8000", ["127.0.0.1:8000"], True),
        ("127.0.0.1:8000", ["unix:/run/x.sock", "127.0.0.1:8000"], True),
        # Another port, another address or no live TCP listener: someone else holds it.
        ("localhost:8001", ["127.0.0.1:8000"], False),
        ("10.0.0.5:8000", ["127.0.0.1:8000"], False),
        ("[::1]:8000", ["127.0.0.1:8000"], False),
        ("0.0.0.0:8000", ["[::1]:8000"], False),
        ("127.0.0.1:8000", [], False),
        ("127.0.0.1:8000", None, False),
        ("127.0.0.1:8000", ["unix:/run/x.sock"], False),
        ("127.0.0.1:8000", ["127.0.0.1:notaport"], False),
        ("unix:/run/x.sock", ["unix:/run/x.sock"], False),
    ],
)
def test_held_by(text, live_binds, held):
    assert bind.held_by(bind.parse(text), live_binds) is held


@pytest.mark.parametrize(
    "first, second, clash",
    [
        ("127.0.0.1", "127.0.0.1", True),
        ("127.0.0.1", "127.0.0.2", False),
        ("localhost", "::1", True),
        ("0.0.0.0", "192.0.2.1", True),
        ("0.0.0.0", "::1", False),
        ("::", "192.0.2.1", True),
        ("example.org", "127.0.0.1", True),
    ],
)
def test_hosts_clash_is_symmetric(first, second, clash):
    for pair in ((first, second), (second, first)):
        assert bind.hosts_clash(*pair) is clash
