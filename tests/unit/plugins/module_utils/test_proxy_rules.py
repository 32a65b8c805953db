# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Preflight rules on the proxy's real configuration (gunicorn_django_proxy), and their filter."""

from __future__ import annotations

import pytest

from ansible_collections.djangoops.gunicorn.plugins.filter.preflight import gunicorn_proxy_preflight
from ansible_collections.djangoops.gunicorn.plugins.module_utils.proxy_rules import proxy_check


def _routes(*timeouts):
    return {"changed": False, "read_timeout": int(min(timeouts)) if timeouts else None,
            "routes": [{"listen": "80", "location": "/%d" % i, "read_timeout": float(t)}
                       for i, t in enumerate(timeouts)]}


@pytest.mark.parametrize("proxy, result, timeout, variables, text", [
    pytest.param("", {"skipped": True}, 30, [], None, id="no-proxy"),
    pytest.param("nginx", _routes(60), 30, [], None, id="default-60-fits"),
    pytest.param("nginx", _routes(60, 20), 30, ["gunicorn_django_timeout"], "20 s at server 80 location /1",
                 id="one-location-too-short"),
    pytest.param("nginx", _routes(30), 30, ["gunicorn_django_timeout"], "must exceed gunicorn_django_timeout (30)",
                 id="equal-is-too-short"),
    pytest.param("nginx", _routes(), 30, ["gunicorn_django_proxy"], "no location of nginx -T proxies to",
                 id="no-route"),
    pytest.param("nginx", {"failed": True, "msg": "nginx -T failed (rc=1):\n  emerg"}, 30, ["gunicorn_django_proxy"],
                 "could not be read: nginx -T failed (rc=1): emerg", id="unreadable"),
    pytest.param("nginx", {"skipped": True}, 30, ["gunicorn_django_proxy"], "could not be read", id="skipped"),
    pytest.param("caddy", {}, 30, ["gunicorn_django_proxy"], "one of: nginx", id="unknown-proxy"),
    pytest.param("nginx", _routes(60), "not a number", [], None, id="timeout-left-to-rules"),
])
def test_proxy_check(proxy, result, timeout, variables, text):
    checked = proxy_check(proxy, result, "127.0.0.1:8000", timeout)
    assert [p.variable for p in checked["problems"]] == variables
    if text:
        assert text in checked["problems"][0].message


def test_filter_returns_plain_problems():
    checked = gunicorn_proxy_preflight(_routes(10), "nginx", "127.0.0.1:8000", "30")
    assert checked["read_timeout"] == 10
    assert checked["problems"][0]["variable"] == "gunicorn_django_timeout"
