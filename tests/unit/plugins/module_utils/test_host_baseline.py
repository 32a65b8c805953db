# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What gunicorn_baseline captures on a host: pure helpers with tables, and the socket reader against real
listening sockets of this test process (the kernel's sock_diag answers as it does on a host)."""

from __future__ import annotations

import collections
import errno
import os
import re
import socket

import pytest

from ansible_collections.djangoops.gunicorn.plugins.module_utils import host_baseline
from ansible_collections.djangoops.gunicorn.plugins.module_utils.host_baseline import (
    COUNTED, JOURNAL_CATEGORIES, JOURNAL_GREP, db_connections, format_address, journal_argv, parse_journal,
    procs_running, vmstat_percentages,
)
from journal_sample import JOURNAL, journal_line

psutil = pytest.importorskip("psutil", reason="psutil is required by gunicorn_baseline")

CpuTimes = collections.namedtuple("CpuTimes", "user nice system idle iowait irq softirq steal")
Address = collections.namedtuple("Address", "ip port")
Connection = collections.namedtuple("Connection", "laddr raddr status")


# -- journal ------------------------------------------------------------------------------------

def test_journal_counts_and_notable_lines():
    journal = parse_journal(JOURNAL, "24 hours ago")
    assert journal["since"] == "24 hours ago"
    assert journal["counts"] == {"worker_timeouts": 2, "workers_killed": 1, "worker_errors": 1, "boot_failures": 0,
                                 "service_failures": 1, "worker_boots": 2, "service_reloads": 1, "service_starts": 1}
    assert journal["canary_counts"] == dict((name, 1 if name in ("worker_boots", "service_starts") else 0)
                                            for name in COUNTED)
    assert [line["category"] for line in journal["lines"]] == [
        "worker_timeouts", "workers_killed", "worker_errors", "service_failures", "worker_timeouts"]
    assert journal["lines"][0] == {"time": "2026-11-26T16:01:00Z", "unit": "gunicorn-mysite.service",
                                   "category": "worker_timeouts",
                                   "message": "[2026-11-26 16:01:00 +0000] [1534] [CRITICAL] WORKER TIMEOUT (pid:1535)"}
    assert journal["lines"][3]["unit"] == "gunicorn-mysite.service"
    assert journal["lines"][4]["message"].startswith("WORKER TIMEOUT ")


def test_notable_lines_are_the_last_twenty():
    text = "\n".join(journal_line("WORKER TIMEOUT (pid:%d)" % number, when=1795708206000000 + number * 1000000)
                     for number in range(30))
    lines = parse_journal(text)["lines"]
    assert [line["message"] for line in lines] == ["WORKER TIMEOUT (pid:%d)" % number for number in range(10, 30)]


def test_parser_ignores_what_it_does_not_know():
    assert parse_journal("")["counts"] == dict((name, 0) for name in COUNTED)
    assert parse_journal("[1, 2]\n42\n")["lines"] == []


def test_journalctl_greps_what_the_parser_classifies():
    argv = journal_argv("/usr/bin/journalctl", "gunicorn-*", "2 hours ago")
    assert argv[:3] == ["/usr/bin/journalctl", "--unit=gunicorn-*", "--since=2 hours ago"]
    assert "--grep=" + JOURNAL_GREP in argv and "--output=json" in argv
    assert [name for name, pattern in JOURNAL_CATEGORIES] == list(COUNTED)


@pytest.mark.parametrize("message, category", [
    ("[CRITICAL] WORKER TIMEOUT (pid:1535)", "worker_timeouts"),
    ("Worker (pid:1537) was sent SIGKILL! Perhaps out of memory?", "workers_killed"),
    ("Worker (pid:1540) exited with code 1.", "worker_errors"),
    ("Worker failed to boot.", "boot_failures"),
    ("App failed to load.", "boot_failures"),
    ("gunicorn-mysite.service: Main process exited, code=exited", "service_failures"),
    ("gunicorn-mysite.service: Failed with result 'exit-code'.", "service_failures"),
    ("[INFO] Booting worker with pid: 1535", "worker_boots"),
    ("Reloaded gunicorn-mysite.service - Gunicorn", "service_reloads"),
    ("Started gunicorn-mysite.service - Gunicorn", "service_starts"),
])
def test_each_category_is_in_the_grep(message, category):
    assert re.search(JOURNAL_GREP, message)
    [got] = [name for name, count in parse_journal(journal_line(message))["counts"].items() if count]
    assert got == category


# -- CPU sample -----------------------------------------------------------------------------------

def times(user=0.0, nice=0.0, system=0.0, idle=0.0, iowait=0.0, irq=0.0, softirq=0.0, steal=0.0):
    return CpuTimes(user, nice, system, idle, iowait, irq, softirq, steal)


@pytest.mark.parametrize("after, expected", [
    pytest.param(times(user=50, system=11, idle=38, iowait=1), {"us": 50, "sy": 11, "id": 38, "wa": 1, "st": 0},
                 id="plain"),
    pytest.param(times(user=30, nice=14, system=15, irq=3, softirq=3, idle=30, iowait=4, steal=1),
                 {"us": 44, "sy": 21, "id": 30, "wa": 4, "st": 1}, id="nice-and-interrupts-grouped-as-vmstat"),
    pytest.param(times(user=1, idle=2), {"us": 33, "sy": 0, "id": 67, "wa": 0, "st": 0}, id="rounded-half-up"),
    pytest.param(times(user=1, idle=7), {"us": 13, "sy": 0, "id": 88, "wa": 0, "st": 0}, id="12.5-rounds-up"),
    pytest.param(times(), {"us": 0, "sy": 0, "id": 100, "wa": 0, "st": 0}, id="no-time-passed"),
])
def test_vmstat_percentages(after, expected):
    assert vmstat_percentages(times(), after) == expected


def test_vmstat_percentages_ignore_counters_that_went_back():
    assert vmstat_percentages(times(user=10, idle=10), times(user=5, idle=20)) == {
        "us": 0, "sy": 0, "id": 100, "wa": 0, "st": 0}


@pytest.mark.parametrize("text, expected", [
    ("cpu  1 2 3 4\nprocs_running 3\nprocs_blocked 0\n", 3),
    ("procs_running 0\n", 0),
    ("cpu 1 2 3\n", None),
    ("procs_running many\n", None),
    ("", None),
])
def test_procs_running(text, expected):
    assert procs_running(text) == expected


def test_cpu_and_swap_sample_of_this_machine():
    cpu, memory, swap = host_baseline.cpu_and_swap_sample(1)
    assert len(cpu["load"]) == 3 and cpu["sample_seconds"] == 1
    assert 98 <= cpu["busy_percent"] + cpu["iowait_percent"] + cpu["steal_percent"] + cpu["idle_percent"] <= 102
    assert cpu["run_queue"] >= 1  # this test is running
    assert memory["total_bytes"] >= memory["available_bytes"] > 0
    assert 0 <= swap["used_bytes"] <= swap["total_bytes"]
    assert swap["in_kib_per_second"] >= 0 and swap["out_kib_per_second"] >= 0


# -- sockets --------------------------------------------------------------------------------------

@pytest.mark.parametrize("family, address, port, text", [
    (socket.AF_INET, "127.0.0.1", 8000, "127.0.0.1:8000"),
    (socket.AF_INET, "0.0.0.0", 80, "0.0.0.0:80"),
    (socket.AF_INET6, "::", 80, "[::]:80"),
    (socket.AF_INET6, "::ffff:10.0.0.9", 5432, "[::ffff:10.0.0.9]:5432"),
])
def test_addresses_as_ss_prints_them(family, address, port, text):
    assert format_address(family, address, port) == text


def connection(remote, status="ESTABLISHED"):
    return Connection(Address("10.0.0.5", 51234), Address(*remote) if remote else (), status)


@pytest.mark.parametrize("connections, ports, expected", [
    pytest.param([connection(("10.0.0.9", 5432)), connection(("10.0.0.9", 5432)), connection(("10.0.0.10", 6432))],
                 [5432, 6432], {"10.0.0.9:5432": 2, "10.0.0.10:6432": 1}, id="by-peer"),
    pytest.param([connection(("10.0.0.9", 5432), status="TIME_WAIT"), connection(None, status="LISTEN")],
                 [5432], {}, id="established-only"),
    pytest.param([connection(("10.0.0.9", 5433)), connection(("::1", 5432))], [5432], {"[::1]:5432": 1},
                 id="other-ports-left-out-ipv6-in-brackets"),
])
def test_db_connections(connections, ports, expected):
    assert db_connections(connections, ports) == {"ports": ports, "total": sum(expected.values()),
                                                  "by_peer": expected}


@pytest.fixture
def comm():
    with open("/proc/self/comm") as handle:
        return handle.read().strip()


def read_listeners():
    found, errors = host_baseline.listeners()
    assert errors == []
    return found


def by_address(listeners, address):
    [found] = [listener for listener in listeners if listener["address"] == address]
    return found


def test_tcp_listener_with_waiting_connections(comm):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(7)
        port = server.getsockname()[1]
        clients = [socket.create_connection(("127.0.0.1", port)) for _attempt in range(2)]
        try:
            got = by_address(read_listeners(), "127.0.0.1:%d" % port)
        finally:
            for client in clients:
                client.close()
    assert got == {"proto": "tcp", "address": "127.0.0.1:%d" % port, "queued": 2, "backlog": 7,
                   "processes": [comm]}


def test_ipv6_listener():
    if not socket.has_ipv6:
        pytest.skip("no IPv6 in this Python")
    with socket.socket(socket.AF_INET6) as server:
        try:
            server.bind(("::1", 0))
        except OSError as exc:
            pytest.skip("no IPv6 loopback here: %s" % exc)
        server.listen(3)
        port = server.getsockname()[1]
        got = by_address(read_listeners(), "[::1]:%d" % port)
    assert (got["proto"], got["queued"], got["backlog"]) == ("tcp", 0, 3)


def test_unix_listeners_by_path_and_abstract_name(tmp_path, comm):
    path = str(tmp_path / "app.sock")
    abstract = "djangoops-test-%d" % os.getpid()
    with socket.socket(socket.AF_UNIX) as named, socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET) as hidden:
        named.bind(path)
        named.listen(5)
        hidden.bind("\0" + abstract)
        hidden.listen(9)
        with socket.socket(socket.AF_UNIX) as client:
            client.connect(path)
            found = read_listeners()
    assert by_address(found, path) == {"proto": "unix", "address": path, "queued": 1, "backlog": 5,
                                       "processes": [comm]}
    assert by_address(found, "@" + abstract)["backlog"] == 9


def test_a_closed_socket_is_not_listed():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        address = "127.0.0.1:%d" % server.getsockname()[1]
    assert address not in [listener["address"] for listener in read_listeners()]


def refuse(code):
    def reader(*args):
        raise host_baseline.SocketDiagError("sock_diag refused the request: %s" % os.strerror(code), code)
    return reader


@pytest.mark.parametrize("broken, code, errors", [
    pytest.param("unix_listeners", errno.ENOENT,
                 ["listeners (unix): sock_diag refused the request: No such file or directory"],
                 id="no-unix-diag-keeps-tcp"),
])
def test_a_kind_of_socket_that_cannot_be_read_is_named(monkeypatch, broken, code, errors):
    monkeypatch.setattr(host_baseline, broken, refuse(code))
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        address = "127.0.0.1:%d" % server.getsockname()[1]
        found, got_errors = host_baseline.listeners()
    assert got_errors == errors
    assert by_address(found, address)["proto"] == "tcp"
    assert all(listener["proto"] == "tcp" for listener in found)


@pytest.mark.parametrize("code, errors", [
    pytest.param(errno.ENOENT, [], id="kernel-without-ipv6-is-not-an-error"),
    pytest.param(errno.EPERM, ["listeners (tcp6): sock_diag refused the request: Operation not permitted"],
                 id="other-refusal-is-named"),
])
def test_tcp6_refusals(monkeypatch, code, errors):
    real = host_baseline.tcp_listeners

    def tcp_listeners(family):
        if family == socket.AF_INET6:
            refuse(code)()
        return real(family)
    monkeypatch.setattr(host_baseline, "tcp_listeners", tcp_listeners)
    assert host_baseline.listeners()[1] == errors


def test_nothing_readable_is_none(monkeypatch):
    monkeypatch.setattr(host_baseline, "tcp_listeners", refuse(errno.EPERM))
    monkeypatch.setattr(host_baseline, "unix_listeners", refuse(errno.EPERM))
    found, errors = host_baseline.listeners()
    assert found is None and len(errors) == 3
