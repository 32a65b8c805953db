# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gunicorn_loadtest: target checks, wrk's command line and summary, CPU accounting, and one real
bounded wrk run against a real Gunicorn on loopback (a WSGI app that answers 200, then 500)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from ansible_collections.djangoops.gunicorn.plugins.module_utils import gunicorn_procs, loadtest
from ansible_collections.djangoops.gunicorn.plugins.module_utils.loadtest import LoadTestError

psutil = pytest.importorskip("psutil", reason="psutil is required by gunicorn_loadtest")


@pytest.mark.parametrize("bind, expected", [
    ("127.0.0.1:8000", "http://127.0.0.1:8000"),
    ("0.0.0.0:8000", "http://127.0.0.1:8000"),
    ("[::]:8000", "http://[::1]:8000"),
    ("[::1]:8001", "http://[::1]:8001"),
    ("localhost:8000", "http://127.0.0.1:8000"),
    ("http://127.0.0.2:81", "http://127.0.0.2:81"),
])
def test_url_from_bind(bind, expected):
    assert loadtest.url_from_bind(bind) == expected


@pytest.mark.parametrize("url, paths, message", [
    ("unix:/run/gunicorn.sock", ["/"], "is a unix socket"),
    ("127.0.0.1", ["/"], "has no port"),
    ("10.1.2.3:8000", ["/"], "only to this host's loopback"),
    ("http://example.com:80", ["/"], "only to this host's loopback"),
    ("http://192.168.1.10", ["/"], "only to this host's loopback"),
    ("ftp://127.0.0.1:21", ["/"], "scheme must be http or https"),
    ("http://127.0.0.1:8000/items/", ["/"], "the pages go in paths"),
    ("http://127.0.0.1:8000", [], "at least one page"),
    ("http://127.0.0.1:8000", ["items/"], "not an absolute path"),
    ("http://127.0.0.1:8000", ["/a b"], "not an absolute path"),
])
def test_check_target_refuses(url, paths, message):
    with pytest.raises(LoadTestError, match=message):
        loadtest.check_target(url, paths)


def test_check_target_keeps_loopback():
    assert loadtest.check_target("0.0.0.0:8000", ["/items/", "/io/?ms=5"]) == (
        "http://127.0.0.1:8000", ["/items/", "/io/?ms=5"])


@pytest.mark.parametrize("profile, message", [
    ((0, 1, 10, 0, 5), "connections must be from 1 to 1000"),
    ((20, 2, 301, 0, 5), "duration must be from 1 to 300"),
    ((20, 2, 10, 121, 5), "warmup must be from 0 to 120"),
    ((20, 2, 10, 0, 0), "timeout must be from 1 to 60"),
    ((2, 4, 10, 0, 5), "threads \\(4\\) cannot exceed connections \\(2\\)"),
])
def test_check_profile_caps(profile, message):
    with pytest.raises(LoadTestError, match=message):
        loadtest.check_profile(*profile)


@pytest.mark.parametrize("headers, keepalive, expected", [
    ({}, False, {"Connection": "close"}),
    ({}, True, {}),
    ({"Host": "www.example.com"}, False, {"Host": "www.example.com", "Connection": "close"}),
    ({"connection": "keep-alive"}, False, {"connection": "keep-alive"}),
])
def test_request_headers(headers, keepalive, expected):
    assert loadtest.request_headers(headers, keepalive) == expected


def test_wrk_command():
    assert loadtest.wrk_command("wrk", "/tmp/s.lua", "http://127.0.0.1:8000", ["/a", "/b"], 20, 2, 10, 5,
                                {"Host": "www.example.com"}) == [
        "wrk", "--threads", "2", "--connections", "20", "--duration", "10s", "--timeout", "5s", "--script",
        "/tmp/s.lua", "--header", "Host: www.example.com", "http://127.0.0.1:8000", "--", "/a", "/b"]


RAW = {"requests": 2000, "duration_us": 10000000, "bytes": 1, "connect": 0, "read": 1, "write": 0, "status": 3,
       "timeout": 2, "p50_us": 40000, "p90_us": 80000, "p95_us": 95500, "p99_us": 150000, "max_us": 300000,
       "mean_us": 45000.0}


def test_parse_and_summarize():
    text = "Running 10s test\n%s{\"requests\": 2000, \"duration_us\": 10000000}\n" % loadtest.RESULT_MARKER
    assert loadtest.parse_wrk_output(text) == {"requests": 2000, "duration_us": 10000000}
    summary = loadtest.summarize_load(RAW)
    assert summary["rps"] == 200.0
    assert (summary["p50_ms"], summary["p95_ms"], summary["p99_ms"]) == (40.0, 95.5, 150.0)
    assert summary["errors"] == 6 and summary["non_2xx_3xx"] == 3
    assert summary["socket_errors"] == {"connect": 0, "read": 1, "write": 0, "timeout": 2}
    assert summary["error_rate"] == round(6 / 2002.0, 6)


def test_parse_without_summary_names_the_output():
    with pytest.raises(LoadTestError, match="wrk printed no summary: unable to connect"):
        loadtest.parse_wrk_output("unable to connect to 127.0.0.1:1 Connection refused\n")


def test_cpu_delta_keeps_the_time_of_exited_workers():
    start = ({"user": 1.0, "system": 0.5, "children_user": 0.0, "children_system": 0.0},
             {10: {"user": 2.0, "system": 1.0}, 11: {"user": 2.0, "system": 0.0}})
    # Worker 11 exited after using 1 more second (now in the master's children times); 12 is new.
    end = ({"user": 1.5, "system": 0.5, "children_user": 3.0, "children_system": 0.0},
           {10: {"user": 4.0, "system": 1.0}, 12: {"user": 0.5, "system": 0.0}})
    assert loadtest.cpu_delta(start, end) == pytest.approx(0.5 + 2.0 + 1.0 + 0.5)


def test_gunicorn_summary_without_samples():
    assert loadtest.gunicorn_summary(2.0, 4.0, None, 3)["cpu_cores"] == 0.5


def run(argv):
    """What AnsibleModule.run_command returns."""
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, universal_newlines=True, check=False)
    return proc.returncode, proc.stdout, proc.stderr


def test_bounded_runs_under_timeout():
    assert loadtest.bounded(["wrk", "-d", "5s"], 40) == ["timeout", "--kill-after=5", "40s", "wrk", "-d", "5s"]


def test_a_run_that_outlives_its_bound_is_reported():
    with pytest.raises(LoadTestError, match="did not finish within 1 s"):
        loadtest._run_wrk(run, ["sleep", "10"], 1)


def test_a_missing_wrk_is_named():
    with pytest.raises(LoadTestError, match="cannot run /nonexistent/wrk"):
        loadtest._run_wrk(run, ["/nonexistent/wrk"], 5)


def _free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def loopback_gunicorn(tmp_path):
    pytest.importorskip("gunicorn", reason="gunicorn is not installed in this Python (pip install gunicorn)")
    (tmp_path / "loadapp.py").write_text(
        "def app(environ, start_response):\n"
        "    status = '500 Internal Server Error' if environ['PATH_INFO'] == '/broken' else '200 OK'\n"
        "    start_response(status, [('Content-Type', 'text/plain')])\n"
        "    return [b'ok']\n")
    port = _free_port()
    env = dict(os.environ, HOME=str(tmp_path), PYTHONPATH=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-m", "gunicorn", "-w", "2", "--no-control-socket",
                             "-b", "127.0.0.1:%d" % port, "loadapp:app"],
                            cwd=str(tmp_path), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 20
    while time.time() < deadline and proc.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            time.sleep(0.1)
    yield proc, port
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=30)


@pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk is not installed (apt-get install wrk)")
def test_real_run_measures_load_and_gunicorn(loopback_gunicorn):
    proc, port = loopback_gunicorn
    result = loadtest.run_load(run, psutil, gunicorn_procs.summarize_memory, proc.pid, "wrk", "http://127.0.0.1:%d" % port,
                               ["/a", "/broken"], connections=4, threads=1, duration=2, warmup=1, timeout=2,
                               sample_interval=0.5)
    load = result["load"]
    assert load["requests"] > 100
    # Every second request is /broken: wrk counts its 500s as status errors.
    assert load["non_2xx_3xx"] == pytest.approx(load["requests"] / 2.0, abs=8)
    assert 0.4 < load["error_rate"] < 0.6
    assert 0 < load["p50_ms"] <= load["p95_ms"] <= load["p99_ms"] <= load["max_ms"]
    assert result["warmup"]["requests"] > 0
    gunicorn = result["gunicorn"]
    assert gunicorn["master_pid"] == proc.pid and gunicorn["workers"] == 2
    assert gunicorn["cpu_seconds"] > 0 and gunicorn["memory_total_mb"] > gunicorn["memory_per_worker_mb"] > 1
    assert result["loadgen"]["tool"] == "wrk" and result["loadgen"]["cpu_seconds"] > 0
    assert result["cmd"][0] == "wrk" and result["cmd"][-2:] == ["/a", "/broken"]


def test_real_run_against_a_closed_port_fails_clearly():
    if shutil.which("wrk") is None:
        pytest.skip("wrk is not installed (apt-get install wrk)")
    with pytest.raises(LoadTestError, match="connect|refused|no summary|wrk failed"):
        loadtest.run_load(run, psutil, gunicorn_procs.summarize_memory, None, "wrk", "http://127.0.0.1:%d" % _free_port(),
                          ["/"], connections=1, threads=1, duration=1, warmup=0, timeout=1)
