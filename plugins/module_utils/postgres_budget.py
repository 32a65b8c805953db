# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL's own connection budget, read on the database host with psql over the local socket (peer
authentication as the server's OS user: no password passes through the task). Standard library only.

One query returns one JSON document: the settings that bound connections (max_connections,
superuser_reserved_connections, reserved_connections from PostgreSQL 16 on) and the client backends of
pg_stat_activity by user, database and application, the query's own connection left out.
"""

from __future__ import annotations

import json

QUERY = (
    "SELECT json_build_object("
    "'server_version_num', current_setting('server_version_num')::int, "
    "'max_connections', current_setting('max_connections')::int, "
    "'superuser_reserved_connections', current_setting('superuser_reserved_connections')::int, "
    "'reserved_connections', coalesce(current_setting('reserved_connections', true), '0')::int, "
    "'client_connections', (SELECT count(*) FROM pg_stat_activity "
    "WHERE backend_type = 'client backend' AND pid <> pg_backend_pid()), "
    "'by_user', coalesce((SELECT json_agg(r ORDER BY r.count DESC, r.user, r.database, r.application) FROM ("
    "SELECT usename AS user, datname AS database, application_name AS application, count(*) AS count, "
    "count(*) FILTER (WHERE state = 'idle') AS idle "
    "FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() "
    "GROUP BY usename, datname, application_name) r), '[]'::json))"
)


class BudgetReadError(Exception):
    """psql ran but did not print the document."""


def psql_argv(psql, os_user=None, port=5432, socket_dir=None, login_db="postgres", run_as=None):
    """The command line: psql without a psqlrc, unaligned tuples only, stopping on the first error; under
    runuser when the module runs as root and another OS user owns the server (peer authentication)."""
    argv = [psql, "-X", "-A", "-t", "-q", "-v", "ON_ERROR_STOP=1", "-p", str(port), "-d", login_db, "-c", QUERY]
    if socket_dir:
        argv[1:1] = ["-h", socket_dir]
    if os_user and run_as:
        argv = [run_as, "-u", os_user, "--"] + argv
    return argv


def parse(stdout):
    """The budget from psql's output: the figures, reserved_total and usable (what applications may hold)."""
    text = (stdout or "").strip()
    if not text:
        raise BudgetReadError("psql printed nothing")
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise BudgetReadError("psql did not print the budget as JSON: %s" % exc)
    for key in ("max_connections", "superuser_reserved_connections", "reserved_connections", "client_connections"):
        if not isinstance(doc.get(key), int):
            raise BudgetReadError("the budget has no whole number %s" % key)
    doc["reserved_total"] = doc["superuser_reserved_connections"] + doc["reserved_connections"]
    doc["usable"] = doc["max_connections"] - doc["reserved_total"]
    doc["by_user"] = [dict(row, application=row.get("application") or "") for row in doc.get("by_user") or []]
    by_application = {}
    for row in doc["by_user"]:
        by_application[row["application"]] = by_application.get(row["application"], 0) + row["count"]
    doc["by_application"] = [{"application": name, "count": count}
                             for name, count in sorted(by_application.items(), key=lambda item: (-item[1], item[0]))]
    return doc
