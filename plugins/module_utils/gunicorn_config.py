# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gunicorn.conf.py: the settings the collection manages, and the one reader of such a file.

The reader parses with ast and never executes the file: it returns the top-level assignments
whose values are Python literals, and names those that are not (computed values, which only
Gunicorn itself can know). Standard library only.
"""

from __future__ import annotations

import ast

# Settings the role renders from its own variables; gunicorn_django_extra_settings and
# gunicorn_django_config_python may not set them again.
MANAGED_SETTINGS = (
    "wsgi_app",
    "proc_name",
    "bind",
    "backlog",
    "workers",
    "worker_class",
    "threads",
    "worker_tmp_dir",
    "timeout",
    "graceful_timeout",
    "keepalive",
    "max_requests",
    "max_requests_jitter",
    "preload_app",
    "accesslog",
    "errorlog",
    "loglevel",
    "control_socket",
    "user",
    "group",
    "daemon",
    "pidfile",
    "raw_env",
    "chdir",
)


def read_literals(text, names=None):
    """(settings, not_literal) of a gunicorn.conf.py source.

    `settings` maps each top-level name assigned a literal (the last assignment wins, as in
    Python) to its value; `not_literal` lists the names whose last assignment is computed.
    `names` limits both to those settings. A syntax error gives ({}, ["<syntax error>"]).
    A single `bind` string becomes a list, as Gunicorn reads it.
    """
    wanted = set(names) if names is not None else None
    settings, not_literal = {}, []
    try:
        tree = ast.parse(text or "")
    except (SyntaxError, ValueError):
        return settings, ["<syntax error>"]
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        for target in targets:
            if not isinstance(target, ast.Name) or (wanted is not None and target.id not in wanted):
                continue
            not_literal = [name for name in not_literal if name != target.id]
            try:
                settings[target.id] = ast.literal_eval(value)
            except ValueError:
                settings.pop(target.id, None)
                not_literal.append(target.id)
    if isinstance(settings.get("bind"), str):
        settings["bind"] = [settings["bind"]]
    return settings, not_literal


# The settings rendered from the collection's own inputs, in the order of the file, with the
# defaults a caller may leave out. proc_name and control_socket come from the app's layout.
RENDERED_SETTINGS = (
    "wsgi_app", "proc_name", "bind", "backlog", "workers", "worker_class", "threads", "worker_tmp_dir",
    "timeout", "graceful_timeout", "keepalive", "max_requests", "max_requests_jitter", "preload_app",
    "accesslog", "errorlog", "loglevel", "control_socket",
)
DEFAULTS = {
    "backlog": 2048,
    "workers": 2,
    "worker_class": "sync",
    "threads": 1,
    "worker_tmp_dir": "/dev/shm",
    "timeout": 30,
    "graceful_timeout": 30,
    "keepalive": 2,
    "max_requests": 1000,
    "max_requests_jitter": 100,
    "preload_app": False,
    "accesslog": "-",
    "errorlog": "-",
    "loglevel": "info",
}
INTEGER_SETTINGS = ("backlog", "workers", "threads", "timeout", "graceful_timeout", "keepalive", "max_requests",
                    "max_requests_jitter")
STRING_SETTINGS = ("wsgi_app", "proc_name", "worker_class", "worker_tmp_dir", "accesslog", "errorlog", "loglevel",
                   "control_socket")
DEFAULT_HEADER = "#\n# Managed by djangoops.gunicorn: local edits are replaced by the next release.\n#"


def literal(value):
    """Python source that evaluates back to `value` (str, number, bool, None, list, tuple, dict)."""
    return repr(_plain(value))


def _plain(value):
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, str):
        return str(value)
    if isinstance(value, dict):
        return dict((str(key), _plain(item)) for key, item in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(item) for item in value]
    raise ValueError("cannot render a value of type %s as Python" % type(value).__name__)


def effective_settings(given, proc_name, control_socket):
    """The RENDERED_SETTINGS from `given` (defaults filled in, types checked), or ValueError.

    `bind` may be one address or a list of them; the file always holds a list. The messages name
    the setting as ``settings.<name>``.
    """
    unknown = sorted(set(given) - set(RENDERED_SETTINGS) - {"proc_name", "control_socket"})
    if unknown:
        raise ValueError("settings: %s %s not managed here (put other Gunicorn settings in extra_settings)"
                         % (", ".join(unknown), "is" if len(unknown) == 1 else "are"))
    settings = dict(DEFAULTS)
    settings.update((name, value) for name, value in given.items() if value is not None)
    settings["proc_name"], settings["control_socket"] = proc_name, control_socket
    for name in ("wsgi_app", "bind"):
        if not settings.get(name):
            raise ValueError("settings.%s is required" % name)
    bind = settings["bind"]
    settings["bind"] = [bind] if isinstance(bind, str) else list(bind)
    if not settings["bind"] or not all(isinstance(item, str) and item for item in settings["bind"]):
        raise ValueError("settings.bind must be an address or a list of addresses, got %r" % (bind,))
    for name in INTEGER_SETTINGS:
        value = settings[name]
        if isinstance(value, str) and value.strip().isdigit():
            value = settings[name] = int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise ValueError("settings.%s must be an integer, got %r" % (name, value))
    if isinstance(settings["preload_app"], str) and settings["preload_app"].lower() in ("true", "false"):
        settings["preload_app"] = settings["preload_app"].lower() == "true"
    if not isinstance(settings["preload_app"], bool):
        raise ValueError("settings.preload_app must be true or false, got %r" % (settings["preload_app"],))
    for name in STRING_SETTINGS:
        if not isinstance(settings[name], str):
            raise ValueError("settings.%s must be a string, got %r" % (name, settings[name]))
    settings["worker_class"] = settings["worker_class"].strip()
    return settings


def render(app_name, settings, extra_settings=None, python="", header=DEFAULT_HEADER):
    """The text of gunicorn.conf.py: `header` comment lines first (a trailing newline or not),
    `settings` from effective_settings(), `extra_settings` further Gunicorn settings (sorted by name,
    case-insensitively), `python` raw source appended last."""
    def line(name):
        return "%s = %s\n" % (name, literal(settings[name]))

    text = [header.rstrip("\n"), "\n",
            '# Gunicorn settings of the Django app "%s".\n' % app_name,
            "# No secrets here: they live in the root-owned EnvironmentFile of the unit.\n"]
    text.extend(line(name) for name in ("wsgi_app", "proc_name", "bind", "backlog"))
    text.append("\n")
    text.extend(line(name) for name in ("workers", "worker_class", "threads"))
    text.append("# Heartbeat files on tmpfs: a disk-backed /tmp can stall workers (gunicorn #1194).\n")
    text.append(line("worker_tmp_dir"))
    text.append("\n")
    text.extend(line(name) for name in ("timeout", "graceful_timeout", "keepalive"))
    text.append("# Jitter keeps workers from all recycling at the same moment.\n")
    text.extend(line(name) for name in ("max_requests", "max_requests_jitter", "preload_app"))
    text.append("\n")
    text.extend(line(name) for name in ("accesslog", "errorlog", "loglevel"))
    text.append("\n")
    text.append("# One control socket per app, so apps run by the same user never share one.\n")
    text.append(line("control_socket"))
    if extra_settings:
        text.append("\n# Extra settings (gunicorn_django_extra_settings).\n")
        for name in sorted(extra_settings, key=lambda key: (key.lower(), key)):
            text.append("%s = %s\n" % (name, literal(extra_settings[name])))
    if python:
        text.append("\n# Server hooks and other Python (gunicorn_django_config_python).\n")
        text.append(python + "\n")
    return "".join(text)


def module_level_assignments(source, name):
    """How many times `name` is assigned in `source` outside function and class bodies (any
    statement: plain, augmented, annotated, inside if/for/with blocks). -1 for a syntax error."""
    try:
        tree = ast.parse(source or "")
    except (SyntaxError, ValueError):
        return -1
    count = 0
    pending = list(tree.body)
    while pending:
        node = pending.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        if isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.For, ast.With, ast.NamedExpr)):
            targets = node.targets if isinstance(node, ast.Assign) else [
                getattr(node, "target", None)] + [item.optional_vars for item in getattr(node, "items", [])]
            for target in targets:
                if target is not None:
                    count += sum(1 for sub in ast.walk(target) if isinstance(sub, ast.Name) and sub.id == name)
        pending.extend(ast.iter_child_nodes(node))
    return count
