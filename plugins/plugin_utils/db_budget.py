# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The fleet-wide database connection budget of a rollout, checked on the controller before any host
changes (playbooks/db_budget.yml, imported by playbooks/deploy.yml).

For every database (the hosts whose ``gunicorn_django_db_budget.database`` is the same name):

    steady  = sum over every inventory host that uses it of workers x threads (sync: 1)
    release = the largest, over the rollout's serial batches, of the batch's hosts' slots x (headroom - 1)
              (a HUP or a scale runs old and new workers together on the hosts of one batch)
    need    = steady + release + other clients
    allowed = max_connections - reserved connections

and ``need`` must not exceed ``allowed``. Pinned counts are what they say; ``auto`` counts are bounded by
the host's gunicorn_django_sizing (max_workers, max_threads, or its database share). Live values read from
the PostgreSQL server (gunicorn_postgres_budget) replace typed ones: its max_connections and reserved
connections, and the connections of other clients (every client backend that is not one of the app roles
of that database) when more than typed.
"""

from __future__ import annotations

import math

from ansible_collections.djangoops.gunicorn.plugins.module_utils import sizing

DEFAULT_HEADROOM = sizing.DEFAULT_RELOAD_HEADROOM
DEFAULT_RESERVED = sizing.DEFAULT_DB_RESERVED_CONNECTIONS
AUTO = "auto"
BUDGET_KEYS = ("database", "max_connections", "reserved_connections", "other_clients", "reload_headroom",
               "server", "db_user")
SHARED_KEYS = ("max_connections", "reserved_connections", "other_clients", "reload_headroom", "server")
VARIABLE = "gunicorn_django_db_budget"


class BudgetError(ValueError):
    """Input the check cannot work with (a bad gunicorn_django_db_budget or deploy_serial)."""


def _int(value, what, minimum=0):
    if isinstance(value, bool):
        raise BudgetError("%s must be a whole number, got %r" % (what, value))
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise BudgetError("%s must be a whole number, got %r" % (what, value))
    if number < minimum:
        raise BudgetError("%s must be >= %d, got %d" % (what, minimum, number))
    return number


def _batch_size(value, total):
    """One serial entry as a host count, as Ansible reads it (a percentage of the play's hosts, at least 1)."""
    text = str(value).strip()
    if text.endswith("%"):
        try:
            percent = float(text[:-1])
        except ValueError:
            raise BudgetError("deploy_serial entry %r is not a number or a percentage" % (value,))
        return int(percent / 100.0 * total) or 1
    return _int(text, "deploy_serial entry %r" % (value,))


def serial_batches(hosts, serial):
    """The batches Ansible's ``serial`` makes of ``hosts`` (in play order): a list of sizes and percentages whose
    last entry repeats; 0 or empty is one batch of every host."""
    hosts = list(hosts)
    entries = list(serial) if isinstance(serial, (list, tuple)) else [serial]
    entries = entries or [0]
    batches, index = [], 0
    while hosts:
        size = _batch_size(entries[index], len(hosts) + sum(len(b) for b in batches))
        if size <= 0:
            batches.append(hosts)
            break
        batches.append(hosts[:size])
        hosts = hosts[size:]
        index = min(index + 1, len(entries) - 1)
    return batches


def host_slots(host_vars):
    """(slots, how) of one host: the most database connections its workers hold outside a release, and how that
    was counted; slots is None when nothing bounds it (auto without a bound) or the class is not slot-based."""
    workers = host_vars.get("gunicorn_django_workers", 2)
    threads = host_vars.get("gunicorn_django_threads", 1)
    worker_class = str(host_vars.get("gunicorn_django_worker_class", "sync")).strip()
    given = dict(host_vars.get("gunicorn_django_sizing") or {})
    notes = []
    if str(threads).strip() == AUTO:
        threads = _int(given.get("max_threads", sizing.DEFAULT_MAX_THREADS), "gunicorn_django_sizing.max_threads", 1)
        notes.append("threads auto, at most max_threads")
    else:
        threads = _int(threads, "gunicorn_django_threads", 1)
    if worker_class != AUTO and not sizing.is_slot_based(sizing.runs_as(worker_class, threads)):
        return None, "worker_class %s multiplexes connections: not modelled (put a pooler in front)" % worker_class
    if str(workers).strip() != AUTO:
        workers = _int(workers, "gunicorn_django_workers", 1)
        return sizing.slot_count(workers, threads), "%d x %d%s" % (workers, threads, _notes(notes))
    if given.get("max_workers") is not None:
        workers = _int(given["max_workers"], "gunicorn_django_sizing.max_workers", 1)
        notes.insert(0, "workers auto, at most max_workers")
        return sizing.slot_count(workers, threads), "%d x %d%s" % (workers, threads, _notes(notes))
    if given.get("db_max_connections") is not None:
        share = sizing.database_slot_limit(
            _int(given["db_max_connections"], "gunicorn_django_sizing.db_max_connections", 1),
            _int(given.get("db_reserved_connections", DEFAULT_RESERVED), "gunicorn_django_sizing.db_reserved_connections"),
            _int(given.get("app_hosts", 1), "gunicorn_django_sizing.app_hosts", 1),
            float(given.get("reload_headroom", DEFAULT_HEADROOM)))
        return share, "auto, at most its database share of %d" % share
    return None, "workers auto with neither max_workers nor db_max_connections in gunicorn_django_sizing: unbounded"


def _notes(notes):
    return " (%s)" % ", ".join(notes) if notes else ""


def _budget(host, host_vars):
    raw = host_vars.get(VARIABLE) or {}
    if not raw:
        return None
    if not isinstance(raw, dict):
        raise BudgetError("%s of %s must be a dict" % (VARIABLE, host))
    unknown = sorted(set(raw) - set(BUDGET_KEYS))
    if unknown:
        raise BudgetError("%s of %s has unknown keys: %s" % (VARIABLE, host, ", ".join(unknown)))
    if not str(raw.get("database") or "").strip():
        raise BudgetError("%s of %s needs a database name (hosts with the same name share it)" % (VARIABLE, host))
    budget = {"database": str(raw["database"]).strip(), "server": raw.get("server") or None,
              "db_user": raw.get("db_user") or None,
              "reserved_connections": _int(raw.get("reserved_connections", DEFAULT_RESERVED),
                                           "%s.reserved_connections of %s" % (VARIABLE, host)),
              "other_clients": _int(raw.get("other_clients", 0), "%s.other_clients of %s" % (VARIABLE, host)),
              "max_connections": None}
    if raw.get("max_connections") is not None:
        budget["max_connections"] = _int(raw["max_connections"], "%s.max_connections of %s" % (VARIABLE, host), 1)
    try:
        budget["reload_headroom"] = float(raw.get("reload_headroom", DEFAULT_HEADROOM))
    except (TypeError, ValueError):
        raise BudgetError("%s.reload_headroom of %s must be a number" % (VARIABLE, host))
    if budget["reload_headroom"] < 1:
        raise BudgetError("%s.reload_headroom of %s must be >= 1" % (VARIABLE, host))
    return budget


def servers(host_vars, hosts):
    """The inventory hosts of the PostgreSQL servers the hosts' budgets name (to read them live), sorted."""
    names = set()
    for host in hosts:
        budget = (host_vars.get(host) or {}).get(VARIABLE) or {}
        if isinstance(budget, dict) and budget.get("server"):
            names.add(str(budget["server"]))
    return sorted(names)


def _live_by_server(live):
    """{server: gunicorn_postgres_budget result} from the looped, delegated results."""
    found = {}
    for result in live or []:
        if not isinstance(result, dict) or result.get("skipped") or result.get("failed"):
            continue
        server = result.get("item")
        if server is not None and result.get("max_connections") is not None:
            found[str(server)] = result
    return found


def check(host_vars, inventory_hosts, rollout_hosts, serial, live=None):
    """The budget of every database: a dict with ok, message (the problems, or a one-line all-clear) and
    databases ({name: figures}). host_vars is {host: variables}; live the looped gunicorn_postgres_budget
    results (item = server)."""
    budgets, problems = {}, []
    for host in inventory_hosts:
        budget = _budget(host, host_vars.get(host) or {})
        if budget is None:
            continue
        group = budgets.setdefault(budget["database"], {"settings": budget, "hosts": [], "first": host})
        for key in SHARED_KEYS:
            if group["settings"][key] != budget[key]:
                problems.append("%s.%s differs between %s (%s) and %s (%s): the hosts of database %s share one "
                                "server and must agree" % (
                                    VARIABLE, key, group["first"], group["settings"][key], host, budget[key],
                                    budget["database"]))
        group["hosts"].append((host, budget))
    live_by_server = _live_by_server(live)
    rollout = [h for h in rollout_hosts if h in set(inventory_hosts)] or list(rollout_hosts)
    batches = serial_batches(rollout, serial)
    databases = {}
    for name in sorted(budgets):
        group = budgets[name]
        figures, problem = _database(name, group, host_vars, batches, live_by_server)
        databases[name] = figures
        if problem:
            problems.append(problem)
    if problems:
        return {"ok": False, "message": " ".join(problems), "databases": databases}
    if not databases:
        message = "No host sets %s: no database budget to check." % VARIABLE
    else:
        message = "; ".join("database %s: %d of %d connections at most during the rollout" % (
            name, fig["need"], fig["allowed"]) for name, fig in sorted(databases.items()) if fig["allowed"] is not None)
    return {"ok": True, "message": message, "databases": databases}


def _database(name, group, host_vars, batches, live_by_server):
    settings = dict(group["settings"])
    live = live_by_server.get(settings["server"]) if settings["server"] else None
    app_users = sorted(set(b["db_user"] for _h, b in group["hosts"] if b["db_user"]))
    source = "typed"
    if live:
        source = "read from %s" % settings["server"]
        settings["max_connections"] = live["max_connections"]
        settings["reserved_connections"] = live.get("reserved_total", settings["reserved_connections"])
        others = _live_others(live, app_users)
        if others is not None and others > settings["other_clients"]:
            settings["other_clients"] = others
    figures = {"hosts": {}, "source": source, "max_connections": settings["max_connections"],
               "reserved_connections": settings["reserved_connections"], "other_clients": settings["other_clients"],
               "reload_headroom": settings["reload_headroom"], "allowed": None, "steady": 0, "release": 0,
               "need": None, "peak_batch": []}
    unbounded = []
    slots = {}
    for host, _budget in group["hosts"]:
        count, how = host_slots(host_vars.get(host) or {})
        figures["hosts"][host] = {"slots": count, "counted": how}
        if count is None:
            unbounded.append("%s (%s)" % (host, how))
        else:
            slots[host] = count
    if settings["max_connections"] is None:
        where = ("%s could not be read and " % settings["server"]) if settings["server"] else ""
        return figures, ("Database %s: %sno max_connections is known (set %s.max_connections, or .server to the "
                         "inventory host of the PostgreSQL server to read it)." % (name, where, VARIABLE))
    allowed = settings["max_connections"] - settings["reserved_connections"]
    steady = sum(slots.values())
    extra, peak_batch = 0, []
    for batch in batches:
        batch_extra = sum(slots.get(h, 0) for h in batch) * (settings["reload_headroom"] - 1)
        if batch_extra > extra:
            extra, peak_batch = batch_extra, [h for h in batch if h in slots]
    extra = int(math.ceil(extra - 1e-9))
    need = steady + extra + settings["other_clients"]
    figures.update({"allowed": allowed, "steady": steady, "release": extra, "need": need, "peak_batch": peak_batch})
    hosts_text = ", ".join("%s %s" % (h, figures["hosts"][h]["counted"]) for h, _b in group["hosts"] if h in slots)
    if unbounded:
        return figures, ("Database %s: cannot be checked, %s; set gunicorn_django_workers or "
                         "gunicorn_django_sizing.max_workers on those hosts." % (name, "; ".join(unbounded)))
    if need > allowed:
        return figures, (
            "Database %s: the rollout needs up to %d connections, above the %d that max_connections %d - %d reserved "
            "allows (%s): %d held by the workers x threads of %s, %d more while batch %s releases (%gx reload "
            "headroom), %d of other clients. Lower gunicorn_django_workers or gunicorn_django_threads on those hosts, "
            "make deploy_serial batches smaller, or raise max_connections on the server (%s)." % (
                name, need, allowed, settings["max_connections"], settings["reserved_connections"], source, steady,
                hosts_text, extra, ", ".join(peak_batch) or "-", settings["reload_headroom"],
                settings["other_clients"], VARIABLE))
    return figures, None


def _live_others(live, app_users):
    """Client connections of the server that are not the app roles' (None when it reports none)."""
    total = live.get("client_connections")
    if total is None:
        return None
    if not app_users:
        return 0
    mine = sum(row.get("count", 0) for row in live.get("by_user", []) if row.get("user") in app_users)
    return max(0, total - mine)
