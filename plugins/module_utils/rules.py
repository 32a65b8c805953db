# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every preflight rule of the role gunicorn_django, as pure functions.

`check(inputs)` takes the role's public variables (a mapping by variable name, with the values
as Ansible hands them over: a computed number may arrive as a digit string) and returns every
problem as a Problem(variable, message). Each message names the variable to fix; none shows a value of gunicorn_django_env or
gunicorn_django_secret_env. No rule raises on a value of the wrong type: the type rule reports it
and the rules that need that value skip it. Standard library only.
"""

from __future__ import annotations

import json
import posixpath
import re
from collections import namedtuple
from collections.abc import Mapping
from urllib.parse import urlsplit

from ansible_collections.djangoops.gunicorn.plugins.module_utils import bind as bind_address
from ansible_collections.djangoops.gunicorn.plugins.module_utils import layout
from ansible_collections.djangoops.gunicorn.plugins.module_utils.config_python import managed_changes
from ansible_collections.djangoops.gunicorn.plugins.module_utils.gunicorn_config import MANAGED_SETTINGS
from ansible_collections.djangoops.gunicorn.plugins.module_utils.release.plan import HEALTH_METHODS

Problem = namedtuple("Problem", "variable message")

PREFIX = "gunicorn_django_"

# Wrong container types crash templates later (the argument spec checks a key=value string it
# converted, but the role reads the raw variable).
CONTAINERS = (
    ("env", "mapping", "NAME: value"),
    ("secret_env", "mapping", "NAME: value"),
    ("extra_settings", "mapping", "setting: value"),
    ("sizing", "mapping", "option: value"),
    ("health_checks", "list", "[{path: /healthz}]"),
    ("read_write_paths", "list", "[/var/lib/mysite]"),
)

# (variable, smallest value) of each timeout, in seconds.
TIMEOUTS = (("timeout", 1), ("graceful_timeout", 1), ("keepalive", 0), ("health_timeout", 1),
            ("proxy_read_timeout", 0), ("check_timeout", 1))

# Managed settings that no role variable of the same name sets: where their value comes from.
SETTING_SOURCES = {
    "proc_name": "derived from gunicorn_django_app_name",
    "control_socket": "derived from gunicorn_django_app_name",
    "raw_env": "set from gunicorn_django_env and gunicorn_django_secret_env",
    "chdir": "set from gunicorn_django_app_dir",
    "daemon": "fixed by the role (systemd runs Gunicorn in the foreground)",
    "pidfile": "fixed by the role (systemd tracks the master)",
}

_WSGI_APP_RE = re.compile(r"[A-Za-z_][\w.]*:[A-Za-z_]\w*")
_DOTTED_RE = re.compile(r"[A-Za-z_][\w.]*")
_SETTING_NAME_RE = re.compile(r"[a-z_][a-z0-9_]*")
_ENV_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_SECRET_NAME_RE = re.compile(r"SECRET|PASSWORD|TOKEN|PRIVATE_KEY|API_KEY|DATABASE_URL|(^|_)DSN$", re.IGNORECASE)
# scheme://user:password@host (the user may be empty: redis://:password@host).
_CREDENTIALS_URL_RE = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/?#@\s:]*:[^/?#@\s]*@")
_READ_WRITE_PATH_RE = re.compile(r"[-+]?/\S*")
_STATUS_RE = re.compile(r"[1-5][0-9][0-9]")
# An HTTP header name (RFC 9110 token) and the characters no header value may carry.
_HEADER_NAME_RE = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")
_ROOT_NAMES = ("root", "0", "")
_TRUE_WORDS = ("y", "yes", "on", "1", "true", "t")


def _var(name):
    return PREFIX + name


def _shown(value):
    """A non-secret value as the operator wrote it (JSON), for messages."""
    try:
        return json.dumps(value, default=str)
    except (TypeError, ValueError):  # keys JSON cannot write
        return repr(value)


_KINDS = ((type(None), "null"), (bool, "boolean"), ((int, float), "number"), (str, "string"), (Mapping, "mapping"),
          ((list, tuple), "list"))


def _kind(value):
    """The YAML word for a value's type, for messages."""
    return next((kind for types, kind in _KINDS if isinstance(value, types)), type(value).__name__)


def _integer(value):
    """An int from an int or a digit string (Ansible may hand numbers over as text), else None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return int(value) if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]+\s*", value) else None


def _flag(value):
    """A boolean as Ansible reads one (true, yes, on, 1, ...); anything else is false."""
    if isinstance(value, str):
        return value.strip().lower() in _TRUE_WORDS
    return value is True or (isinstance(value, (int, float)) and not isinstance(value, bool) and value == 1)


def _mapping(inputs, name):
    value = inputs.get(_var(name))
    return value if isinstance(value, Mapping) else None


def _list(inputs, name):
    value = inputs.get(_var(name))
    return list(value) if isinstance(value, (list, tuple)) else None


def container_types(inputs):
    problems = []
    for name, kind, example in CONTAINERS:
        value = inputs.get(_var(name))
        if _kind(value) == kind:
            continue
        hint = " (key=value strings are not accepted: write YAML)" if isinstance(value, str) else ""
        problems.append(Problem(_var(name), "%s must be a %s (%s), got a %s%s."
                                % (_var(name), kind, example, _kind(value), hint)))
    return problems


def identity(inputs):
    problems = []
    app_name = inputs.get(_var("app_name"))
    if not app_name:
        problems.append(Problem(_var("app_name"), "gunicorn_django_app_name is required (lowercase, e.g. mysite)."))
    else:
        try:
            layout.check_app_name(app_name)
        except ValueError as exc:
            problems.append(Problem(_var("app_name"), "gunicorn_django_app_name: %s." % exc))
    for name, pattern, example in (("wsgi_app", _WSGI_APP_RE, "module:callable, e.g. mysite.wsgi:application"),
                                   ("settings_module", _DOTTED_RE, "a dotted module, e.g. mysite.settings")):
        value = inputs.get(_var(name))
        if not value:
            problems.append(Problem(_var(name), "%s is required (%s)." % (_var(name), example)))
        elif not isinstance(value, str) or not pattern.fullmatch(value):
            problems.append(Problem(_var(name), "%s (%s) must be %s." % (_var(name), _shown(value), example)))
    return problems


def _is_root(value):
    return value is None or str(value).strip() in _ROOT_NAMES


def non_root_accounts(inputs):
    return [Problem(_var(name), "%s must name a non-root account (got %s)."
                    % (_var(name), _shown(inputs.get(_var(name))))) for name in ("user", "group")
            if _is_root(inputs.get(_var(name)))]


def bind(inputs):
    value = inputs.get(_var("bind"))
    try:
        address = bind_address.parse(value)
    except ValueError as exc:
        return [Problem(_var("bind"), "gunicorn_django_bind=%s is not a bind Gunicorn can use: %s (host:port, "
                                      "[v6]:port or unix:/path)." % (_shown(value), exc))]
    problems = []
    if not bind_address.is_loopback(address) and not _flag(inputs.get(_var("allow_public_bind"))):
        problems.append(Problem(_var("bind"), (
            "gunicorn_django_bind=%s is not a loopback host:port or a unix:/path socket. Gunicorn belongs behind a "
            "proxy; to expose it anyway, set gunicorn_django_allow_public_bind: true." % _shown(value))))
    activation = _flag(inputs.get(_var("socket_activation")))
    if activation and not bind_address.is_ip_literal(address):
        problems.append(Problem(_var("bind"), (
            "gunicorn_django_socket_activation needs an IP address or a unix socket in gunicorn_django_bind "
            "(systemd's ListenStream= takes no host names); got %s." % _shown(value))))
    if address.kind == bind_address.UNIX:
        problems.extend(_unix_bind(inputs, value, address.path, activation))
    elif _socket_group(inputs):
        problems.append(Problem(_var("socket_group"), (
            "gunicorn_django_socket_group (%s) is the group of a unix socket: gunicorn_django_bind=%s is not one "
            "(unix:/run/gunicorn-<app>.sock with gunicorn_django_socket_activation)."
            % (_shown(_socket_group(inputs)), _shown(value)))))
    return problems


def _socket_group(inputs):
    group = inputs.get(_var("socket_group"))
    return group if group not in (None, "") else None


def _unix_bind(inputs, value, path, activation):
    """Where a unix socket can live: with socket activation systemd (PID 1) creates it anywhere but
    in the service's RuntimeDirectory (/run/gunicorn-<app>/, removed when the service stops and
    re-owned when it starts); without it, the sandboxed service creates it itself, so only there or
    under gunicorn_django_read_write_paths."""
    app_name = inputs.get(_var("app_name"))
    runtime_dir = "/run/gunicorn-%s" % (app_name if isinstance(app_name, str) and app_name else "<app>")
    in_runtime_dir = path_within(path, [runtime_dir])
    problems = []
    if activation and in_runtime_dir:
        problems.append(Problem(_var("bind"), (
            "gunicorn_django_bind=%s is inside the service's RuntimeDirectory %s/, which systemd removes when the "
            "service stops: with gunicorn_django_socket_activation the socket unit must own its path, e.g. "
            "unix:%s.sock." % (_shown(value), runtime_dir, runtime_dir))))
    elif not activation and _flag(inputs.get(_var("systemd_hardening"))) and not in_runtime_dir \
            and not path_within(posixpath.dirname(path), _list(inputs, "read_write_paths") or []):
        problems.append(Problem(_var("bind"), (
            "gunicorn_django_bind=%s: the sandboxed service (ProtectSystem=strict) cannot create a socket there. "
            "Use unix:%s/gunicorn.sock (its RuntimeDirectory), a directory under gunicorn_django_read_write_paths, "
            "or gunicorn_django_socket_activation (systemd creates the socket)." % (_shown(value), runtime_dir))))
    group = _socket_group(inputs)
    if group is not None and not activation:
        problems.append(Problem(_var("socket_group"), (
            "gunicorn_django_socket_group (%s) needs gunicorn_django_socket_activation: true (systemd creates the "
            "socket with SocketGroup=; a socket Gunicorn creates itself belongs to the service's own group)."
            % _shown(group))))
    elif group is not None and (not isinstance(group, str) or not re.fullmatch(r"[a-z_][a-z0-9_-]*[$]?", group)):
        problems.append(Problem(_var("socket_group"), "gunicorn_django_socket_group (%s) must be a group name "
                                                      "such as www-data." % _shown(group)))
    elif group is not None and (_is_root(group) or group == inputs.get(_var("group"))):
        problems.append(Problem(_var("socket_group"), (
            "gunicorn_django_socket_group (%s) must be the proxy's own group (e.g. www-data), neither root nor "
            "gunicorn_django_group: that group reads the app's config." % _shown(group))))
    return problems


def _count(inputs, name):
    """A count of 1 or more, `auto`, or None when it is neither."""
    value = inputs.get(_var(name))
    if value == "auto":
        return value
    number = _integer(value)
    return number if number is not None and number >= 1 else None


def sizing(inputs):
    problems = []
    for name in ("workers", "threads"):
        if _count(inputs, name) is None:
            problems.append(Problem(_var(name), "%s (%s) must be a whole number from 1, or auto."
                                    % (_var(name), _shown(inputs.get(_var(name))))))
    worker_class = inputs.get(_var("worker_class"))
    if worker_class != "auto" and not (isinstance(worker_class, str) and _DOTTED_RE.fullmatch(worker_class)):
        problems.append(Problem(_var("worker_class"), (
            "gunicorn_django_worker_class (%s) must be a worker class name (sync, gthread, or a dotted path) or "
            "auto." % _shown(worker_class))))
    threads = _count(inputs, "threads")
    if worker_class == "sync" and isinstance(threads, int) and threads > 1:
        problems.append(Problem(_var("threads"), (
            "gunicorn_django_threads (%d) > 1 needs gunicorn_django_worker_class gthread, not sync (Gunicorn "
            "silently turns sync into gthread)." % threads)))
    # A typo such as 500 would fork 500 workers on the live service (the canary boots only one).
    max_workers = _integer(inputs.get(_var("max_workers")))
    workers = _count(inputs, "workers")
    if max_workers is None or max_workers < 1:
        problems.append(Problem(_var("max_workers"), "gunicorn_django_max_workers (%s) must be a whole number from 1."
                                % _shown(inputs.get(_var("max_workers")))))
    elif isinstance(workers, int) and workers > max_workers:
        problems.append(Problem(_var("workers"), (
            "gunicorn_django_workers (%d) is above gunicorn_django_max_workers (%d). Gunicorn needs 2-4 workers "
            "per CPU core at most; raise gunicorn_django_max_workers if this host really needs more, or use "
            "workers: auto." % (workers, max_workers))))
    return problems


def _seconds(inputs, name, minimum, problems):
    value = _integer(inputs.get(_var(name)))
    if value is None or value < minimum:
        problems.append(Problem(_var(name), "%s (%s) must be a whole number %s seconds."
                                % (_var(name), _shown(inputs.get(_var(name))), "> 0" if minimum > 0 else ">= 0")))
        return None
    return value


def timeouts(inputs):
    problems = []
    seconds = {name: _seconds(inputs, name, minimum, problems) for name, minimum in TIMEOUTS}
    stop = _integer(inputs.get(_var("timeout_stop_sec")))
    graceful = seconds["graceful_timeout"]
    if stop is None:
        problems.append(Problem(_var("timeout_stop_sec"), "gunicorn_django_timeout_stop_sec (%s) must be a whole "
                                "number of seconds." % _shown(inputs.get(_var("timeout_stop_sec")))))
    elif graceful is not None and stop <= graceful:
        problems.append(Problem(_var("timeout_stop_sec"), (
            "gunicorn_django_timeout_stop_sec (%d) must exceed gunicorn_django_graceful_timeout (%d), or systemd "
            "kills workers mid-request." % (stop, graceful))))
    proxy, timeout = seconds["proxy_read_timeout"], seconds["timeout"]
    if proxy and timeout is not None and proxy <= timeout:
        problems.append(Problem(_var("proxy_read_timeout"), (
            "gunicorn_django_proxy_read_timeout (%d) must exceed gunicorn_django_timeout (%d), or users get 504s "
            "from the proxy while workers are still busy (0: unknown)." % (proxy, timeout))))
    return problems


def recycling(inputs):
    problems = []
    numbers = {}
    for name, minimum in (("max_requests", 0), ("max_requests_jitter", 0), ("backlog", 1)):
        numbers[name] = _integer(inputs.get(_var(name)))
        if numbers[name] is None or numbers[name] < minimum:
            problems.append(Problem(_var(name), "%s (%s) must be a whole number %s."
                                    % (_var(name), _shown(inputs.get(_var(name))), ">= 0" if minimum == 0 else "> 0")))
    if (numbers["max_requests"] or 0) > 0 and numbers["max_requests_jitter"] == 0:
        problems.append(Problem(_var("max_requests_jitter"), (
            "gunicorn_django_max_requests_jitter must be > 0 when gunicorn_django_max_requests (%d) is set: "
            "without jitter every worker recycles at the same moment." % numbers["max_requests"])))
    return problems


def boot_priority(inputs):
    if _var("boot_nice") not in inputs:
        return []
    nice = _integer(inputs.get(_var("boot_nice")))
    if nice is None or not 0 <= nice <= 19:
        return [Problem(_var("boot_nice"), "gunicorn_django_boot_nice (%s) must be a nice value from 0 (off) to 19."
                        % _shown(inputs.get(_var("boot_nice"))))]
    return []


def read_write_paths(inputs):
    return [Problem(_var("read_write_paths"), (
        "gunicorn_django_read_write_paths: every entry must be an absolute path without spaces (systemd "
        "ignores the others in ReadWritePaths=), got %s." % _shown(entry)))
        for entry in _list(inputs, "read_write_paths") or []
        if not (isinstance(entry, str) and _READ_WRITE_PATH_RE.fullmatch(entry))]


def _normal_path(path, systemd_prefixes=False):
    if not isinstance(path, str):
        return None
    if systemd_prefixes:
        path = path.lstrip("-+")
    if not path.startswith("/"):
        return None
    # posixpath keeps a leading "//", the kernel does not.
    return "/" + posixpath.normpath(path).lstrip("/")


def path_within(path, directories):
    """Whether absolute `path` is one of `directories` (ReadWritePaths= entries) or lies under one."""
    target = _normal_path(path)
    if target is None:
        return False
    for directory in directories or []:
        parent = _normal_path(directory, systemd_prefixes=True)
        if parent is not None and (target == parent or target.startswith(parent.rstrip("/") + "/")):
            return True
    return False


def log_targets(inputs):
    # With the sandbox (ProtectSystem=strict) the service writes only to read_write_paths: a log
    # file elsewhere would only show up as a canary that does not boot.
    hardening = _flag(inputs.get(_var("systemd_hardening")))
    writable = _list(inputs, "read_write_paths") or []
    problems = []
    for name in ("accesslog", "errorlog"):
        value = inputs.get(_var(name))
        if value == "-" or (isinstance(value, str) and value.startswith("/")
                            and (not hardening or path_within(value, writable))):
            continue
        where = (" under one of gunicorn_django_read_write_paths (%s): the unit's ProtectSystem=strict makes "
                 "everything else read-only" % _shown(writable)) if hardening else ""
        problems.append(Problem(_var(name), "%s (%s) must be - (the journal) or an absolute path%s."
                                % (_var(name), _shown(value), where)))
    return problems


def _setting_source(setting):
    return SETTING_SOURCES.get(setting, "set by its own role variable (%s)" % _var(setting))


def extra_settings(inputs):
    problems = []
    for key in _mapping(inputs, "extra_settings") or {}:
        if not (isinstance(key, str) and _SETTING_NAME_RE.fullmatch(key)):
            problems.append(Problem(_var("extra_settings"), "gunicorn_django_extra_settings: %s is not a valid "
                                    "Gunicorn setting name (lowercase letters, digits and _)." % _shown(str(key))))
        elif key in MANAGED_SETTINGS:
            problems.append(Problem(_var("extra_settings"), "gunicorn_django_extra_settings: %s is %s."
                                    % (_shown(key), _setting_source(key))))
    return problems


def config_python(inputs):
    # config_python is appended after the managed settings: it could rebind (or change workers,
    # user, ...) past every other rule.
    code = inputs.get(_var("config_python"))
    if code is None or code == "":
        return []
    if not isinstance(code, str):
        return [Problem(_var("config_python"), "gunicorn_django_config_python must be Python code (a string), "
                                               "got a %s." % _kind(code))]
    changes = managed_changes(code, MANAGED_SETTINGS)
    if not changes:
        return []
    return [Problem(_var("config_python"), (
        "gunicorn_django_config_python may not change settings the role manages (%s): set them with their role "
        "variables (gunicorn_django_bind, gunicorn_django_workers, ...); keep server hooks in functions."
        % "; ".join(changes)))]


def health_checks(inputs):
    checks = _list(inputs, "health_checks")
    if checks is None:
        return []
    if not checks:
        return [Problem(_var("health_checks"), "gunicorn_django_health_checks is empty: the health gate needs at "
                                               "least one check, e.g. [{path: /healthz}].")]
    problems = []
    for index, check in enumerate(checks):
        name = "gunicorn_django_health_checks[%d]" % index
        if not isinstance(check, Mapping):
            problems.append(Problem(_var("health_checks"), "%s must be a mapping such as {path: /healthz, status: "
                                    "200, contains: ok}, got a %s." % (name, _kind(check))))
            continue
        path, url = check.get("path"), check.get("url")
        if url is not None:
            problems.extend(_health_check_url(name, path, url))
        elif not (isinstance(path, str) and re.fullmatch(r"/\S*", path)):
            problems.append(Problem(_var("health_checks"), "%s needs a path starting with / (e.g. /healthz), got %s."
                                    % (name, _shown(path))))
        status = check.get("status", 200)
        if isinstance(status, bool) or not _STATUS_RE.fullmatch(str(status)):
            problems.append(Problem(_var("health_checks"), "%s: status must be an HTTP status from 100 to 599, got "
                                    "%s." % (name, _shown(status))))
        problems.extend(_health_check_request(name, check))
    if not problems and all(isinstance(check, Mapping) and check.get("url") is not None for check in checks):
        problems.append(Problem(_var("health_checks"), (
            "gunicorn_django_health_checks has only checks with a url: the canary and a hand-over's new master "
            "are gated by the checks with a path (sent to that master), so give at least one, e.g. "
            "{path: /healthz}.")))
    return problems


def _health_check_url(name, path, url):
    """Problems of a check that goes to its own url (the site as users reach it: the proxy)."""
    if path is not None:
        return [Problem(_var("health_checks"), "%s has both a path and a url: a path goes to the master the gate "
                        "checks, a url through whatever serves it (the proxy); give one." % name)]
    parts = urlsplit(url) if isinstance(url, str) and not _CONTROL_RE.search(url) and " " not in url else None
    try:
        port_ok = parts is not None and (parts.port is None or 0 < parts.port < 65536)
    except ValueError:
        port_ok = False
    if not (port_ok and parts.scheme in ("http", "https") and parts.hostname and not parts.fragment
            and (parts.path or "/").startswith("/")):
        return [Problem(_var("health_checks"), "%s: url must be an absolute http or https URL such as "
                        "http://127.0.0.1/healthz (the proxy on the host), got %s." % (name, _shown(url)))]
    return []


def _health_check_request(name, check):
    """Problems of a check's method, headers and redirect expectation."""
    problems = []
    method = check.get("method", "GET")
    if not isinstance(method, str) or method.upper() not in HEALTH_METHODS:
        problems.append(Problem(_var("health_checks"), "%s: method must be one of %s, got %s." % (
            name, ", ".join(HEALTH_METHODS), _shown(method))))
    headers = check.get("headers", {})
    if not isinstance(headers, Mapping) or not all(
            isinstance(key, str) and _HEADER_NAME_RE.fullmatch(key) and isinstance(value, (str, int))
            and not _CONTROL_RE.search(str(value)) for key, value in headers.items()):
        problems.append(Problem(_var("health_checks"), "%s: headers must map header names to single-line values, "
                                "e.g. {Host: shop.example.com, X-Forwarded-Proto: https}." % name))
    location = check.get("location")
    if location is not None and not (isinstance(location, str) and location
                                     and 300 <= _int_or(check.get("status", 200), 0) < 400):
        problems.append(Problem(_var("health_checks"), "%s: location (the text a redirect's Location must contain) "
                                "needs a 3xx status, e.g. {path: /, status: 301, location: 'https://'}." % name))
    return problems


def _int_or(value, default):
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _env_key(key):
    return json.dumps(key if isinstance(key, str) else str(key))


def env_problems(name, env):
    """Problems of one environment mapping: they name its keys, never a value."""
    problems = []
    for key, value in env.items():
        if not isinstance(key, str) or not _ENV_NAME_RE.fullmatch(key):
            problems.append(Problem(_var(name), "%s: %s is not a valid environment variable name (letters, digits "
                                    "and _, not starting with a digit)." % (_var(name), _env_key(key))))
        if value is None or not isinstance(value, (str, int, float, bool)):
            problems.append(Problem(_var(name), "%s: the value of %s must be a string, a number or a boolean (got "
                                    "%s)." % (_var(name), _env_key(key), _kind(value))))
        elif isinstance(value, str) and any(ord(char) < 32 or ord(char) == 127 for char in value):
            problems.append(Problem(_var(name), "%s: the value of %s contains a control character (a newline, a "
                                    "tab, ...), which an environment file cannot carry." % (_var(name), _env_key(key))))
    return problems


def environments(inputs):
    env, secret_env = _mapping(inputs, "env"), _mapping(inputs, "secret_env")
    problems = []
    for name, mapping in (("env", env), ("secret_env", secret_env)):
        if mapping is not None:
            problems.extend(env_problems(name, mapping))
    env, secret_env = env or {}, secret_env or {}
    in_both = sorted(str(key) for key in env if key in secret_env)
    if in_both:
        problems.append(Problem(_var("env"), (
            "%s set in both gunicorn_django_env and gunicorn_django_secret_env: keep each name in one of them "
            "(gunicorn_django_secret_env if it is a secret)." % ", ".join(in_both))))
    misplaced = sorted(str(key) for key, value in env.items() if str(key) not in in_both and (
        _SECRET_NAME_RE.search(str(key)) or (isinstance(value, str) and _CREDENTIALS_URL_RE.search(value))))
    if misplaced:
        problems.append(Problem(_var("env"), (
            "gunicorn_django_env must hold no secrets: move %s to gunicorn_django_secret_env (root-only, never "
            "logged). Secrets are passwords, tokens, keys, DATABASE_URL, *_DSN and any URL with a user:password@ in "
            "it." % ", ".join(misplaced))))
    for name, mapping in (("env", env), ("secret_env", secret_env)):
        if "GUNICORN_CMD_ARGS" in mapping:
            problems.append(Problem(_var(name), "%s may not set GUNICORN_CMD_ARGS: it would override "
                                    "gunicorn.conf.py (the unit unsets it)." % _var(name)))
    return problems


INPUT_RULES = (container_types, identity, non_root_accounts, bind, sizing, timeouts, recycling, boot_priority,
               read_write_paths,
               log_targets, extra_settings, config_python, health_checks, environments)


def check(inputs):
    """Every problem of the role's variables `inputs`, in the order of the rules.

    What only the host can tell (the service account exists, the app directory and the virtualenv's
    gunicorn are there) is checked by the release module on the host, in the same run as the release.
    """
    problems = []
    for rule in INPUT_RULES:
        problems.extend(rule(inputs))
    return problems
