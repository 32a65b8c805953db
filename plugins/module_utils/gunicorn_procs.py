# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Find running Gunicorn instances (master + workers) and measure their memory with psutil.

Settings come from the master's command line, then GUNICORN_CMD_ARGS, then its config
file (read with ``ast``: literal assignments only, the file is never executed), then
Gunicorn's defaults: the same precedence Gunicorn applies.
"""

from __future__ import annotations

import os
import shlex
import traceback

from ansible_collections.djangoops.gunicorn.plugins.module_utils import gunicorn_config, sizing

try:
    import psutil
    HAS_PSUTIL = True
    PSUTIL_IMPORT_ERROR = None
except ImportError:
    psutil = None
    HAS_PSUTIL = False
    PSUTIL_IMPORT_ERROR = traceback.format_exc()

GUNICORN_EXECUTABLES = ("gunicorn", "gunicorn3")
DEFAULT_CONFIG_FILE = "gunicorn.conf.py"
DEFAULTS = {"worker_class": "sync", "threads": 1, "workers": 1, "bind": ["127.0.0.1:8000"]}
# Options whose value we read; every other option is only skipped over.
VALUE_OPTIONS = {
    "-k": "worker_class", "--worker-class": "worker_class",
    "-w": "workers", "--workers": "workers",
    "--threads": "threads",
    "-b": "bind", "--bind": "bind",
    "-c": "config", "--config": "config",
    "-p": "pidfile", "--pid": "pidfile",
}
# Gunicorn options that take no value: anything else starting with "-" consumes the next word.
FLAG_OPTIONS = frozenset((
    "--reload", "--spew", "--check-config", "--print-config", "--preload", "--no-sendfile",
    "--reuse-port", "-D", "--daemon", "-R", "--enable-stdio-inheritance", "--capture-output",
    "--log-syslog", "--disable-redirect-access-to-syslog", "--do-handshake-on-connect",
    "--suppress-ragged-eofs", "--proxy-protocol", "--strip-header-spaces", "--no-control-socket",
    "--initgroups", "--permit-obsolete-folding", "--casefold-http-method",
    "--permit-unconventional-http-method", "--permit-unconventional-http-version",
    "-v", "--version", "-h", "--help",
))
CONFIG_SETTINGS = ("worker_class", "workers", "threads", "bind", "pidfile", "wsgi_app")
WORKER_CLASS_ALIASES = {
    "gunicorn.workers.sync.SyncWorker": "sync",
    "gunicorn.workers.gthread.ThreadWorker": "gthread",
    "gunicorn.workers.ggevent.GeventWorker": "gevent",
    "gunicorn.workers.geventlet.EventletWorker": "eventlet",
    "gunicorn.workers.gtornado.TornadoWorker": "tornado",
}


def _gunicorn_args_start(cmdline):
    """Index of the first Gunicorn argument in cmdline, or None if it does not run Gunicorn."""
    if not cmdline:
        return None
    if cmdline[0].startswith("gunicorn:"):
        return len(cmdline)  # setproctitle rewrote argv: "gunicorn: master [app]"
    if os.path.basename(cmdline[0]) in GUNICORN_EXECUTABLES:
        return 1
    if not os.path.basename(cmdline[0]).startswith("python"):
        return None
    index = 1
    while index < len(cmdline) and cmdline[index].startswith("-"):
        if cmdline[index] == "-m":
            is_module = index + 1 < len(cmdline) and cmdline[index + 1] == "gunicorn"
            return index + 2 if is_module else None
        index += 1
    if index < len(cmdline) and os.path.basename(cmdline[index]) in GUNICORN_EXECUTABLES:
        return index + 1
    return None


def is_gunicorn_cmdline(cmdline):
    return _gunicorn_args_start(cmdline) is not None


def parse_arguments(args):
    """Settings given by Gunicorn arguments (command line or GUNICORN_CMD_ARGS words)."""
    found = {}
    index = 0
    while index < len(args):
        word = args[index]
        index += 1
        if not word.startswith("-") or word == "-":
            found["wsgi_app"] = word
            continue
        name, value = word, None
        if word.startswith("--") and "=" in word:
            name, value = word.split("=", 1)
        elif not word.startswith("--") and len(word) > 2:
            name, value = word[:2], word[2:]  # "-w4", "-kgthread"
        if name in FLAG_OPTIONS:
            continue
        if value is None and index < len(args):
            value = args[index]
            index += 1
        if name in VALUE_OPTIONS and value is not None:
            _store(found, VALUE_OPTIONS[name], value)
    return found


def _store(found, setting, value):
    if setting == "bind":
        found.setdefault("bind", []).append(value)
    elif setting in ("workers", "threads"):
        try:
            found[setting] = int(value)
        except ValueError:
            pass
    else:
        found[setting] = value


def parse_config_source(text):
    """(settings, not_literal) of the settings this module reads, from a gunicorn.conf.py source."""
    return gunicorn_config.read_literals(text, CONFIG_SETTINGS)


def unit_from_proc_cgroup(text):
    """The systemd *.service a process runs in, from /proc/<pid>/cgroup text, or None."""
    lines = (text or "").splitlines()
    # The unified and name=systemd hierarchies carry systemd's tree; other v1 ones may not.
    lines.sort(key=lambda line: 0 if (line.startswith("0::") or ":name=systemd:" in line) else 1)
    for line in lines:
        parts = line.strip().split(":", 2)
        if len(parts) != 3:
            continue
        services = [part for part in parts[2].split("/") if part.endswith(".service")]
        if services:
            return services[-1]
    return None


def normalize_worker_class(worker_class, threads):
    name = str(worker_class)
    if name.startswith("egg:gunicorn#"):
        name = name.split("#", 1)[1]
    name = WORKER_CLASS_ALIASES.get(name, name)
    return sizing.runs_as(name, threads)


def resolve_settings(cmdline_settings, env_settings, config_settings):
    """Merge by Gunicorn's precedence; returns (settings, source of each setting)."""
    settings, sources = {}, {}
    for name in ("worker_class", "workers", "threads", "bind"):
        for source, layer in (("cmdline", cmdline_settings), ("env", env_settings),
                              ("config", config_settings), ("default", DEFAULTS)):
            if name in layer:
                settings[name], sources[name] = layer[name], source
                break
    settings["worker_class"] = normalize_worker_class(settings["worker_class"], settings["threads"])
    return settings, sources


def process_memory(processes):
    """Per-process memory: USS (and PSS) where readable, else RSS for all, with the metric name."""
    samples = []
    for proc in processes:
        sample = {"rss": None, "uss": None, "pss": None}
        try:
            full = proc.memory_full_info()
            sample.update(rss=full.rss, uss=getattr(full, "uss", None), pss=getattr(full, "pss", None))
        except (psutil.AccessDenied, psutil.ZombieProcess, psutil.NoSuchProcess):
            try:
                sample["rss"] = proc.memory_info().rss
            except (psutil.AccessDenied, psutil.ZombieProcess, psutil.NoSuchProcess):
                sample["rss"] = 0
        samples.append(sample)
    metric = "uss" if samples and all(s["uss"] is not None for s in samples) else "rss"
    pss_known = bool(samples) and all(s["pss"] is not None for s in samples)
    return [s[metric] for s in samples], metric, ([s["pss"] for s in samples] if pss_known else None)


def summarize_memory(master, workers):
    values, metric, pss = process_memory([master] + list(workers))
    master_bytes, worker_bytes = values[0], values[1:]
    return {
        "metric": metric,
        "master_bytes": master_bytes,
        "worker_mean_bytes": int(sum(worker_bytes) / len(worker_bytes)) if worker_bytes else None,
        "worker_max_bytes": max(worker_bytes) if worker_bytes else None,
        "workers_total_bytes": sum(worker_bytes),
        "total_bytes": master_bytes + sum(worker_bytes),
        "pss_total_bytes": sum(pss) if pss is not None else None,
    }


def _safe(call, default=None):
    try:
        return call()
    except (psutil.Error, OSError):
        return default


def describe_instance(master, worker_procs):
    """Facts for one master and its workers."""
    cmdline = _safe(master.cmdline, []) or []
    start = _gunicorn_args_start(cmdline)
    cmdline_settings = parse_arguments(cmdline[start:] if start is not None else cmdline[1:])
    environ = _safe(master.environ, {}) or {}
    env_settings = parse_arguments(shlex.split(environ.get("GUNICORN_CMD_ARGS", "")))
    notes = []
    config = cmdline_settings.get("config") or env_settings.get("config")
    cwd = _safe(master.cwd)
    config_settings = {}
    if config is None and cwd and os.path.isfile(os.path.join(cwd, DEFAULT_CONFIG_FILE)):
        config = DEFAULT_CONFIG_FILE
    if config and config.startswith("python:"):
        notes.append("config %s is a Python module; its settings were not read" % config)
    elif config:
        config = os.path.join(cwd or "/", config)
        try:
            with open(config) as handle:
                config_settings, not_literal = parse_config_source(handle.read())
            for name in not_literal:
                notes.append("%s in %s is not a literal; it was not read" % (name, config))
        except (IOError, OSError) as exc:
            notes.append("cannot read config %s: %s" % (config, exc))
    settings, sources = resolve_settings(cmdline_settings, env_settings, config_settings)
    workers = sorted(worker_procs, key=lambda proc: proc.pid)
    return {
        "master_pid": master.pid,
        "worker_pids": [proc.pid for proc in workers],
        "unit": unit_from_proc_cgroup(_read("/proc/%d/cgroup" % master.pid)),
        "wsgi_app": cmdline_settings.get("wsgi_app") or env_settings.get("wsgi_app")
        or config_settings.get("wsgi_app"),
        "config": config,
        "pidfile": cmdline_settings.get("pidfile") or env_settings.get("pidfile")
        or config_settings.get("pidfile"),
        "worker_class": settings["worker_class"],
        "workers": settings["workers"],
        "threads": settings["threads"],
        "bind": list(settings["bind"]),
        "settings_source": sources,
        "memory": summarize_memory(master, workers),
        "notes": notes,
    }


def _read(path):
    try:
        with open(path) as handle:
            return handle.read()
    except (IOError, OSError):
        return ""


def read_pidfile(path):
    text = _read(path).strip()
    return int(text) if text.isdigit() else None


def discover_instances(pidfile=None):
    """(instances, pidfile master pid or None): every Gunicorn master with its workers.

    A master runs Gunicorn and its parent does not; its children are its workers. A
    pidfile names a master even when its command line does not look like Gunicorn.
    """
    procs, children = {}, {}
    for proc in psutil.process_iter(["pid", "ppid", "cmdline"]):
        procs[proc.pid] = proc
        children.setdefault(proc.info["ppid"], []).append(proc)
    gunicorn_pids = set(pid for pid, proc in procs.items() if is_gunicorn_cmdline(proc.info["cmdline"]))
    masters = [pid for pid in gunicorn_pids if procs[pid].info["ppid"] not in gunicorn_pids]
    pidfile_pid = read_pidfile(pidfile) if pidfile else None
    if pidfile_pid is not None and pidfile_pid not in procs:
        pidfile_pid = None
    if pidfile_pid is not None and pidfile_pid not in masters:
        masters.append(pidfile_pid)
    instances = []
    for pid in sorted(masters):
        try:
            instances.append(describe_instance(procs[pid], children.get(pid, [])))
        except psutil.NoSuchProcess:
            continue  # exited while we looked
    return instances, pidfile_pid


def match_instances(instances, app):
    """Instances whose unit or WSGI app is ``app`` (a unit name like gunicorn-mysite.service,
    or an app name like mysite matching mysite.service, gunicorn-mysite.service,
    gunicorn@mysite.service, mysite-gunicorn.service or WSGI module mysite.*)."""
    if app.endswith(".service"):
        units = (app,)
    else:
        units = (app + ".service", "gunicorn-" + app + ".service", "gunicorn@" + app + ".service",
                 app + "-gunicorn.service")
    matches = []
    for instance in instances:
        wsgi_app = instance.get("wsgi_app") or ""
        if instance.get("unit") in units or wsgi_app == app or wsgi_app.startswith((app + ".", app + ":")):
            matches.append(instance)
    return matches
