# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Gunicorn discovery: pure parsers in tables, then real Gunicorn process trees."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from ansible_collections.djangoops.gunicorn.plugins.module_utils.gunicorn_procs import (
    discover_instances, is_gunicorn_cmdline, match_instances, normalize_worker_class, parse_arguments,
    parse_config_source, process_memory, resolve_settings, unit_from_proc_cgroup,
)

psutil = pytest.importorskip("psutil", reason="psutil is required by gunicorn_procs")

WSGI_APP = '''
def app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]
'''


@pytest.mark.parametrize("cmdline, expected", [
    (["/srv/venv/bin/gunicorn", "mysite.wsgi"], True),
    (["/srv/venv/bin/python3", "/srv/venv/bin/gunicorn", "-w", "2", "mysite.wsgi"], True),
    (["python3.11", "-u", "-m", "gunicorn", "mysite.wsgi"], True),
    (["/usr/bin/gunicorn3", "app:app"], True),
    (["gunicorn: master [mysite.wsgi:application]"], True),
    (["gunicorn: worker [mysite.wsgi:application]"], True),
    (["python3", "-m", "pytest", "-k", "gunicorn"], False),
    (["python3", "manage.py", "runserver"], False),
    (["bash", "-c", "gunicorn app:app"], False),
    (["/usr/bin/vim", "gunicorn.conf.py"], False),
    ([], False),
    (None, False),
])
def test_is_gunicorn_cmdline(cmdline, expected):
    assert is_gunicorn_cmdline(cmdline) is expected


@pytest.mark.parametrize("args, expected", [
    (["mysite.wsgi:application", "--config", "/etc/g.py"],
     {"wsgi_app": "mysite.wsgi:application", "config": "/etc/g.py"}),
    (["-w", "4", "-k", "gthread", "--threads", "8", "-b", "127.0.0.1:8000", "-b", "unix:/run/a.sock", "app:app"],
     {"workers": 4, "worker_class": "gthread", "threads": 8, "bind": ["127.0.0.1:8000", "unix:/run/a.sock"],
      "wsgi_app": "app:app"}),
    (["--workers=3", "--worker-class=sync", "--bind=0.0.0.0:80", "-c/etc/g.py", "app"],
     {"workers": 3, "worker_class": "sync", "bind": ["0.0.0.0:80"], "config": "/etc/g.py", "wsgi_app": "app"}),
    (["-w5", "--preload", "--reload", "app:app", "--timeout", "30", "--pid", "/run/g.pid"],
     {"workers": 5, "wsgi_app": "app:app", "pidfile": "/run/g.pid"}),
    (["--access-logfile", "-", "app:app"], {"wsgi_app": "app:app"}),
    (["-w", "many", "app"], {"wsgi_app": "app"}),
    ([], {}),
])
def test_parse_arguments(args, expected):
    assert parse_arguments(args) == expected


@pytest.mark.parametrize("source, settings, not_literal", [
    ('workers = 3\nthreads = 4\nworker_class = "gthread"\nbind = "unix:/run/a.sock"\n',
     {"workers": 3, "threads": 4, "worker_class": "gthread", "bind": ["unix:/run/a.sock"]}, []),
    ('import multiprocessing\nworkers = multiprocessing.cpu_count() * 2 + 1\ntimeout = 30\n', {}, ["workers"]),
    ('workers: int = 2\nbind = ["127.0.0.1:8000", "[::1]:8000"]\n',
     {"workers": 2, "bind": ["127.0.0.1:8000", "[::1]:8000"]}, []),
    ('workers = 2\nworkers = compute()\n', {}, ["workers"]),
    ('workers = compute()\nworkers = 4\n', {"workers": 4}, []),
    ('worker = 4\n', {}, []),                       # misspelt: Gunicorn ignores it too
    ('import os; os.system("touch /tmp/pwned")\nworkers = 2\n', {"workers": 2}, []),
    ('workers = (\n', {}, ["<syntax error>"]),
])
def test_parse_config_source_reads_literals_only(source, settings, not_literal):
    assert parse_config_source(source) == (settings, not_literal)


@pytest.mark.parametrize("text, unit", [
    ("0::/system.slice/gunicorn-mysite.service\n", "gunicorn-mysite.service"),
    ("12:memory:/system.slice/x.service\n1:name=systemd:/system.slice/gunicorn@blog.service\n",
     "gunicorn@blog.service"),
    ("0::/user.slice/user-1000.slice/user@1000.service/app.slice/gunicorn.service\n", "gunicorn.service"),
    ("0::/system.slice/gunicorn-mysite.service/payload\n", "gunicorn-mysite.service"),
    ("9:name=systemd:/\n0::/\n", None),
    ("", None),
])
def test_unit_from_proc_cgroup(text, unit):
    assert unit_from_proc_cgroup(text) == unit


@pytest.mark.parametrize("worker_class, threads, expected", [
    ("sync", 1, "sync"),
    ("sync", 4, "gthread"),
    ("gunicorn.workers.gthread.ThreadWorker", 2, "gthread"),
    ("egg:gunicorn#gevent", 1, "gevent"),
    ("uvicorn.workers.UvicornWorker", 1, "uvicorn.workers.UvicornWorker"),
])
def test_normalize_worker_class(worker_class, threads, expected):
    assert normalize_worker_class(worker_class, threads) == expected


def test_resolve_settings_uses_gunicorn_precedence():
    settings, sources = resolve_settings({"workers": 5}, {"workers": 4, "threads": 3},
                                         {"workers": 2, "threads": 2, "worker_class": "gthread"})
    assert settings == {"workers": 5, "threads": 3, "worker_class": "gthread", "bind": ["127.0.0.1:8000"]}
    assert sources == {"workers": "cmdline", "threads": "env", "worker_class": "config", "bind": "default"}


@pytest.mark.parametrize("app, expected", [
    ("gunicorn-mysite.service", [1]),
    ("mysite", [1, 3]),
    ("blog", [2]),
    ("shop", []),
    ("mysite.service", []),
])
def test_match_instances(app, expected):
    instances = [
        {"master_pid": 1, "unit": "gunicorn-mysite.service", "wsgi_app": "mysite.wsgi:application"},
        {"master_pid": 2, "unit": "gunicorn@blog.service", "wsgi_app": None},
        {"master_pid": 3, "unit": None, "wsgi_app": "mysite.wsgi"},
    ]
    assert [i["master_pid"] for i in match_instances(instances, app)] == expected


class UnreadableProcess(object):
    """A process whose smaps cannot be read (another user's, without root)."""

    def __init__(self, rss):
        self.rss = rss

    def memory_full_info(self):
        raise psutil.AccessDenied(pid=1)

    def memory_info(self):
        return type("mem", (), {"rss": self.rss})()


def test_process_memory_falls_back_to_rss_for_all():
    own = psutil.Process()
    values, metric, pss = process_memory([own, UnreadableProcess(1000)])
    assert metric == "rss" and pss is None
    assert values[1] == 1000 and values[0] > 0


# --- real Gunicorn process trees ----------------------------------------------------------

def _start(tmp_path, name, args, env_extra=None):
    pytest.importorskip("gunicorn", reason="gunicorn is not installed in this Python (pip install gunicorn)")
    env = dict(os.environ, HOME=str(tmp_path), PYTHONPATH=str(tmp_path))
    env.pop("GUNICORN_CMD_ARGS", None)
    env.update(env_extra or {})
    log = open(str(tmp_path / (name + ".log")), "w")
    proc = subprocess.Popen(args, cwd=str(tmp_path), env=env, stdout=log, stderr=subprocess.STDOUT)
    deadline = time.time() + 20
    while time.time() < deadline:
        if proc.poll() is not None:
            pytest.fail("gunicorn %s exited: %s" % (name, (tmp_path / (name + ".log")).read_text()))
        if len(psutil.Process(proc.pid).children()) == 2 and (tmp_path / (name + ".sock")).exists():
            return proc
        time.sleep(0.1)
    pytest.fail("gunicorn %s did not start 2 workers" % name)


@pytest.fixture(scope="module")
def gunicorn_trees(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("gunicorn")
    (tmp_path / "wapp.py").write_text(WSGI_APP)
    (tmp_path / "gconf.py").write_text(
        'workers = 2\nthreads = 2\nworker_class = "gthread"\nbind = "unix:%s"\n' % (tmp_path / "configured.sock"))
    gunicorn_script = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    configured = _start(tmp_path, "configured", [sys.executable, gunicorn_script, "-c", "gconf.py", "wapp:app"],
                        {"GUNICORN_CMD_ARGS": "--threads 3"})
    try:
        plain = _start(tmp_path, "plain", [
            sys.executable, "-m", "gunicorn", "-w", "2", "--no-control-socket", "-b",
            "unix:%s" % (tmp_path / "plain.sock"), "-p", str(tmp_path / "plain.pid"), "wapp:app"])
    except BaseException:
        configured.terminate()
        raise
    yield {"tmp_path": tmp_path, "configured": configured, "plain": plain}
    for proc in (configured, plain):
        proc.send_signal(signal.SIGTERM)
    for proc in (configured, plain):
        proc.wait(timeout=30)


def _instance(instances, pid):
    found = [instance for instance in instances if instance["master_pid"] == pid]
    assert len(found) == 1, instances
    return found[0]


def test_discovers_masters_and_their_workers(gunicorn_trees):
    instances, pidfile_pid = discover_instances()
    assert pidfile_pid is None
    for name in ("configured", "plain"):
        master = psutil.Process(gunicorn_trees[name].pid)
        instance = _instance(instances, master.pid)
        assert instance["worker_pids"] == sorted(child.pid for child in master.children())
        assert len(instance["worker_pids"]) == 2
        # Workers are never reported as masters of their own.
        assert not set(instance["worker_pids"]) & set(i["master_pid"] for i in instances)


def test_settings_from_config_file_and_gunicorn_cmd_args(gunicorn_trees):
    instances = discover_instances()[0]
    instance = _instance(instances, gunicorn_trees["configured"].pid)
    tmp_path = gunicorn_trees["tmp_path"]
    assert instance["config"] == str(tmp_path / "gconf.py")
    assert (instance["worker_class"], instance["workers"], instance["threads"]) == ("gthread", 2, 3)
    assert instance["bind"] == ["unix:%s" % (tmp_path / "configured.sock")]
    assert instance["settings_source"] == {"worker_class": "config", "workers": "config", "threads": "env",
                                           "bind": "config"}
    assert instance["wsgi_app"] == "wapp:app"
    assert instance["notes"] == []


def test_settings_from_python_m_gunicorn_command_line(gunicorn_trees):
    instances = discover_instances()[0]
    instance = _instance(instances, gunicorn_trees["plain"].pid)
    assert (instance["worker_class"], instance["workers"], instance["threads"]) == ("sync", 2, 1)
    assert instance["settings_source"]["workers"] == "cmdline"
    assert instance["settings_source"]["worker_class"] == "default"
    assert instance["config"] is None
    assert instance["unit"] is None          # no systemd on this test machine


def test_memory_is_measured_per_worker(gunicorn_trees):
    instances = discover_instances()[0]
    memory = _instance(instances, gunicorn_trees["plain"].pid)["memory"]
    expected_metric = "uss" if os.geteuid() == 0 else memory["metric"]
    assert memory["metric"] == expected_metric
    assert 0 < memory["worker_mean_bytes"] <= memory["worker_max_bytes"] < 1024 ** 3
    assert memory["workers_total_bytes"] >= 2 * memory["worker_mean_bytes"] - 2
    assert memory["total_bytes"] == memory["master_bytes"] + memory["workers_total_bytes"]
    if memory["metric"] == "uss":
        assert memory["pss_total_bytes"] >= memory["total_bytes"] * 0.5


def test_finds_the_master_from_its_pidfile(gunicorn_trees):
    pidfile = str(gunicorn_trees["tmp_path"] / "plain.pid")
    instances, pidfile_pid = discover_instances(pidfile)
    assert pidfile_pid == gunicorn_trees["plain"].pid
    assert _instance(instances, pidfile_pid)["pidfile"] == pidfile


def test_missing_pidfile_is_ignored(gunicorn_trees, tmp_path):
    instances, pidfile_pid = discover_instances(str(tmp_path / "nope.pid"))
    assert pidfile_pid is None and instances


def test_match_by_wsgi_app(gunicorn_trees):
    instances = discover_instances()[0]
    pids = set(i["master_pid"] for i in match_instances(instances, "wapp"))
    assert pids >= {gunicorn_trees["plain"].pid, gunicorn_trees["configured"].pid}
