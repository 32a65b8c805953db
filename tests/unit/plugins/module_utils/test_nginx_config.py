# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Nginx's configuration as nginx -T prints it: the routes to a Gunicorn bind and their read timeouts."""

from __future__ import annotations

import pytest

from ansible_collections.djangoops.gunicorn.plugins.module_utils.nginx_config import (
    NginxConfigError, normalize_address, routes, routes_to, seconds, tokens,
)

# What `nginx -T` prints on Debian 12 (shortened): the main file, then each included file.
DUMP = """\
# configuration file /etc/nginx/nginx.conf:
user www-data;
events { worker_connections 768; }
http {
    proxy_read_timeout 45s;   # every proxy of this http block
    include /etc/nginx/conf.d/*.conf;
    include /etc/nginx/sites-enabled/*;
}

# configuration file /etc/nginx/conf.d/upstreams.conf:
upstream mysite_socket { server unix:/run/gunicorn-mysite/app.sock fail_timeout=0; }

# configuration file /etc/nginx/sites-enabled/mysite:
server {
    listen 80;
    server_name www.example.test "quoted.example.test";
    location / {
        proxy_pass http://127.0.0.1:8000;
    }
    location /slow/ {
        proxy_read_timeout 2m;
        proxy_pass http://localhost:8000/slow/;
    }
    location /static/ { root /srv/mysite; }
}
server {
    listen 8080;
    proxy_read_timeout 20;
    location / { proxy_pass http://mysite_socket; }
    location /direct { proxy_pass http://unix:/run/gunicorn-mysite/app.sock:/direct; }
}
"""


def test_routes_and_inherited_timeouts():
    found = dict(((r["listen"], r["location"]), r) for r in routes(DUMP))
    assert found[("80", "/")]["read_timeout"] == 45.0
    assert found[("80", "/slow/")]["read_timeout"] == 120.0
    assert found[("80", "/")]["server_name"] == "www.example.test quoted.example.test"
    assert found[("8080", "/")]["targets"] == ["unix:/run/gunicorn-mysite/app.sock"]
    assert found[("8080", "/direct")]["read_timeout"] == 20.0
    assert ("80", "/static/") not in found


@pytest.mark.parametrize("bind, locations", [
    pytest.param("127.0.0.1:8000", ["/", "/slow/"], id="tcp"),
    pytest.param("localhost:8000", ["/", "/slow/"], id="localhost"),
    pytest.param("unix:/run/gunicorn-mysite/app.sock", ["/", "/direct"], id="unix-through-upstream"),
    pytest.param("127.0.0.1:9000", [], id="not-proxied"),
])
def test_routes_to_a_bind(bind, locations):
    assert sorted(r["location"] for r in routes_to(DUMP, bind)) == sorted(locations)


def test_nginx_default_when_nothing_is_set():
    dump = "# configuration file /etc/nginx/nginx.conf:\nhttp { server { location / { proxy_pass http://127.0.0.1:8000; } } }\n"
    assert [r["read_timeout"] for r in routes_to(dump, "127.0.0.1:8000")] == [60.0]


def test_nested_locations_inherit():
    dump = ("# configuration file /etc/nginx/nginx.conf:\nhttp { server { location / { proxy_read_timeout 10s; "
            "location /api/ { proxy_pass http://127.0.0.1:8000; } } } }\n")
    assert [(r["location"], r["read_timeout"]) for r in routes(dump)] == [("/ /api/", 10.0)]


@pytest.mark.parametrize("text, value", [("90", 90), ("60s", 60), ("1m30s", 90), ("500ms", 0.5), ("1h", 3600)])
def test_seconds(text, value):
    assert seconds(text) == value


@pytest.mark.parametrize("text", ["", "soon", "10x"])
def test_seconds_refuses(text):
    with pytest.raises(NginxConfigError):
        seconds(text)


def test_not_nginx_t_output():
    with pytest.raises(NginxConfigError, match="nginx -T"):
        routes("http { }")


@pytest.mark.parametrize("address, normal", [
    ("http://127.0.0.1:8000/", "127.0.0.1:8000"), ("127.0.0.1:8000", "127.0.0.1:8000"),
    ("http://unix:/run/a.sock:/x", "unix:/run/a.sock"), ("unix:/run/a.sock", "unix:/run/a.sock"),
    ("http://backend", "backend:80"), ("[::1]:8000", "[::1]:8000"),
])
def test_normalize_address(address, normal):
    assert normalize_address(address) == normal


def test_tokens_drop_comments_and_keep_quotes():
    assert tokens('a "b c";# d\n{ e\\;f }') == ["a", "b c", ";", "{", "e\\;f", "}"]
