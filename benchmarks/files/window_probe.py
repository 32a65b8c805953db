"""Requests a page of the test host's loopback every --interval seconds until SIGTERM or
--seconds, and writes when it failed: the failed count, the first and last failure, and the
outage window (first failure to the first success after the last failure); with --latencies also
every request's start time, latency, success and (on a failure) whether the connection was refused
(no listener). Bounded; loopback only.
"""
import argparse
import json
import signal
import time
import urllib.error
import urllib.request

parser = argparse.ArgumentParser()
parser.add_argument("--url", default="http://127.0.0.1:8000/items/")
parser.add_argument("--out", required=True)
parser.add_argument("--seconds", type=float, default=300)
parser.add_argument("--interval", type=float, default=0.02)
parser.add_argument("--latencies", action="store_true", help="record [start, milliseconds, ok, refused] per request")
args = parser.parse_args()
if not args.url.startswith(("http://127.", "http://localhost", "http://[::1]")):
    raise SystemExit("window_probe: loopback URLs only")

stop = False


def on_term(*_):
    global stop  # pylint: disable=global-statement
    stop = True


signal.signal(signal.SIGTERM, on_term)
result = {"sent": 0, "failed": 0, "first_failure": None, "last_failure": None, "recovered": None,
          "started": time.time(), "errors": [], "latencies": []}
deadline = time.monotonic() + args.seconds
while not stop and time.monotonic() < deadline:
    result["sent"] += 1
    now = time.time()
    try:
        with urllib.request.urlopen(args.url, timeout=30) as response:
            response.read()
        if result["last_failure"] is not None and (result["recovered"] or 0) < result["last_failure"]:
            result["recovered"] = time.time()
        ok, refused = True, False
    except (urllib.error.URLError, OSError) as exc:
        ok = False
        refused = isinstance(getattr(exc, "reason", exc), ConnectionRefusedError)
        result["failed"] += 1
        result["first_failure"] = result["first_failure"] or now
        result["last_failure"] = now
        if len(result["errors"]) < 5:
            result["errors"].append(str(exc)[:120])
    if args.latencies and len(result["latencies"]) < 50000:
        result["latencies"].append([round(now, 3), round((time.time() - now) * 1000, 1), ok, refused])
    time.sleep(args.interval)
result["stopped"] = time.time()
with open(args.out, "w", encoding="utf-8") as handle:
    json.dump(result, handle)
