# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The preflight rules (plugins/module_utils/rules.py): every bad input the role refuses before it
touches the host, as a table, and the good inputs that must pass.

Each row is the sample app's variables (molecule/shared/sample_app_vars.yml) on top of the role's
defaults, with the row's variables on top (or without some), on a host where the sample app is
installed as molecule/shared/prepare.yml does. docs/reliability.md prints the table
(scripts/badinput_tables.py); molecule/badinput runs a few of these through the role.
"""

from __future__ import annotations

import re
from collections import namedtuple
from pathlib import Path

import jinja2
import pytest
import yaml
from hypothesis import given, settings, strategies as st

from ansible_collections.djangoops.gunicorn.plugins.module_utils import rules
from ansible_collections.djangoops.gunicorn.plugins.module_utils.gunicorn_config import MANAGED_SETTINGS

ROOT = Path(__file__).resolve().parents[4]
DEFAULTS = yaml.safe_load((ROOT / "roles/gunicorn_django/defaults/main.yml").read_text(encoding="utf-8"))
SPECS = yaml.safe_load((ROOT / "roles/gunicorn_django/meta/argument_specs.yml").read_text(encoding="utf-8"))
SAMPLE = yaml.safe_load((ROOT / "molecule/shared/sample_app_vars.yml").read_text(encoding="utf-8"))
SAMPLE_SECRET = SAMPLE["gunicorn_django_secret_env"]["DJANGO_SECRET_KEY"]
WIRING = yaml.safe_load((ROOT / "molecule/badinput/cases.yml").read_text(encoding="utf-8"))["badinput_cases"]

# The test host after molecule/shared/prepare.yml.

# A bad input: `given` on top of the sample app (`without` leaves sample variables out), the
# variable the problem must name, texts its message must hold as well, and a secret given in the
# row that no message may show.
Row = namedtuple("Row", "name given variable says also without secret")


def row(name, given, variable, says, also=(), without=(), secret=None):
    return Row(name, given, "gunicorn_django_" + variable, says, tuple(also), tuple(without), secret)


def env_plus(**entries):
    return dict(SAMPLE["gunicorn_django_env"], **entries)


def secret_plus(**entries):
    return dict(SAMPLE["gunicorn_django_secret_env"], **entries)


def v(**given):
    return {"gunicorn_django_" + name: value for name, value in given.items()}


CASES = [
    # -- wrong types
    row("workers is not a number", v(workers="many"), "workers", "a whole number from 1, or auto"),
    row("threads is a list", v(threads=[1]), "threads", "a whole number from 1, or auto"),
    row("boot_nice above 19", v(boot_nice=20), "boot_nice", "a nice value from 0 (off) to 19"),
    row("boot_nice below 0 (would boot above the serving master)", v(boot_nice=-5), "boot_nice",
        "a nice value from 0 (off) to 19"),
    row("health_checks is a key=value string (the argument spec converts it, the role does not)",
        v(health_checks="path=/healthz"), "health_checks", "must be a list", ["key=value strings are not accepted"]),
    row("env is a key=value string (the argument spec converts it, the role does not)",
        v(env="MYSITE_DB_PATH=/var/lib/mysite/db.sqlite3"), "env", "must be a mapping"),
    row("secret env is a key=value string (its value stays out of the output)",
        v(secret_env="DJANGO_SECRET_KEY=badinput-string-secret"), "secret_env", "must be a mapping",
        secret="badinput-string-secret"),
    row("extra settings is a key=value string", v(extra_settings="worker=4"), "extra_settings", "must be a mapping"),
    row("bind is a number", v(bind=8000), "bind", "is not a bind Gunicorn can use"),
    row("read_write_paths is a string, not a list", v(read_write_paths="/var/lib/mysite"), "read_write_paths",
        "must be a list"),
    row("read_write_paths with a relative path", v(read_write_paths=["var/lib/mysite"]), "read_write_paths",
        "absolute path without spaces"),
    row("sizing is a key=value string", v(sizing="profile=io"), "sizing", "must be a mapping"),
    # -- out of range
    row("workers 0", v(workers=0), "workers", "a whole number from 1"),
    row("workers far above any host's CPUs (a typo)", v(workers=500), "workers",
        "is above gunicorn_django_max_workers", ["gunicorn_django_max_workers"]),
    row("threads 0", v(threads=0), "threads", "a whole number from 1"),
    row("timeout 0", v(timeout=0), "timeout", "> 0 seconds"),
    row("negative graceful_timeout", v(graceful_timeout=-5), "graceful_timeout", "> 0 seconds"),
    row("negative keepalive", v(keepalive=-1), "keepalive", ">= 0 seconds"),
    row("check_timeout 0 (the app's checks would never be bounded)", v(check_timeout=0), "check_timeout",
        "> 0 seconds"),
    row("backlog 0", v(backlog=0), "backlog", "a whole number > 0"),
    row("max_requests -1", v(max_requests=-1), "max_requests", "a whole number >= 0"),
    row("bind port out of range", v(bind="127.0.0.1:99999"), "bind", "not a number from 1 to 65535"),
    # -- contradictory settings
    row("timeout_stop_sec equal to graceful_timeout", v(graceful_timeout=30, timeout_stop_sec=30), "timeout_stop_sec",
        "must exceed", ["gunicorn_django_graceful_timeout"]),
    row("proxy_read_timeout equal to timeout", v(timeout=30, proxy_read_timeout=30), "proxy_read_timeout",
        "must exceed", ["gunicorn_django_timeout"]),
    row("threads > 1 with the sync worker class", v(threads=4, worker_class="sync"), "threads", "needs",
        ["gunicorn_django_worker_class"]),
    row("max_requests without jitter", v(max_requests=1000, max_requests_jitter=0), "max_requests_jitter",
        "without jitter every worker recycles at the same moment"),
    # -- bind
    row("public IPv4 wildcard bind without the opt-in", v(bind="0.0.0.0:8000"), "bind", "not a loopback",
        ["gunicorn_django_allow_public_bind"]),
    row("public IPv6 wildcard bind without the opt-in", v(bind="[::]:8000"), "bind", "not a loopback",
        ["gunicorn_django_allow_public_bind"]),
    row("private-network address without the opt-in", v(bind="10.1.2.3:8000"), "bind", "not a loopback",
        ["gunicorn_django_allow_public_bind"]),
    row("public bind with the opt-in given as the text false (-e ...=false)",
        v(bind="0.0.0.0:8000", allow_public_bind="false"), "bind", "not a loopback"),
    row("bind without a port", v(bind="127.0.0.1"), "bind", "has no port"),
    row("bind with a port that is not a number", v(bind="127.0.0.1:notaport"), "bind",
        "is not a number from 1 to 65535"),
    row("public bind opted in but without a port", v(bind="0.0.0.0", allow_public_bind=True), "bind", "has no port"),
    row("host name bind with socket activation (ListenStream= takes no names)",
        v(bind="localhost:8000", socket_activation=True), "bind", "takes no host names",
        ["gunicorn_django_socket_activation"]),
    row("unix socket the sandboxed service cannot create (the module's old example)",
        v(bind="unix:/run/app.sock", socket_activation=False),
        "bind", "cannot create a socket there",
        ["unix:/run/gunicorn-mysite/gunicorn.sock", "gunicorn_django_read_write_paths"]),
    row("unix socket in a directory of /run that is not the service's",
        v(bind="unix:/run/mysite/gunicorn.sock", socket_activation=False),
        "bind", "cannot create a socket there"),
    row("unix socket in the service's RuntimeDirectory with socket activation (removed at every stop)",
        v(bind="unix:/run/gunicorn-mysite/gunicorn.sock", socket_activation=True), "bind",
        "which systemd removes when the service stops",
        ["gunicorn_django_socket_activation", "unix:/run/gunicorn-mysite.sock"]),
    row("socket group for a socket Gunicorn creates itself",
        v(bind="unix:/run/gunicorn-mysite/gunicorn.sock", socket_activation=False, socket_group="www-data"),
        "socket_group", "needs gunicorn_django_socket_activation"),
    row("socket group with a TCP bind", v(socket_group="www-data"), "socket_group", "is the group of a unix socket",
        ["gunicorn_django_bind"]),
    row("socket group that is the app's own group",
        v(bind="unix:/run/gunicorn-mysite.sock", socket_activation=True, socket_group="mysite"),
        "socket_group", "must be the proxy's own group", ["gunicorn_django_group"]),
    row("public listener added through config_python (bypasses the bind checks)",
        v(config_python='bind.append("0.0.0.0:8001")\n', env=env_plus(MYSITE_BADINPUT_RELEASE="2")), "config_python",
        "line 1: bind is changed with .append()"),
    row("workers reassigned through config_python",
        v(config_python="def post_fork(server, worker):\n    workers = 1  # local to the hook: fine\nworkers = 50\n"),
        "config_python", "line 3: workers is assigned"),
    # -- identity and accounts
    row("app_name with uppercase letters", v(app_name="MySite"), "app_name", "must match"),
    row("app_name with a space", v(app_name="my site"), "app_name", "must match"),
    row("app_name that climbs out of the config directory", v(app_name="../etc"), "app_name", "must match"),
    row("wsgi_app without module:callable", v(wsgi_app="mysite.wsgi"), "wsgi_app", "must be module:callable"),
    row("empty settings module", v(settings_module=""), "settings_module", "is required"),
    row("app_name left out", {}, "app_name", "is required", without=["gunicorn_django_app_name"]),
    row("wsgi_app left out", {}, "wsgi_app", "is required", without=["gunicorn_django_wsgi_app"]),
    row("service user root", v(user="root"), "user", "must name a non-root account"),
    row("service user given as uid 0", v(user="0", group="mysite"), "user", "must name a non-root account"),
    row("service user given as the number 0", v(user=0, group="mysite"), "user", "must name a non-root account"),
    row("service group root", v(group="root"), "group", "must name a non-root account"),
    # -- Gunicorn settings
    row("extra setting shadowing workers", v(extra_settings={"workers": 4}), "extra_settings",
        "set by its own role variable", ["gunicorn_django_workers"]),
    row("extra setting shadowing bind (a public bind through the back door)",
        v(extra_settings={"bind": "0.0.0.0:9000"}), "extra_settings", "set by its own role variable",
        ["gunicorn_django_bind"]),
    row("extra setting shadowing user (root through the back door)", v(extra_settings={"user": "root"}),
        "extra_settings", "set by its own role variable", ["gunicorn_django_user"]),
    row("extra setting shadowing the working directory", v(extra_settings={"chdir": "/"}), "extra_settings",
        "set from gunicorn_django_app_dir"),
    row("extra setting with an invalid name", v(extra_settings={"Max-Requests": 4}), "extra_settings",
        "is not a valid Gunicorn setting name", ["Max-Requests"]),
    row("worker_class with Python code in it", v(worker_class="sync; import os"), "worker_class",
        "must be a worker class name"),
    row("access log where the sandbox cannot write", v(accesslog="/var/log/gunicorn-mysite-access.log"), "accesslog",
        "under one of gunicorn_django_read_write_paths"),
    row("error log where the sandbox cannot write", v(errorlog="/var/log/gunicorn-mysite-error.log"), "errorlog",
        "under one of gunicorn_django_read_write_paths"),
    row("relative log path with the sandbox off", v(errorlog="error.log", systemd_hardening=False), "errorlog",
        "an absolute path"),
    # -- environment
    row("DJANGO_SECRET_KEY in the plain environment (and in the secret one)",
        v(env=env_plus(DJANGO_SECRET_KEY="badinput-plain-secret-key")), "env", "DJANGO_SECRET_KEY set in both",
        ["gunicorn_django_secret_env"], secret="badinput-plain-secret-key"),
    row("DJANGO_SECRET_KEY in the plain environment only",
        v(env=env_plus(DJANGO_SECRET_KEY="badinput-plain-secret-key"), secret_env={}), "env",
        "must hold no secrets: move DJANGO_SECRET_KEY", ["gunicorn_django_secret_env"],
        secret="badinput-plain-secret-key"),
    row("DB_PASSWORD in the plain environment", v(env=env_plus(DB_PASSWORD="badinput-plain-db-password")), "env",
        "must hold no secrets: move DB_PASSWORD", ["gunicorn_django_secret_env"], secret="badinput-plain-db-password"),
    row("DATABASE_URL in the plain environment", v(env=env_plus(DATABASE_URL="sqlite:////var/lib/mysite/db.sqlite3")),
        "env", "must hold no secrets: move DATABASE_URL", ["gunicorn_django_secret_env"]),
    row("a *_DSN in the plain environment", v(env=env_plus(SENTRY_DSN="badinput-plain-dsn")), "env",
        "must hold no secrets: move SENTRY_DSN", ["gunicorn_django_secret_env"], secret="badinput-plain-dsn"),
    row("a URL with credentials in the plain environment, whatever its name",
        v(env=env_plus(CACHE_LOCATION="redis://cache:badinput-url-password@127.0.0.1:6379/0")), "env",
        "must hold no secrets: move CACHE_LOCATION", ["gunicorn_django_secret_env"],
        secret="badinput-url-password"),
    row("a URL with a password only (redis://:password@host)",
        v(env=env_plus(BROKER="redis://:badinput-url-password2@127.0.0.1:6379")), "env",
        "must hold no secrets: move BROKER", secret="badinput-url-password2"),
    row("the same name in the plain and the secret environment",
        v(secret_env=secret_plus(MYSITE_DB_PATH="/var/lib/mysite/db.sqlite3")), "env",
        "MYSITE_DB_PATH set in both", ["gunicorn_django_secret_env"]),
    row("GUNICORN_CMD_ARGS in the plain environment", v(env=env_plus(GUNICORN_CMD_ARGS="--bind 0.0.0.0:8000")),
        "env", "may not set GUNICORN_CMD_ARGS"),
    row("GUNICORN_CMD_ARGS in the secret environment", v(secret_env=secret_plus(GUNICORN_CMD_ARGS="--workers 50")),
        "secret_env", "may not set GUNICORN_CMD_ARGS"),
    row("environment name that is not a valid variable name", v(env=env_plus(**{"MY VAR": "x"})), "env",
        '"MY VAR" is not a valid environment variable name'),
    row("environment value with a newline", v(env=env_plus(DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost\nDJANGO_DEBUG=1")),
        "env", 'the value of "DJANGO_ALLOWED_HOSTS" contains a control character'),
    row("secret value with a newline (its value stays out of the output)",
        v(secret_env={"DJANGO_SECRET_KEY": "badinput-newline\nsecret"}), "secret_env",
        'the value of "DJANGO_SECRET_KEY" contains a control character', secret="badinput-newline"),
    row("environment value that is not a string (null)", v(env=env_plus(MYSITE_EMPTY=None)), "env",
        'the value of "MYSITE_EMPTY" must be a string, a number or a boolean (got null)'),
    # -- health checks
    row("health check without a path", v(health_checks=[{"status": 200}]), "health_checks",
        "needs a path starting with /"),
    row("health check path without a leading slash", v(health_checks=[{"path": "healthz"}]), "health_checks",
        "needs a path starting with /"),
    row("health check expecting status 999", v(health_checks=[{"path": "/healthz", "status": 999}]), "health_checks",
        "status must be an HTTP status from 100 to 599"),
    row("health check that is not a mapping", v(health_checks=["/healthz"]), "health_checks", "must be a mapping"),
    row("no health checks at all", v(health_checks=[]), "health_checks", "is empty"),
    row("health check with a method other than GET or HEAD", v(health_checks=[{"path": "/", "method": "POST"}]),
        "health_checks", "method must be one of GET, HEAD"),
    row("health check headers as a list", v(health_checks=[{"path": "/", "headers": ["Host: shop"]}]),
        "health_checks", "headers must map header names"),
    row("health check header value with a newline (header injection)",
        v(health_checks=[{"path": "/", "headers": {"Host": "shop\r\nX-Evil: 1"}}]), "health_checks",
        "single-line values"),
    row("health check expecting a Location without a 3xx status",
        v(health_checks=[{"path": "/", "location": "https://"}]), "health_checks", "needs a 3xx status"),
    row("health check with both a path and a url",
        v(health_checks=[{"path": "/healthz", "url": "http://127.0.0.1/healthz"}]), "health_checks",
        "has both a path and a url"),
    row("health check url that is not absolute http(s)",
        v(health_checks=[{"path": "/healthz"}, {"url": "ftp://127.0.0.1/healthz"}]), "health_checks",
        "url must be an absolute http or https URL"),
    row("health check url with a bad port",
        v(health_checks=[{"path": "/healthz"}, {"url": "http://127.0.0.1:99999/"}]), "health_checks",
        "url must be an absolute http or https URL"),
    row("only health checks with a url (nothing gates the canary)",
        v(health_checks=[{"url": "http://127.0.0.1/healthz"}]), "health_checks", "has only checks with a url"),
]

# Inputs the rules must let through: the sample app, the good changes of molecule/badinput, the
# inputs that later stages refuse (the release's validate, check-config and canary steps), and
# values as older ansible-core versions hand them over (computed numbers as digit strings).
GOOD = [
    ("the sample app", {}),
    ("bind host changed, same port", v(bind="localhost:8000", socket_activation=False)),
    ("workers auto, and a server hook in config_python that assigns workers locally",
     v(workers="auto", config_python="def post_fork(server, worker):\n    workers = 1  # local to the hook\n"
                                     "    server.log.info('worker %s forked', worker.pid)\n")),
    ("everything auto", v(workers="auto", threads="auto", worker_class="auto")),
    ("unknown Gunicorn setting (the release's validate step asks the app's Gunicorn)",
     v(extra_settings={"worker": 4})),
    ("config_python with a syntax error (gunicorn --check-config judges it)", v(config_python="def broken(:\n")),
    ("worker_class that does not exist (the canary boots it)", v(worker_class="nosuch")),
    ("unix socket bind in the service's RuntimeDirectory",
     v(bind="unix:/run/gunicorn-mysite/gunicorn.sock", socket_activation=False)),
    ("unix socket bind under a read-write path", v(bind="unix:/var/lib/mysite/gunicorn.sock", socket_activation=False)),
    ("unix socket bind anywhere with the sandbox off",
     v(bind="unix:/run/app.sock", socket_activation=False, systemd_hardening=False)),
    ("unix socket bind anywhere but the RuntimeDirectory with socket activation",
     v(bind="unix:/run/app.sock", socket_activation=True)),
    ("unix socket bind with socket activation and a socket group for the proxy",
     v(bind="unix:/run/gunicorn-mysite.sock", socket_activation=True, socket_group="www-data")),
    ("a URL without credentials in the plain environment", v(env=env_plus(CACHE_URL="redis://127.0.0.1:6379/0"))),
    ("IPv6 loopback bind with socket activation", v(bind="[::1]:8000", socket_activation=True)),
    ("public bind with the opt-in", v(bind="0.0.0.0:8000", allow_public_bind=True)),
    ("public bind with the opt-in given as text (-e ...=yes)", v(bind="[::]:8000", allow_public_bind="yes")),
    ("threads with gthread", v(threads=4, worker_class="gthread")),
    ("numbers as digit strings", v(workers="3", timeout="30", timeout_stop_sec="45", backlog="2048")),
    ("logs under a read-write path", v(accesslog="/var/lib/mysite/log/../access.log", errorlog="-")),
    ("logs anywhere with the sandbox off", v(accesslog="/var/log/mysite.log", systemd_hardening=False)),
    ("read-write paths with systemd prefixes", v(read_write_paths=["-/var/lib/mysite", "+/run/mysite"])),
    ("proxy read timeout above timeout", v(proxy_read_timeout=60)),
    ("no recycling", v(max_requests=0, max_requests_jitter=0)),
    ("boot priority off", v(boot_nice=0)),
    ("health check status as text", v(health_checks=[{"path": "/healthz", "status": "204", "contains": ""}])),
    ("health checks with headers, HEAD and a redirect", v(health_checks=[
        {"path": "/healthz", "method": "HEAD", "headers": {"Host": "shop.example.com", "X-Forwarded-Proto": "https"}},
        {"path": "/", "status": 301, "location": "https://shop.example.com/"}])),
    ("a health check through the proxy on the host (a url with Host and X-Forwarded-Proto)", v(health_checks=[
        {"path": "/healthz"},
        {"url": "http://127.0.0.1/items/?page=1", "headers": {"Host": "shop.example.com", "X-Forwarded-Proto": "https"},
         "contains": "Catalog"}])),
    ("environment values of every scalar type", v(env={"A": "x", "B": 1, "C": 0.5, "D": True, "E": ""})),
    ("a legitimate extra setting", v(extra_settings={"limit_request_line": 4094})),
    ("service user created by the role", v(user="newapp", group="newapp", create_user=True)),
]


def _render(value, context):
    if not isinstance(value, str) or "{{" not in value:
        return value
    environment = jinja2.Environment(undefined=jinja2.StrictUndefined)
    environment.filters["int"] = int
    return environment.from_string(value).render(context)


def role_inputs(given, without=()):
    """The role's variables for a case, with the templated defaults resolved as Ansible would."""
    inputs = dict(DEFAULTS)
    inputs.update((name, value) for name, value in SAMPLE.items() if name not in without)
    inputs.update(given)
    for _depth in range(3):  # defaults refer to defaults (group -> user -> app_name)
        inputs = {name: _render(value, inputs) for name, value in inputs.items()}
    return inputs


def problems_of(given, without=()):
    return rules.check(role_inputs(given, without))


@pytest.mark.parametrize("case", CASES, ids=[case.name for case in CASES])
def test_bad_input_is_refused_naming_the_variable(case):
    problems = problems_of(case.given, case.without)
    named = [problem for problem in problems if problem.variable == case.variable]
    assert named, "no problem names %s; found %s" % (case.variable, problems)
    texts = (case.variable, case.says) + case.also
    assert any(all(text in problem.message for text in texts) for problem in named), (texts, named)
    for problem in problems:
        assert problem.variable in problem.message
        for secret in filter(None, (SAMPLE_SECRET, case.secret)):
            assert secret not in problem.message


@pytest.mark.parametrize("name, given", GOOD, ids=[name for name, given in GOOD])
def test_good_input_passes(name, given):
    assert problems_of(given) == [], name


@pytest.mark.parametrize("case", WIRING, ids=[case["name"] for case in WIRING])
def test_the_wiring_cases_agree_with_the_rules(case):
    """molecule/badinput's preflight cases are refused here too; its later stages pass the rules."""
    messages = " ".join(problem.message for problem in problems_of(case.get("vars", {}), case.get("without", ())))
    if case["stage"] == "preflight":
        assert all(name in messages for name in case["names"]), messages
    elif case["stage"].startswith("release:"):
        assert messages == ""


def test_every_problem_is_listed_at_once():
    problems = problems_of(v(bind="0.0.0.0:8000", workers=0, user="root", env=env_plus(API_KEY="k")))
    assert {problem.variable for problem in problems} >= {
        "gunicorn_django_bind", "gunicorn_django_workers", "gunicorn_django_user", "gunicorn_django_env"}


def test_what_only_the_host_can_tell_is_left_to_the_release_module():
    """Accounts and paths that may not exist pass here: gunicorn_release checks them on the host."""
    assert problems_of(v(user="badinput-nosuchuser", app_dir="/nosuch", venv="/nosuch")) == []


def test_every_managed_setting_names_where_it_comes_from():
    role_variables = set(SPECS["argument_specs"]["main"]["options"])
    for setting in MANAGED_SETTINGS:
        problems = problems_of(v(extra_settings={setting: 1}))
        assert len(problems) == 1 and problems[0].variable == "gunicorn_django_extra_settings"
        named = set(re.findall(r"gunicorn_django_[a-z_]+", problems[0].message)) - {"gunicorn_django_extra_settings"}
        assert named <= role_variables, (setting, named)
        if setting not in rules.SETTING_SOURCES:
            assert named == {"gunicorn_django_" + setting}


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
        ({"DICT": {"a": 1}}, ['the value of "DICT" must be a string, a number or a boolean (got mapping)']),
    ],
)
def test_env_problems(env, problems):
    found = [problem.message for problem in rules.env_problems("env", env)]
    assert len(found) == len(problems)
    for text, expected in zip(found, problems):
        assert text.startswith("gunicorn_django_env: " + expected)


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
    assert rules.path_within(path, directories) is within


_ANY_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=12),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=6), children, max_size=3),
    max_leaves=6)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(st.sampled_from(sorted(SPECS["argument_specs"]["main"]["options"])), _ANY_VALUE, max_size=8))
def test_any_value_is_judged_never_raised(overrides):
    inputs = dict(role_inputs({}), **overrides)
    for problem in rules.check(inputs):
        assert problem.variable.startswith("gunicorn_django_") and problem.variable in problem.message


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"]), min_size=8).map(lambda s: "s3cr3t-" + s),
       st.sampled_from(["DJANGO_SECRET_KEY", "BAD NAME", "API_TOKEN", "GUNICORN_CMD_ARGS", "MYSITE_DB_PATH"]))
def test_no_message_shows_an_environment_value(secret, key):
    for name in ("env", "secret_env"):
        for problem in problems_of(v(**{name: {key: secret, "LIST": [secret], "MYSITE_DB_PATH": secret}})):
            assert secret not in problem.message
