"""Requests a URL in a loop until SIGTERM or a time limit, then writes counts as JSON.

Used by the rollback, fault and hand-over scenarios to prove that the app answered throughout a
deploy. Bounded: at most --seconds seconds, --concurrency clients (one request each at a time,
every --interval seconds), to the test host's own loopback only.

Counts: sent, ok (200), failed (anything else), and failed split into refused (no listener:
the outage a hand-over must never cause), http_error (an HTTP answer other than 200, with its
status in statuses) and other (timeouts, resets); errors holds the first 20 with a timestamp.
"""
import argparse
import http.client
import json
import signal
import threading
import time
import urllib.error
import urllib.request

parser = argparse.ArgumentParser()
parser.add_argument("--url", default="http://127.0.0.1:8000/items/")
parser.add_argument("--out", required=True)
parser.add_argument("--seconds", type=float, default=120)
parser.add_argument("--interval", type=float, default=0.05)
parser.add_argument("--concurrency", type=int, default=1, choices=range(1, 9))
args = parser.parse_args()
if not args.url.startswith(("http://127.", "http://localhost", "http://[::1]")):
    raise SystemExit("prober: loopback URLs only")

stop = threading.Event()
lock = threading.Lock()
counts = {"sent": 0, "ok": 0, "failed": 0, "refused": 0, "http_error": 0, "other": 0, "statuses": {},
          "errors": []}


def on_term(*_):
    stop.set()


def note(kind, detail):
    with lock:
        counts["failed"] += 1
        counts[kind] += 1
        if len(counts["errors"]) < 20:
            counts["errors"].append("%.3f %s %s" % (time.time(), kind, detail))


def client(deadline):
    while not stop.is_set() and time.monotonic() < deadline:
        with lock:
            counts["sent"] += 1
        try:
            with urllib.request.urlopen(args.url, timeout=10) as response:
                response.read()
            with lock:
                counts["ok"] += 1
        except urllib.error.HTTPError as exc:
            with lock:
                counts["statuses"][str(exc.code)] = counts["statuses"].get(str(exc.code), 0) + 1
            note("http_error", exc.code)
        except urllib.error.URLError as exc:
            refused = isinstance(exc.reason, ConnectionRefusedError)
            note("refused" if refused else "other", exc.reason)
        except (OSError, http.client.HTTPException) as exc:
            note("refused" if isinstance(exc, ConnectionRefusedError) else "other", exc)
        stop.wait(args.interval)


signal.signal(signal.SIGTERM, on_term)
end = time.monotonic() + args.seconds
clients = [threading.Thread(target=client, args=(end,)) for _client in range(args.concurrency)]
for thread in clients:
    thread.start()
while any(thread.is_alive() for thread in clients):
    # The main thread waits in short steps so that SIGTERM's handler runs at once.
    time.sleep(0.05)
with open(args.out, "w", encoding="utf-8") as handle:
    json.dump(counts, handle)
