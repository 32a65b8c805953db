"""Going live by hand-over: failed requests and latency under load for every change kind, beside a
no-change control and the previous version's HUP and restart, in one run.

    python benchmarks/handover.py changes [--runs 5] [--worker-class sync|gthread] [--window 45]
    python benchmarks/handover.py bad [--runs 5]
    python benchmarks/handover.py bind [--runs 5]
    python benchmarks/handover.py priority [--runs 5] [--window 60]
    python benchmarks/handover.py revision [--runs 5] [--window 60]

The load of benchmarks/reload_under_load.py: wrk inside the test host against its own loopback, 10
connections on /io/?ms=50 and 10 on /items/, the action starting after one second of load
(benchlib.load_window).

- changes: each round, on djangoops-bench-b (socket activation, the default) a no-change control
  (molecule/shared/deploy.yml with the same values) and one window per change kind, each deployed
  by this checkout: a gunicorn.conf.py setting (timeout, max_requests, keepalive in turn),
  the worker class to the other one (sync -> gthread with 4 threads, or gthread -> sync; switched
  back outside the windows, so every other window runs the run's class), the app environment, the
  unit (gunicorn_django_read_write_paths), preload_app on <-> off: every one goes live by
  hand-over. On djangoops-bench-a (no socket activation) the collection at --previous (the
  version before the hand-over): its no-change control, its HUP (a timeout change) and its
  restart (an environment change). Per window: failed
  requests (wrk socket errors + non-2xx), p99 per URL, and p99 / the same round's control of the
  same host (when both began with the same worker class); medians over the rounds. Give every
  window the same length with --window longer than a release takes (45 s on a quiet 2-core host):
  a window as long as its release sets minutes of a busy machine beside seconds of control.
- bad: on host b, a release with the canary off whose /items/ answers 500 (an empty database), or
  whose ROOT_URLCONF does not import: the partner master serves beside the live one until its
  gate fails. Refused connections (wrk connect errors), the 500s, and from the journal: the verdict
  (systemd stopping the partner right after its gate failed) to the last request the partner
  answered (Gunicorn's access log), and which master answered the 500s.
- priority: on host b, each round a no-change control and one gunicorn.conf.py change (timeout)
  by hand-over with gunicorn_django_boot_nice 0 and 10, in an order turned by round: what booting
  below the serving master's priority does to the latency of what it serves.
- revision: on host b, each round a no-change control, a new revision of the app in place and a
  new revision in another directory (app_dir), by hand-over, in an order turned by round.
- bind: on host b, gunicorn_django_bind's port 8000 <-> 8001 (the socket is re-created: action
  resocket) under wrk on the old port; two probers (old and new port, every 20 ms, with
  timestamps) give the refused gap (no address accepting) and the answer gap (last answer on the
  old port to the first on the new one).

With --proxy the load goes through Nginx on the same host (molecule/bench's prepare puts it in front of
the app: benchlib.PROXY_URL) and each window also reports what Nginx's clients saw, from the lines its
access log gained during the window (benchlib.ProxyLog): 502 and 504 answers next to wrk's figures.
--bench-hosts runs on two other running test hosts (in the order a, b) instead of djangoops-bench-a/-b.

Needs the hosts of `make bench-hosts` (molecule create/prepare/converge -s bench). Writes
.build/bench/handover-<mode>[-<worker class>].json and prints the Markdown tables of
docs/performance.md (--report JSON: print them again).
"""
import argparse
import json
import re
import time

import benchlib

HOSTS = {"djangoops-bench-a": {"gunicorn_django_socket_activation": False}, "djangoops-bench-b": {}}
NEW, OLD = "djangoops-bench-b", "djangoops-bench-a"
PARTNER = "gunicorn-mysite-handover.service"
BASE_ENV = {"MYSITE_DB_PATH": "/var/lib/mysite/db.sqlite3", "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost"}
RW_PATHS = (["/var/lib/mysite"], ["/var/lib/mysite", "/var/tmp"])
CONFIG_SETTINGS = (("gunicorn_django_timeout", 40), ("gunicorn_django_max_requests", 1200),
                   ("gunicorn_django_keepalive", 3))
# The 500s a canary-off release answers before its gate: (name, extra vars).
BAD = [
    ("/items/ answers 500 (empty database)",
     {"gunicorn_django_env": dict(BASE_ENV, MYSITE_DB_PATH="/tmp/empty.sqlite3")}),
    ("ROOT_URLCONF does not import (lazy)",
     {"gunicorn_django_env": dict(BASE_ENV, MYSITE_ROOT_URLCONF="mysite.nosuch_urls")}),
]
ACCESS_STATUS = re.compile(r'" (\d{3}) ')


def window(opts, host, action, seconds, urls=None):
    """benchlib.load_window straight to Gunicorn, or with --proxy through Nginx with its access log's
    figures of the window under "proxy"."""
    if not opts.proxy:
        return benchlib.load_window(host, action, seconds, urls=urls)
    log = benchlib.ProxyLog(host).start()
    row = benchlib.load_window(host, action, seconds, urls=urls, base_url=benchlib.PROXY_URL)
    row["proxy"] = log.stop()
    return row


def proxy_text(row):
    proxy = row.get("proxy")
    return " nginx 502/504 %d/%d of %d" % (proxy["status_502"], proxy["status_504"], proxy["requests"]) if proxy else ""


def flip(current, base, key, other):
    """`key` to `other` when it is at its base value, else back to the base."""
    values = dict(current)
    values[key] = other if current[key] == base[key] else base[key]
    return values


class Bench:
    def __init__(self, opts):
        self.opts = opts
        self.inventory = benchlib.write_inventory(list(HOSTS), name="inventory-handover.json", host_vars=HOSTS)
        self.base = {"gunicorn_django_workers": 3, "gunicorn_django_worker_class": opts.worker_class,
                     "gunicorn_django_threads": 1, "gunicorn_django_timeout": 30,
                     "gunicorn_django_max_requests": 1000, "gunicorn_django_keepalive": 2,
                     "gunicorn_django_preload_app": False, "gunicorn_django_env": dict(BASE_ENV),
                     "gunicorn_django_read_write_paths": RW_PATHS[0], "gunicorn_django_bind": "127.0.0.1:8000"}
        if opts.worker_class == "gthread":
            self.base.update({"gunicorn_django_workers": 2, "gunicorn_django_threads": 4})
        self.current = {}
        self.previous = None

    # -- deploys ---------------------------------------------------------------------------

    def deploy(self, host, values, expect_changed=None, previous=False):
        env = {"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"}
        if previous:
            env["ANSIBLE_COLLECTIONS_PATH"] = self.previous
        rc, seconds, out = benchlib.run_playbook(benchlib.DEPLOY, self.inventory, limit=host, extra_vars=values,
                                                 env=env, log="handover-playbooks.log")
        result = benchlib.release_result(out, host)
        info = {"rc": rc, "playbook_s": round(seconds, 2), "action": result.get("service_action"),
                "result": result.get("result"), "steps": result.get("steps") or [],
                "error_step": (result.get("error") or {}).get("step"), "release_end": result.get("_task_end")}
        if rc == 0:
            self.current[host] = values
            if expect_changed is not None and bool(result.get("changed")) != expect_changed:
                raise RuntimeError("deploy on %s: changed=%s, expected %s" % (
                    host, result.get("changed"), expect_changed))
        elif expect_changed is not None:
            raise RuntimeError("deploy on %s failed (rc=%d): %s" % (host, rc, result.get("msg")))
        return info

    def kinds(self, number):
        """(name, host, callable) of one round's windows: host b's control and change kinds (this
        checkout), host a's control, HUP and restart (the previous version)."""
        key, other = CONFIG_SETTINGS[(number - 1) % len(CONFIG_SETTINGS)]
        base = self.base
        klass = "gthread" if base["gunicorn_django_worker_class"] == "sync" else "sync"
        threads = 4 if klass == "gthread" else 1

        def new(name, change):
            return (name, NEW, lambda: self.deploy(NEW, change(self.current[NEW]), True))

        def old(name, change):
            return (name, OLD, lambda: self.deploy(OLD, change(self.current[OLD]), True, previous=True))

        def worker_class(cur):
            # One way: restore_worker_class switches back after the window.
            return dict(cur, gunicorn_django_worker_class=klass, gunicorn_django_threads=threads)

        def env(cur):
            values = dict(cur)
            marker = cur["gunicorn_django_env"].get("MYSITE_BENCH_RELEASE")
            values["gunicorn_django_env"] = dict(BASE_ENV, MYSITE_BENCH_RELEASE="2" if marker == "1" else "1")
            return values

        def rw_paths(cur):
            return flip(cur, base, "gunicorn_django_read_write_paths", RW_PATHS[1])

        windows = [
            ("control (no-change)", NEW, lambda: self.deploy(NEW, self.current[NEW], False)),
            new("setting (%s)" % key.replace("gunicorn_django_", ""), lambda cur: flip(cur, base, key, other)),
            new("worker_class %s -> %s" % (base["gunicorn_django_worker_class"], klass), worker_class),
            new("app environment", env),
            new("unit (read_write_paths)", rw_paths),
            new("preload_app on <-> off", lambda cur: flip(cur, base, "gunicorn_django_preload_app", True)),
        ]
        previous = [
            ("previous: control (no-change)", OLD,
             lambda: self.deploy(OLD, self.current[OLD], False, previous=True)),
            old("previous: HUP (timeout)", lambda cur: flip(cur, base, "gunicorn_django_timeout", 40)),
            old("previous: restart (app environment)", env),
        ]
        # Turn the order by round: no kind always comes first, or right after the same one.
        shift = (number - 1) % len(windows)
        windows = windows[shift:] + windows[:shift]
        return windows + previous if number % 2 else previous + windows

    # -- modes -----------------------------------------------------------------------------

    def setup(self, hosts):
        for host in hosts:
            benchlib.install_load_tools(host)
            if host == OLD:
                # The previous version cannot read this version's records (keyed secret checksums):
                # it starts host a from its own, adopting what runs.
                benchlib.guest(host, "rm -rf /var/lib/gunicorn/mysite/last-known-good /var/lib/gunicorn/mysite/history "
                               "/var/lib/gunicorn/mysite/pending.json")
            self.deploy(host, dict(self.base), None, previous=host == OLD)
            if self.current.get(host) is None:
                raise SystemExit("the base deploy failed on %s" % host)

    def changes(self):
        self.previous = benchlib.export_collection(self.opts.previous)
        self.setup([NEW, OLD])
        rows = []
        for number in range(self.opts.first_round, self.opts.first_round + self.opts.runs):
            for name, host, action in self.kinds(number):
                benchlib.wait_healthy(host)
                time.sleep(1.0)
                worker_class = self.current[host]["gunicorn_django_worker_class"]
                row = window(self.opts, host, action, self.opts.window)
                row.update({"round": number, "host": host, "kind": name, "worker_class": worker_class})
                rows.append(row)
                self.restore_worker_class(host)
                print("round %d %s %-38s %-9s io p99 %7.1f items p99 %7.1f failed %d (connect %d)%s %.0f s" % (
                    number, host[-1], name, row.get("action"), row["io"]["p99_ms"], row["items"]["p99_ms"],
                    failed(row), connect(row), proxy_text(row), row["action_s"]), flush=True)
            benchlib.write_results("handover-%s-partial" % self.opts.mode, {"options": vars(self.opts), "windows": rows})
        for host in (NEW, OLD):
            benchlib.wait_healthy(host)
            self.deploy(host, dict(self.base), None, previous=host == OLD)
        return rows

    def restore_worker_class(self, host):
        """Back to the base worker class, outside any window: the switch is measured one way, and
        every other window (the control among them) runs the worker class of the run."""
        values = self.current[host]
        if values["gunicorn_django_worker_class"] == self.base["gunicorn_django_worker_class"]:
            return
        benchlib.wait_healthy(host)
        self.deploy(host, dict(values, gunicorn_django_worker_class=self.base["gunicorn_django_worker_class"],
                               gunicorn_django_threads=self.base["gunicorn_django_threads"]), True)

    def control(self):
        """The no-change window of host b: the same values again."""
        return ("control (no-change)", lambda: self.deploy(NEW, self.current[NEW], False))

    def turned_rounds(self, windows, mode):
        """The rounds of a side-by-side mode on host b: every (name, action) window once per round,
        in an order turned by round; each round's rows are saved as they come."""
        rows = []
        for number in range(self.opts.first_round, self.opts.first_round + self.opts.runs):
            shift = (number - 1) % len(windows)
            for name, action in windows[shift:] + windows[:shift]:
                benchlib.wait_healthy(NEW)
                time.sleep(1.0)
                row = window(self.opts, NEW, action, self.opts.window)
                row.update({"round": number, "host": NEW, "kind": name})
                rows.append(row)
                print("round %d %-34s %-9s io p99 %7.1f items p99 %7.1f failed %d %.0f s" % (
                    number, name, row.get("action"), row["io"]["p99_ms"], row["items"]["p99_ms"], failed(row),
                    row["action_s"]), flush=True)
            benchlib.write_results("handover-%s-partial" % mode, {"options": vars(self.opts), "windows": rows})
        return rows

    def priority(self):
        """Each round on host b: a no-change control, and the same gunicorn.conf.py change (timeout
        flipped) going live by hand-over with gunicorn_django_boot_nice 0 (off) and 10 (the
        default), in an order turned by round: does booting below the serving master help?"""
        self.setup([NEW])

        def change(nice):
            return lambda: self.deploy(NEW, dict(flip(self.current[NEW], self.base, "gunicorn_django_timeout", 40),
                                                 gunicorn_django_boot_nice=nice), True)

        windows = [self.control(), ("setting (timeout), boot_nice 0", change(0)),
                   ("setting (timeout), boot_nice 10", change(10))]
        return self.turned_rounds(windows, "priority")

    def revision(self):
        """Each round on host b: a no-change control, a new revision of the app's code in place
        (gunicorn_django_app_revision only) and a new revision in its own directory (app_dir
        switched between two copies of the code), each going live by hand-over, in an order
        turned by round: the most frequent release of all, the app's own."""
        benchlib.guest(NEW, "for r in a b; do rm -rf /srv/mysite-releases/$r; mkdir -p /srv/mysite-releases; "
                       "cp -a /srv/mysite/app /srv/mysite-releases/$r; done")
        self.base = dict(self.base, gunicorn_django_app_revision="r0", gunicorn_django_app_dir="/srv/mysite-releases/a")
        self.setup([NEW])
        serial = [0]

        def new_revision(directory=None):
            def deploy():
                serial[0] += 1
                values = dict(self.current[NEW], gunicorn_django_app_revision="r%d" % serial[0])
                if directory:
                    values["gunicorn_django_app_dir"] = ("/srv/mysite-releases/b" if values["gunicorn_django_app_dir"]
                                                         .endswith("/a") else "/srv/mysite-releases/a")
                return self.deploy(NEW, values, True)
            return deploy

        windows = [self.control(), ("new revision in place", new_revision()),
                   ("new revision in a new directory", new_revision(directory=True))]
        return self.turned_rounds(windows, "revision")

    def bad(self):
        self.setup([NEW])
        rows = []
        for number in range(1, self.opts.runs + 1):
            for name, extra in BAD[:self.opts.faults]:
                benchlib.wait_healthy(NEW)
                time.sleep(1.0)
                values = dict(self.current[NEW], gunicorn_django_canary=False, **extra)
                row = window(self.opts, NEW, lambda: self.deploy(NEW, values), self.opts.window)
                row.update({"round": number, "kind": name})
                row.update(partner_timeline(NEW, row["action_start"]))
                rows.append(row)
                print("round %d %-38s %s at %s: refused %d, non-2xx %d (partner 500s %s, live 500s %s), verdict "
                      "-> last partner answer %s s%s" % (number, name, row["result"], row["error_step"], connect(row),
                                                         non2xx(row), row["partner_errors"], row["live_errors"],
                                                         row["last_answer_after_verdict_s"], proxy_text(row)),
                      flush=True)
            benchlib.write_results("handover-%s-partial" % self.opts.mode, {"options": vars(self.opts), "windows": rows})
        return rows

    def bind(self):
        self.setup([NEW])
        rows = []
        for number in range(1, self.opts.runs + 1):
            old_port = int(self.current[NEW]["gunicorn_django_bind"].rsplit(":", 1)[1])
            new_port = 8001 if old_port == 8000 else 8000
            values = dict(self.current[NEW], gunicorn_django_bind="127.0.0.1:%d" % new_port)
            wait_port(NEW, old_port)
            time.sleep(1.0)
            for port in (old_port, new_port):
                benchlib.guest(NEW, "rm -f /run/bench-port-%d.json; systemd-run --unit=bench-port-%d --collect "
                                    "/usr/bin/python3 /usr/local/lib/bench-window-probe.py --latencies --seconds 240 "
                                    "--url http://127.0.0.1:%d/items/ --out /run/bench-port-%d.json"
                               % (port, port, port, port))
            urls = dict((name, "%s" % path) for name, path in benchlib.URLS.items())
            row = port_window(NEW, lambda: self.deploy(NEW, values, True), self.opts.window, old_port, urls)
            probes = {}
            for port in (old_port, new_port):
                benchlib.guest(NEW, "systemctl stop bench-port-%d; sleep 0.3" % port)
                probes[port] = json.loads(benchlib.guest(NEW, "cat /run/bench-port-%d.json" % port)[1])
            row.update({"round": number, "kind": "bind port %d -> %d" % (old_port, new_port)})
            row.update(bind_gaps(probes[old_port], probes[new_port], row["action_start"]))
            rows.append(row)
            print("round %d %s: %s, refused gap %s s, answer gap %s s, wrk connect errors %d" % (
                number, row["kind"], row["action"], row["refused_gap_s"], row["answer_gap_s"], connect(row)),
                flush=True)
            benchlib.write_results("handover-%s-partial" % self.opts.mode, {"options": vars(self.opts), "windows": rows})
        if self.current[NEW]["gunicorn_django_bind"] != self.base["gunicorn_django_bind"]:
            self.deploy(NEW, dict(self.current[NEW], gunicorn_django_bind=self.base["gunicorn_django_bind"]), True)
        return rows


def wait_port(host, port, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        out = benchlib.guest(host, "curl -s -o /dev/null -w '%%{http_code}' --max-time 5 http://127.0.0.1:%d/items/"
                             % port, check=False)[1]
        if out.strip() == "200":
            return
        time.sleep(0.5)
    raise RuntimeError("%s: port %d did not answer 200 within %d s" % (host, port, timeout))


def port_window(host, action, seconds, port, urls):
    """benchlib.load_window on another port of the loopback."""
    saved = benchlib.BASE_URL
    benchlib.BASE_URL = "http://127.0.0.1:%d" % port
    try:
        return benchlib.load_window(host, action, seconds, urls=urls)
    finally:
        benchlib.BASE_URL = saved


def journal(host, unit, since):
    """(unix time, pid, message) of a unit's journal since a unix time."""
    out = benchlib.guest(host, "journalctl -q --no-pager -o short-unix -u %s --since @%d" % (unit, int(since) - 1),
                         check=False, timeout=60)[1]
    lines = []
    for line in out.splitlines():
        parts = line.split(" ", 2)
        if len(parts) < 3:
            continue
        try:
            stamp = float(parts[0])
        except ValueError:
            continue
        ident, _separator, message = parts[2].partition(": ")
        lines.append((stamp, ident, message))
    return [line for line in lines if line[0] >= since]


def partner_timeline(host, since):
    """From the journal: when systemd began stopping the partner (the verdict: the release stops it
    right after its gate failed), the last request the partner answered and the status of the
    answers of the partner and of the live master during the window."""
    partner = journal(host, PARTNER, since)
    live = journal(host, benchlib.UNIT, since)
    verdict = next((stamp for stamp, ident, message in partner
                    if ident.startswith("systemd[") and message.startswith("Stopping")), None)
    answers = [(stamp, ACCESS_STATUS.search(message).group(1)) for stamp, ident, message in partner
               if not ident.startswith("systemd[") and ACCESS_STATUS.search(message)]
    live_answers = [ACCESS_STATUS.search(message).group(1) for _stamp, ident, message in live
                    if not ident.startswith("systemd[") and ACCESS_STATUS.search(message)]
    last = max((stamp for stamp, _status in answers), default=None)
    first = min((stamp for stamp, _status in answers), default=None)
    return {"verdict": verdict, "partner_first_answer": first, "partner_last_answer": last,
            "partner_answers": len(answers), "partner_errors": sum(1 for _s, status in answers if status >= "400"),
            "live_errors": sum(1 for status in live_answers if status >= "400"), "live_answers": len(live_answers),
            "partner_served_s": round(verdict - first, 3) if verdict and first else None,
            "last_answer_after_verdict_s": round(last - verdict, 3) if verdict and last else None}


def bind_gaps(old, new, action_start):
    """The refused gap: from the old port's first refused connection to the first connection the
    new port accepted; the answer gap: the old port's last answer to the new port's first."""
    old_entries = [e for e in old["latencies"] if e[0] >= action_start]
    new_entries = [e for e in new["latencies"] if e[0] >= action_start]
    first_refused = min((e[0] for e in old_entries if not e[2] and e[3]), default=None)
    last_answer = max((e[0] + e[1] / 1000 for e in old["latencies"] if e[2]), default=None)
    accepted = min((e[0] for e in new_entries if not e[3] and (first_refused is None or e[0] >= first_refused - 1)),
                   default=None)
    first_answer = min((e[0] + e[1] / 1000 for e in new_entries if e[2]), default=None)
    return {"refused_gap_s": round(accepted - first_refused, 3) if accepted and first_refused else None,
            "answer_gap_s": round(first_answer - last_answer, 3) if first_answer and last_answer else None,
            "old_refused": sum(1 for e in old_entries if e[3]),
            "new_first_answer_after_action_s": round(first_answer - action_start, 3) if first_answer else None}


# -- summaries ---------------------------------------------------------------------------------


def failed(row):
    return non2xx(row) + sum(benchlib.socket_errors(row[url]) for url in benchlib.URLS)


def non2xx(row):
    return sum(row[url]["non2xx"] for url in benchlib.URLS)


def connect(row):
    return sum(row[url]["connect"] for url in benchlib.URLS)


def control_of(kind):
    return "previous: control (no-change)" if kind.startswith("previous:") else "control (no-change)"


def infer_worker_classes(rows, base):
    """The worker class each window began with, for results files older than the record of it:
    there the class switched at every worker_class window and stayed until the next."""
    state = {}
    for row in rows:
        if "worker_class" in row:
            continue
        row["worker_class"] = state.get(row["host"], base)
        if row["kind"].startswith("worker_class"):
            state[row["host"]] = "gthread" if row["worker_class"] == "sync" else "sync"
    return rows


def comparable(row, control):
    """A window is set beside its round's control only when both began with the same worker class."""
    return row.get("worker_class") == control.get("worker_class")


def summarize_changes(rows):
    per_round = {}
    for row in rows:
        per_round.setdefault(row["round"], {})[row["kind"]] = row
    kinds = []
    for row in rows:
        if row["kind"] not in kinds:
            kinds.append(row["kind"])
    summary = []
    for kind in kinds:
        items = [r for r in rows if r["kind"] == kind]
        entry = {"kind": kind, "windows": len(items), "actions": sorted(set(str(r.get("action")) for r in items)),
                 "requests": benchlib.median([sum(r[u]["requests"] for u in benchlib.URLS) for r in items]),
                 "failed": [failed(r) for r in items],
                 "socket_errors": "/".join(str(sum(r[u][kind] for r in items for u in benchlib.URLS))
                                           for kind in ("connect", "read", "write", "timeout")),
                 "action_s": benchlib.median([r["action_s"] for r in items]),
                 "proxy_502_504": proxy_cells(items)}
        beside = [rnd for rnd in per_round.values()
                  if kind in rnd and control_of(kind) in rnd and comparable(rnd[kind], rnd[control_of(kind)])]
        entry["ratio_rounds"] = len(beside)
        for url in benchlib.URLS:
            entry["%s_p99_ms" % url] = benchlib.median([r[url]["p99_ms"] for r in items])
            entry["%s_ratio" % url] = benchlib.median([
                benchlib.ratio(rnd[kind][url]["p99_ms"], rnd[control_of(kind)][url]["p99_ms"]) for rnd in beside])
        summary.append(entry)
    return summary


def proxy_cells(items):
    """Nginx's 502/504 of each window ("502/504, ..."), or None without --proxy."""
    if not all(r.get("proxy") for r in items):
        return None
    return ", ".join("%d/%d" % (r["proxy"]["status_502"], r["proxy"]["status_504"]) for r in items)


def markdown_changes(summary):
    proxied = any(e.get("proxy_502_504") for e in summary)
    rows = [[e["kind"], e["windows"], ", ".join(e["actions"]), e["requests"], ", ".join(map(str, e["failed"])),
             e["socket_errors"]] + ([e.get("proxy_502_504")] if proxied else []) +
            [e["io_p99_ms"], e["ratio_rounds"], e["io_ratio"], e["items_p99_ms"], e["items_ratio"], e["action_s"]]
            for e in summary]
    return benchlib.markdown_table(
        ["window", "rounds", "release action", "requests (median)", "wrk failed (per round)",
         "socket errors: connect/read/write/timeout (sum)"] + (["Nginx 502/504 (per round)"] if proxied else []) +
        ["/io/ p99 (ms, median)", "rounds beside a control of the same worker class", "/io/ p99 / control",
         "/items/ p99 (ms)", "/items/ p99 / control", "playbook (s)"], rows)


def summarize_bad(rows):
    summary = []
    for name, _extra in BAD:
        items = [r for r in rows if r["kind"] == name]
        if not items:
            continue
        summary.append({
            "kind": name, "runs": len(items),
            "result": "/".join(sorted(set("%s at %s" % (r["result"], r["error_step"]) for r in items))),
            "refused": [connect(r) for r in items], "non2xx": [non2xx(r) for r in items],
            "other_socket_errors": [sum(benchlib.socket_errors(r[u]) for u in benchlib.URLS) - connect(r)
                                    for r in items],
            "partner_errors": [r["partner_errors"] for r in items], "live_errors": [r["live_errors"] for r in items],
            "partner_served_s": benchlib.median([r["partner_served_s"] for r in items]),
            "after_verdict_s": [r["last_answer_after_verdict_s"] for r in items],
            "after_verdict_median_s": benchlib.median([r["last_answer_after_verdict_s"] for r in items]),
            "playbook_s": benchlib.median([r["playbook_s"] for r in items]),
            "proxy_502_504": proxy_cells(items),
            "proxy_non2xx": [r["proxy"]["non_2xx"] for r in items] if proxy_cells(items) else None})
    return summary


def markdown_bad(summary):
    def cells(values):
        return ", ".join("-" if v is None else str(v) for v in values)
    proxied = any(e.get("proxy_502_504") for e in summary)
    rows = [[e["kind"], e["runs"], e["result"], cells(e["refused"]), cells(e["non2xx"]),
             cells(e["other_socket_errors"])] +
            ([e.get("proxy_502_504"), cells(e.get("proxy_non2xx") or [])] if proxied else []) +
            [cells(e["partner_errors"]), cells(e["live_errors"]),
             e["partner_served_s"], cells(e["after_verdict_s"]), e["playbook_s"]] for e in summary]
    return benchlib.markdown_table(
        ["bad release, canary off", "runs", "release", "refused (per run)", "wrk non-2xx (per run)",
         "other socket errors"] + (["Nginx 502/504 (per run)", "Nginx non-2xx (per run)"] if proxied else []) +
        ["errors answered by the partner (access log)", "errors answered by the live master",
         "partner in rotation: first answer to verdict (s, median)", "verdict to the partner's last answer (s)",
         "playbook (s)"], rows)


def summarize_bind(rows):
    return [{"kind": "bind port change (resocket)", "runs": len(rows),
             "actions": sorted(set(str(r.get("action")) for r in rows)),
             "refused_gap_s": [r["refused_gap_s"] for r in rows],
             "refused_gap_median_s": benchlib.median([r["refused_gap_s"] for r in rows]),
             "answer_gap_s": [r["answer_gap_s"] for r in rows],
             "answer_gap_median_s": benchlib.median([r["answer_gap_s"] for r in rows]),
             "old_refused": [r["old_refused"] for r in rows],
             "playbook_s": benchlib.median([r["playbook_s"] for r in rows])}]


def markdown_bind(summary):
    rows = [[e["kind"], e["runs"], ", ".join(e["actions"]), e["refused_gap_median_s"],
             ", ".join(str(v) for v in e["refused_gap_s"]), e["answer_gap_median_s"],
             ", ".join(str(v) for v in e["answer_gap_s"]), e["playbook_s"]] for e in summary]
    return benchlib.markdown_table(
        ["change", "rounds", "release action", "refused gap (s, median)", "refused gap per round",
         "answer gap (s, median)", "answer gap per round", "playbook (s)"], rows)


SUMMARIES = {"changes": (summarize_changes, markdown_changes), "bad": (summarize_bad, markdown_bad),
             "bind": (summarize_bind, markdown_bind), "priority": (summarize_changes, markdown_changes),
             "revision": (summarize_changes, markdown_changes)}


def use_hosts(names):
    """--bench-hosts: the same roles (a: no socket activation, b: the defaults) on two other hosts."""
    global NEW, OLD  # pylint: disable=global-statement
    renamed = dict(benchlib.rename_hosts(HOSTS, names))  # a copy: HOSTS is cleared below
    if names:
        OLD, NEW = names
    HOSTS.clear()
    HOSTS.update(renamed)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("mode", choices=list(SUMMARIES))
    parser.add_argument("--runs", type=int, default=5, help="rounds")
    parser.add_argument("--first-round", type=int, default=1,
                        help="changes: number of the first round (continues an earlier run: its kinds' order)")
    parser.add_argument("--window", type=float, default=12.0, help="minimum seconds of load per window")
    parser.add_argument("--worker-class", choices=["sync", "gthread"], default="sync")
    parser.add_argument("--previous", metavar="GIT_REF", default="3220c39",
                        help="the collection before the hand-over (changes: its HUP and restart on host a)")
    parser.add_argument("--faults", type=int, default=len(BAD), help="bad: the first N faults only")
    parser.add_argument("--label", default="", help="suffix of the results file")
    parser.add_argument("--proxy", action="store_true",
                        help="changes, bad: load through Nginx on the host, and report its 502/504 per window")
    parser.add_argument("--bench-hosts", nargs=2, metavar=("HOST_A", "HOST_B"),
                        help="two other running test hosts instead of djangoops-bench-a and -b")
    parser.add_argument("--report", metavar="JSON", nargs="+",
                        help="print the tables of earlier results files (their windows together), run nothing")
    opts = parser.parse_args()
    if opts.proxy and opts.mode == "bind":
        parser.error("--proxy: bind changes the port behind Nginx; run it without --proxy")
    use_hosts(opts.bench_hosts)
    summarize, markdown = SUMMARIES[opts.mode]
    if opts.report:
        rows = []
        for path in opts.report:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
            rows.extend(infer_worker_classes(data["windows"], data["options"].get("worker_class", "sync"))
                        if opts.mode == "changes" else data["windows"])
            if "machine" in data:
                print("%s: %s, %s, wall time %s s, load average %s -> %s" % (
                    path, data["machine"]["date"], data["machine"]["command"], data["machine"]["wall_s"],
                    data["machine"]["loadavg_start"], data["machine"].get("loadavg_end")))
        print("\n" + markdown(summarize(rows)))
        return
    benchlib.require_hosts(list(HOSTS) if opts.mode == "changes" else [NEW], "bench")
    if opts.proxy:
        for host in list(HOSTS) if opts.mode == "changes" else [NEW]:
            benchlib.require_proxy(host)
    info = benchlib.machine()
    started = time.monotonic()
    rows = getattr(Bench(opts), opts.mode)()
    summary = summarize(rows)
    info["wall_s"] = round(time.monotonic() - started)
    label = opts.label or "-%s%s%s" % (opts.mode, "-" + opts.worker_class if opts.mode == "changes" else "",
                                       "-proxy" if opts.proxy else "")
    path = benchlib.write_results("handover%s" % label,
                                  {"machine": info, "options": vars(opts), "windows": rows, "summary": summary})
    print("\n%s, %s, wall time %d s, load average %s -> %s, results %s\n" % (
        info["date"], info["command"], info["wall_s"], info["loadavg_start"], info.get("loadavg_end"), path))
    print(markdown(summary))


if __name__ == "__main__":
    main()
