# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gunicorn_baseline run as a module process on this machine: its result keys, its sockets and database
connections against real ones, the journal through a stand-in journalctl, and its refusals."""

from __future__ import annotations

import json
import socket

import pytest

from ansible.module_utils.basic import AnsibleModule
from core_compat import patch_module_args

from ansible_collections.djangoops.gunicorn.plugins.modules import gunicorn_baseline

psutil = pytest.importorskip("psutil", reason="psutil is required by gunicorn_baseline")

RESULT_KEYS = {"changed", "cpu", "memory", "swap", "listeners", "db_connections", "journal", "errors"}
JOURNAL_JSON = json.dumps({"MESSAGE": "[CRITICAL] WORKER TIMEOUT (pid:7)", "_SYSTEMD_UNIT": "gunicorn-mysite.service",
                           "__REALTIME_TIMESTAMP": "1795708860000000"})


def run_module(capsys, **args):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            gunicorn_baseline.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def journalctl(tmp_path, monkeypatch):
    """A journalctl that prints one WORKER TIMEOUT line and exits with the code written to its rc file."""
    script = tmp_path / "journalctl"
    (tmp_path / "rc").write_text("0")
    (tmp_path / "lines").write_text(JOURNAL_JSON + "\n")
    script.write_text("#!/bin/sh\necho \"$@\" > %s/argv\ncat %s/lines\necho 'no journal' >&2\nexit $(cat %s/rc)\n"
                      % (tmp_path, tmp_path, tmp_path))
    script.chmod(0o755)
    real = AnsibleModule.get_bin_path

    def get_bin_path(self, arg, *args, **kwargs):
        return str(script) if arg == "journalctl" else real(self, arg, *args, **kwargs)
    monkeypatch.setattr(AnsibleModule, "get_bin_path", get_bin_path)
    return tmp_path


def test_capture_of_this_machine(capsys, journalctl):
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(4)
        port = server.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)) as client:
            accepted, _peer = server.accept()
            with accepted, client:
                result = run_module(capsys, db_ports=[port], journal_since="1 hour ago")
    assert set(result) >= RESULT_KEYS and result["changed"] is False
    assert result["errors"] == []
    assert result["cpu"]["sample_seconds"] == 1 and len(result["cpu"]["load"]) == 3
    assert result["memory"]["total_bytes"] > 0
    [listener] = [item for item in result["listeners"] if item["address"] == "127.0.0.1:%d" % port]
    assert listener["backlog"] == 4 and listener["queued"] == 0
    assert result["db_connections"] == {"ports": [port], "total": 1, "by_peer": {"127.0.0.1:%d" % port: 1}}
    assert result["journal"]["since"] == "1 hour ago" and result["journal"]["counts"]["worker_timeouts"] == 1
    argv = (journalctl / "argv").read_text()
    assert "--unit=gunicorn-* --since=1 hour ago --grep=WORKER TIMEOUT|" in argv


def test_no_match_in_the_journal_is_an_empty_journal(capsys, journalctl):
    (journalctl / "rc").write_text("1")
    (journalctl / "lines").write_text("")
    result = run_module(capsys, db_ports=[])
    assert result["errors"] == [] and result["db_connections"] is None
    assert sum(result["journal"]["counts"].values()) == 0


def test_a_failing_journal_is_listed_and_the_rest_captured(capsys, journalctl):
    (journalctl / "rc").write_text("2")
    result = run_module(capsys)
    assert result["errors"] == ["journal: no journal"] and result["journal"] is None
    assert result["cpu"]["busy_percent"] is not None and result["listeners"] is not None


def test_no_journalctl(capsys, monkeypatch):
    monkeypatch.setattr(AnsibleModule, "get_bin_path", lambda self, arg, *args, **kwargs: None)
    result = run_module(capsys, db_ports=[])
    assert result["errors"] == ["journal: journalctl not found"] and result["journal"] is None


@pytest.mark.parametrize("args, message", [
    pytest.param({"sample_seconds": 0}, "sample_seconds must be from 1 to 60, got 0", id="no-sample"),
    pytest.param({"sample_seconds": 61}, "sample_seconds must be from 1 to 60, got 61", id="long-sample"),
    pytest.param({"db_ports": [5432, 70000]}, "db_ports must be TCP ports", id="port-out-of-range"),
])
def test_refuses_bad_options(capsys, args, message):
    result = run_module(capsys, **args)
    assert result["failed"] and message in result["msg"]


def test_psutil_missing(capsys, monkeypatch):
    monkeypatch.setattr(gunicorn_baseline.host_baseline, "HAS_PSUTIL", False)
    result = run_module(capsys)
    assert result["failed"] and result["psutil_missing"] is True and "psutil" in result["msg"]
