# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Nginx's access log: statuses, 502/504 and upstream times over a window."""

from __future__ import annotations

import datetime

from ansible_collections.djangoops.gunicorn.plugins.module_utils.proxy_log import parse_line, percentile, summarize

T = "02/Dec/2026:01:00:%02d +0000"


def line(second, status, rt="0.012", urt="0.010", ust=None):
    text = '127.0.0.1 - - [%s] "GET /items/ HTTP/1.1" %s 512 "-" "wrk"' % (T % second, status)
    if urt is not None:
        text += " rt=%s urt=%s ust=%s" % (rt, urt, ust or status)
    return text


LOG = [line(0, 200), line(1, 200, urt="0.030"), line(2, 502, urt="-", ust="-"), line(3, 504, urt="30.001"),
       line(4, 200, urt="0.004, 0.006"), line(5, 200, urt="0.002 : 0.003"), line(6, 404), "garbage", "",
       line(7, 200, urt=None)]


def test_summary():
    summary = summarize(LOG)
    assert summary["requests"] == 8
    assert (summary["status_502"], summary["status_504"], summary["proxy_errors"]) == (1, 1, 2)
    assert summary["error_rate_percent"] == 25.0
    assert summary["non_2xx"] == 3
    assert summary["by_status"] == {"200": 5, "404": 1, "502": 1, "504": 1}
    # Upstream times of the timed lines: 0.010 0.030 30.001 0.010 0.005 0.010 (502 had none).
    assert summary["upstream_max_s"] == 30.001
    assert summary["upstream_p50_s"] == 0.01
    assert summary["timed_lines"] == 7 and summary["unparsed_lines"] == 1


def test_window():
    since = datetime.datetime(2026, 12, 2, 1, 0, 2, tzinfo=datetime.timezone.utc)
    until = datetime.datetime(2026, 12, 2, 1, 0, 3, tzinfo=datetime.timezone.utc)
    summary = summarize(LOG, since=since, until=until)
    assert summary["requests"] == 2 and summary["proxy_errors"] == 2


def test_retries_add_up_and_plain_combined_has_no_times():
    assert parse_line(line(4, 200, urt="0.004, 0.006"))["upstream_time"] == 0.01
    entry = parse_line(line(7, 200, urt=None))
    assert entry["status"] == "200" and entry["upstream_time"] is None and not entry["timed"]


def test_empty_log():
    summary = summarize([])
    assert summary["requests"] == 0 and summary["error_rate_percent"] is None and summary["upstream_p95_s"] is None


def test_percentile_nearest_rank():
    assert percentile(list(range(1, 101)), 95) == 95
    assert percentile([3.0], 95) == 3.0
