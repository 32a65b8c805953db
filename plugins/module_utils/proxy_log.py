# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the proxy's clients saw, from Nginx's access log: statuses (502 and 504 above all) and the upstream
response times. Pure parsing, standard library only.

The log format it reads is Nginx's ``combined`` with the timings appended (docs/role.md):

    log_format gunicorn '$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent '
                        '"$http_referer" "$http_user_agent" rt=$request_time urt=$upstream_response_time '
                        'ust=$upstream_status';

Lines in plain ``combined`` are counted too, without times. ``$upstream_response_time`` lists one time per
upstream tried (``0.012, 0.004`` or ``0.012 : 0.004``, ``-`` when none answered): their sum is the line's
upstream time.
"""

from __future__ import annotations

import datetime
import math
import re

LINE = re.compile(r'\[(?P<time>[^\]]+)\] "(?P<request>[^"]*)" (?P<status>\d{3}) ')
FIELD = re.compile(r'\b(rt|urt|ust)=("[^"]*"|[-\d.]+(?:\s*[,:]\s*[-\d.]+)*|\S+)')
TIME_FORMAT = "%d/%b/%Y:%H:%M:%S %z"
# The statuses of a proxy whose upstream failed: 502 (refused, reset, bad answer), 504 (read timeout).
PROXY_ERRORS = ("502", "504")
LOG_FORMAT = ("'$remote_addr - $remote_user [$time_local] \"$request\" $status $body_bytes_sent "
              "\"$http_referer\" \"$http_user_agent\" rt=$request_time urt=$upstream_response_time "
              "ust=$upstream_status'")


def _times(value):
    if value is None:
        return None
    parts = [p for p in re.split(r"[,:\s]+", value.strip('"')) if p]
    numbers = [float(p) for p in parts if p != "-" and re.match(r"^\d+(\.\d+)?$", p)]
    return round(sum(numbers), 3) if numbers else None


def parse_line(line):
    """{'time': aware datetime, 'status', 'request_time', 'upstream_time'} of one line, or None."""
    match = LINE.search(line)
    if not match:
        return None
    try:
        when = datetime.datetime.strptime(match.group("time"), TIME_FORMAT)
    except ValueError:
        return None
    fields = dict(FIELD.findall(line[match.end():]))
    return {"time": when, "status": match.group("status"), "request_time": _times(fields.get("rt")),
            "upstream_time": _times(fields.get("urt")), "timed": "urt" in fields}


def percentile(values, pct):
    """Nearest-rank percentile of a list (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, int(math.ceil(pct / 100.0 * len(ordered))) - 1)]


def summarize(lines, since=None, until=None):
    """Counts and times of the lines from ``since`` to ``until`` (aware datetimes; None: no bound): requests,
    by_status, proxy_errors (502 + 504), error_rate_percent, upstream and request times (p50/p95/max, seconds),
    the window the lines cover, and how many lines were not in the format."""
    statuses, upstream, request, unparsed, timed = {}, [], [], 0, 0
    first = last = None
    for line in lines:
        if not line.strip():
            continue
        entry = parse_line(line)
        if entry is None:
            unparsed += 1
            continue
        if (since and entry["time"] < since) or (until and entry["time"] > until):
            continue
        statuses[entry["status"]] = statuses.get(entry["status"], 0) + 1
        first = entry["time"] if first is None else min(first, entry["time"])
        last = entry["time"] if last is None else max(last, entry["time"])
        timed += 1 if entry["timed"] else 0
        if entry["upstream_time"] is not None:
            upstream.append(entry["upstream_time"])
        if entry["request_time"] is not None:
            request.append(entry["request_time"])
    total = sum(statuses.values())
    errors = sum(statuses.get(code, 0) for code in PROXY_ERRORS)
    return {
        "requests": total,
        "by_status": dict(sorted(statuses.items())),
        "status_502": statuses.get("502", 0),
        "status_504": statuses.get("504", 0),
        "proxy_errors": errors,
        "error_rate_percent": round(100.0 * errors / total, 3) if total else None,
        "non_2xx": sum(count for code, count in statuses.items() if not code.startswith("2")),
        "upstream_p50_s": percentile(upstream, 50),
        "upstream_p95_s": percentile(upstream, 95),
        "upstream_max_s": max(upstream) if upstream else None,
        "request_p95_s": percentile(request, 95),
        "timed_lines": timed,
        "unparsed_lines": unparsed,
        "first": first.isoformat() if first else None,
        "last": last.isoformat() if last else None,
    }
