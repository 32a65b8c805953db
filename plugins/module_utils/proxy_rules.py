# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Preflight rules on the proxy's real configuration (gunicorn_django_proxy): what
gunicorn_nginx_routes read on the host -> the read timeout the timeout rule of rules.py checks, and the
problems of the proxy itself. Pure, standard library only."""

from __future__ import annotations

from collections import namedtuple

# The same shape as rules.Problem.
Problem = namedtuple("Problem", "variable message")
PROXIES = ("", "nginx")


def _seconds(value):
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        return None


def proxy_check(proxy, routes_result, bind, timeout):
    """{'read_timeout': the proxy's shortest read timeout towards the bind (None without a proxy),
    'problems': [Problem], 'routes': [...]}.

    With nginx named: the configuration must be readable, at least one location must reach the bind,
    and every such location's proxy_read_timeout must exceed gunicorn_django_timeout (users get 504s
    from the proxy while workers are still busy otherwise). A timeout that is not a number is left to
    the rules of rules.py."""
    empty = {"read_timeout": None, "routes": [], "problems": []}
    if not proxy:
        return empty
    if proxy not in PROXIES:
        return dict(empty, problems=[Problem("gunicorn_django_proxy",
                                             "gunicorn_django_proxy must be one of: nginx (or empty).")])
    result = routes_result if isinstance(routes_result, dict) else {}
    if result.get("failed") or result.get("skipped") or "routes" not in result:
        return dict(empty, problems=[Problem(
            "gunicorn_django_proxy", "gunicorn_django_proxy is nginx but its configuration could not be read: %s"
            % " ".join(str(result.get("msg") or "no result").split()))])
    routes = list(result.get("routes") or [])
    if not routes:
        return dict(empty, problems=[Problem(
            "gunicorn_django_proxy", "gunicorn_django_proxy is nginx but no location of nginx -T proxies to "
            "gunicorn_django_bind (%s): fix the proxy_pass, or the bind." % bind)])
    problems = []
    worker_timeout = _seconds(timeout)
    short = [route for route in routes if worker_timeout is not None and route["read_timeout"] <= worker_timeout]
    if short:
        problems.append(Problem("gunicorn_django_timeout", (
            "nginx's proxy_read_timeout must exceed gunicorn_django_timeout (%d), or users get 504s from the proxy "
            "while workers are still busy: %s. Raise proxy_read_timeout there (nginx's default is 60 s), or lower "
            "gunicorn_django_timeout." % (worker_timeout, "; ".join(
                "%g s at server %s location %s" % (route["read_timeout"], route.get("listen") or "-",
                                                   route.get("location") or "-") for route in short)))))
    return {"read_timeout": result.get("read_timeout"), "routes": routes, "problems": problems}
