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
