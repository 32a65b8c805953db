"""Requests a URL in a loop until SIGTERM or a time limit, then writes counts as JSON.

Used by the rollback scenarios to prove that the app answered throughout a deploy. Bounded:
at most --seconds seconds and one request every --interval seconds, to the test host's own
loopback only.
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
parser.add_argument("--seconds", type=float, default=120)
parser.add_argument("--interval", type=float, default=0.05)
args = parser.parse_args()
if not args.url.startswith(("http://127.", "http://localhost", "http://[::1]")):
    raise SystemExit("prober: loopback URLs only")

stop = False


def on_term(*_):
    global stop  # pylint: disable=global-statement
    stop = True


signal.signal(signal.SIGTERM, on_term)
counts = {"sent": 0, "ok": 0, "failed": 0, "errors": []}
deadline = time.monotonic() + args.seconds
while not stop and time.monotonic() < deadline:
    counts["sent"] += 1
    try:
        with urllib.request.urlopen(args.url, timeout=10) as response:
            response.read()
            counts["ok"] += 1
    except (urllib.error.URLError, OSError) as exc:
        counts["failed"] += 1
        if len(counts["errors"]) < 20:
            counts["errors"].append("%.3f %s" % (time.time(), exc))
    time.sleep(args.interval)
with open(args.out, "w", encoding="utf-8") as handle:
    json.dump(counts, handle)
