"""Reload under load: latency and failed requests while the role deploys a real change.

    python benchmarks/reload_under_load.py [--runs 5] [--worker-class sync|gthread]

wrk runs inside the test host against its own loopback, 20 connections in all: 10 on /io/?ms=50
(a view that sleeps) and 10 on /items/ (ORM + template). Each round takes these windows on host
djangoops-bench-a (no socket activation) and then djangoops-bench-b (socket activation on), each
window at least --window seconds of load with the action starting after one second:

- steady:    no action (the baseline);
- deploy:    molecule/shared/deploy.yml with a real change (workers, timeout, max_requests, ...
             one after the other; the role reloads with HUP, or scales, see the results);
- no-change: the same playbook again with the same values (the control: what the playbook's
             own CPU use costs on a 2-core host);
- raw HUP:   `systemctl reload` by hand (host a only): Gunicorn's own reload, no role;
- restart:   `systemctl restart` by hand (the naive deploy), with and without socket activation.

With --proxy the load goes through Nginx on the same host (molecule/bench's prepare puts it in front of
the app, molecule/shared/templates/nginx-mysite.conf.j2) instead of straight to Gunicorn, and every window
also reports what Nginx's clients saw: its 502 and 504 answers and upstream times, from the lines its
access log gained during the window (benchlib.ProxyLog). Run it with and without --proxy to compare.
--bench-hosts runs the same rounds on two other hosts (in the order a, b).

With --before GIT_REF, the rounds compare two versions of the collection instead, on host a:
the same kind of change (workers 3 <-> 4, nothing else) deployed by the collection as it was at
GIT_REF ("before") and as it is in this checkout ("after"), with steady and no-change windows.

Needs the hosts of `make bench-hosts` (molecule create/prepare -s bench). Writes
.build/bench/reload-<label>.json and prints the Markdown tables of docs/performance.md.
"""
import argparse
import json
import time

import benchlib

# Host a without socket activation (the default before the hand-over), host b with it.
HOSTS = {"djangoops-bench-a": {"gunicorn_django_socket_activation": False},
         "djangoops-bench-b": {"gunicorn_django_socket_activation": True}}


def socket_on(host):
    return HOSTS[host]["gunicorn_django_socket_activation"]


URLS = benchlib.URLS
# Each change differs from the one before (and the last from the first, for more rounds).
CHANGES = [
    {},
    {"gunicorn_django_workers": "+1"},
    {"gunicorn_django_workers": "+1", "gunicorn_django_timeout": 40},
    {"gunicorn_django_workers": "+1", "gunicorn_django_timeout": 40, "gunicorn_django_max_requests": 1200},
    {"gunicorn_django_timeout": 40, "gunicorn_django_max_requests": 1200},
    {"gunicorn_django_keepalive": 3},
]


def change_vars(base, index):
    values = dict(base)
    for key, value in CHANGES[index % len(CHANGES)].items():
        values[key] = base[key] + 1 if value == "+1" else value
    return values


class Bench:
    def __init__(self, opts):
        self.opts = opts
        self.inventory = benchlib.write_inventory(list(HOSTS), host_vars=HOSTS)
        self.base = {"gunicorn_django_workers": 3, "gunicorn_django_worker_class": opts.worker_class,
                     "gunicorn_django_threads": 1, "gunicorn_django_timeout": 30,
                     "gunicorn_django_max_requests": 1000, "gunicorn_django_keepalive": 2}
        if opts.worker_class == "gthread":
            self.base.update({"gunicorn_django_workers": 2, "gunicorn_django_threads": 4})
        self.current = {}

    def deploy(self, host, values, check_changed, collections=None):
        env = {"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"}
        if collections:
            env["ANSIBLE_COLLECTIONS_PATH"] = collections
        rc, seconds, out = benchlib.run_playbook(
            benchlib.DEPLOY, self.inventory, limit=host, extra_vars=values, env=env, log="reload-playbooks.log")
        result = benchlib.release_result(out, host)
        if rc != 0:
            raise RuntimeError("deploy on %s failed (rc=%d): %s" % (host, rc, result.get("msg")))
        if check_changed is not None and bool(result.get("changed")) != check_changed:
            raise RuntimeError("deploy on %s: changed=%s, expected %s" % (host, result.get("changed"), check_changed))
        self.current[host] = values
        return {"playbook_s": round(seconds, 2), "action": result.get("service_action"),
                "msg": result.get("msg"), "steps": result.get("steps") or [],
                "release_end": result.get("_task_end")}

    def window(self, host, action):
        benchlib.guest(host, "rm -f /run/bench-lat.json; systemd-run --unit=bench-lat --collect /usr/bin/python3 "
                             "/usr/local/lib/bench-window-probe.py --latencies --seconds 300 --out /run/bench-lat.json")
        proxy = benchlib.ProxyLog(host).start() if self.opts.proxy else None
        row = benchlib.load_window(host, action, self.opts.window,
                                   base_url=benchlib.PROXY_URL if self.opts.proxy else benchlib.BASE_URL)
        benchlib.guest(host, "systemctl stop bench-lat; sleep 0.3")
        text = benchlib.guest(host, "cat /run/bench-lat.json")[1]
        row["probe_raw"] = json.loads(text)
        row["proxy"] = proxy.stop() if proxy else None
        return row

    def toggled_workers(self, host):
        values = dict(self.base)
        now = self.current[host]["gunicorn_django_workers"]
        values["gunicorn_django_workers"] = self.base["gunicorn_django_workers"] + (0 if now != self.base[
            "gunicorn_django_workers"] else 1)
        return values

    def compare_round(self, number, before):
        """Workers-only changes by the collection at --before and by this checkout, side by side."""
        host = self.opts.host
        variants = [("steady", lambda: None),
                    ("workers change, before", lambda: self.deploy(host, self.toggled_workers(host), True, before)),
                    ("workers change, after", lambda: self.deploy(host, self.toggled_workers(host), True)),
                    ("no-change", lambda: self.deploy(host, self.current[host], False))]
        if number % 2 == 0:
            variants[1], variants[2] = variants[2], variants[1]
        return self._windows(number, host, variants)

    def _windows(self, number, host, variants):
        rows = []
        for variant, action in variants:
            benchlib.wait_healthy(host)
            time.sleep(1.0)
            row = self.window(host, action)
            row.update({"round": number, "host": host, "variant": variant, "socket_activation": socket_on(host),
                        "by_hand": variant in ("raw HUP", "restart")})
            row["probe"] = phase_latencies(row.pop("probe_raw"), row)
            rows.append(row)
            print("round %d %s %-24s io p99 %7.1f items p99 %7.1f non2xx %d sock %d %s" % (
                number, host[-1], variant, row["io"]["p99_ms"], row["items"]["p99_ms"],
                row["io"]["non2xx"] + row["items"]["non2xx"], benchlib.socket_errors(row["io"]) + benchlib.socket_errors(row["items"]),
                row.get("action") or ""), flush=True)
        return rows

    def round(self, number):
        rows = []
        order = list(HOSTS) if number % 2 else list(reversed(list(HOSTS)))
        for host in order:
            variants = [
                ("steady", lambda: None),
                ("deploy", lambda: self.deploy(host, change_vars(self.base, number), True)),
                ("no-change", lambda: self.deploy(host, self.current[host], False)),
            ]
            if not socket_on(host):
                variants.append(("raw HUP", lambda: benchlib.guest(host, "systemctl reload %s" % benchlib.UNIT)
                                 and None))
            variants.append(("restart", lambda: benchlib.guest(host, "systemctl restart %s" % benchlib.UNIT)
                             and None))
            rows.extend(self._windows(number, host, variants))
        return rows

    def run(self, before=None):
        hosts = [self.opts.host] if before else list(HOSTS)
        for host in hosts:
            benchlib.install_load_tools(host)
            if self.opts.proxy:
                benchlib.require_proxy(host)
            self.deploy(host, change_vars(self.base, 0), None)
        rows = []
        for number in range(1, self.opts.runs + 1):
            rows.extend(self.compare_round(number, before) if before else self.round(number))
            # Keep what is measured so far, should a later round fail.
            benchlib.write_results("reload-partial", {"options": vars(self.opts), "windows": rows})
        # Leave the hosts as the base release.
        for host in hosts:
            benchlib.wait_healthy(host)
            self.deploy(host, change_vars(self.base, 0), None)
        return rows


# Release steps by phase: the checks before anything goes live, and going live (apply + gate).
CHECK_STEPS = ("check-config", "canary")
APPLY_STEPS = ("reload", "scale", "restart", "resocket", "start", "health-gate")


def phases(info):
    """(name, start, end) host times of a window's phases. Deploys: from the release module's step
    durations, laid back from the end of its task (about 0.1-0.3 s late: the task's end includes
    returning the result). Hand-made reloads and restarts: their first 3 seconds."""
    if info.get("steps") and info.get("release_end"):
        spans, end = {}, info["release_end"]
        for step in reversed(info["steps"]):
            start = end - max(step["seconds"], 0)
            for name, members in (("checks", CHECK_STEPS), ("apply", APPLY_STEPS)):
                if step["step"] in members:
                    low, high = spans.get(name, (start, end))
                    spans[name] = (min(low, start), max(high, end))
            end = start
        return [(name, low, high) for name, (low, high) in spans.items()]
    if info.get("by_hand"):
        return [("apply", info["action_start"], info["action_start"] + 3.0)]
    return []


def phase_latencies(probe, info):
    """The prober's worst latency (ms) per phase of the window, and elsewhere."""
    spans = phases(info)
    worst = {"checks": None, "apply": None, "elsewhere": None}
    for entry in probe["latencies"]:
        started, millis = entry[0], entry[1]
        name = next((n for n, low, high in spans if low <= started <= high), "elsewhere")
        worst[name] = max(worst[name] or 0, millis)
    worst["requests"] = probe["sent"]
    worst["failed"] = probe["failed"]
    return worst


def variant_name(row):
    """Deploy windows are told apart by what the release did (reload with HUP, or scale)."""
    return "%s: %s" % (row["variant"], row["action"]) if row.get("action") not in (None, "none") else row["variant"]


def summarize(rows):
    """Per (socket activation, variant): totals and medians over the rounds, and p99 ratios."""
    groups = {}
    for row in rows:
        groups.setdefault((row["socket_activation"], variant_name(row)), []).append(row)
    summary = []
    for (socket_on, variant), items in groups.items():
        entry = {"socket_activation": socket_on, "variant": variant, "windows": len(items),
                 "requests": sum(r[u]["requests"] for r in items for u in URLS),
                 "non2xx": sum(r[u]["non2xx"] for r in items for u in URLS),
                 "socket_errors": sum(benchlib.socket_errors(r[u]) for r in items for u in URLS),
                 "window_s": benchlib.median([r["io"]["window_s"] for r in items]),
                 "actions": sorted(set(r.get("action") or "-" for r in items))}
        for url in URLS:
            for pct in ("p50_ms", "p95_ms", "p99_ms"):
                entry["%s_%s" % (url, pct)] = benchlib.median([r[url][pct] for r in items])
        for name in ("checks", "apply", "elsewhere"):
            entry["probe_max_%s_ms" % name] = benchlib.median([r["probe"][name] for r in items])
        entry["probe_failed"] = sum(r["probe"]["failed"] for r in items)
        entry["proxy"] = benchlib.proxy_totals([r.get("proxy") for r in items])
        summary.append(entry)
    ratios = {}
    for socket_on in (False, True):
        per_round = {}
        for row in rows:
            if row["socket_activation"] == socket_on:
                per_round.setdefault(row["round"], {})[variant_name(row)] = row
        for num, den in (("deploy: reload", "no-change"), ("deploy: scale", "no-change"),
                         ("deploy: handover", "no-change"), ("no-change", "steady"),
                         ("deploy: reload", "steady"), ("deploy: scale", "steady"), ("deploy: handover", "steady"),
                         ("raw HUP", "steady"), ("restart", "steady"),
                         ("workers change, before: reload", "no-change"),
                         ("workers change, after: scale", "no-change")):
            for url in URLS:
                values = [benchlib.ratio(r[num][url]["p99_ms"], r[den][url]["p99_ms"])
                          for r in per_round.values() if num in r and den in r]
                if values:
                    ratios["%s|%s / %s|%s" % ("socket" if socket_on else "plain", num, den, url)] = \
                        benchlib.median(values)
    return summary, ratios


def markdown(summary, ratios):
    order = ["steady", "deploy: reload", "deploy: scale", "deploy: handover", "workers change, before: reload",
             "workers change, after: scale", "no-change", "raw HUP", "restart"]
    rows = []
    for entry in sorted(summary, key=lambda e: (e["socket_activation"], order.index(e["variant"]))):
        rows.append(["%s%s" % (entry["variant"], " (socket activation)" if entry["socket_activation"] else ""),
                     entry["windows"], entry["window_s"], ", ".join(entry["actions"]), entry["requests"],
                     entry["non2xx"], entry["socket_errors"],
                     entry["io_p50_ms"], entry["io_p95_ms"], entry["io_p99_ms"],
                     entry["items_p50_ms"], entry["items_p95_ms"], entry["items_p99_ms"]])
    table = benchlib.markdown_table(
        ["window", "windows", "median length (s)", "release action", "requests", "non-2xx", "socket errors",
         "/io/ p50 (ms)", "/io/ p95", "/io/ p99", "/items/ p50 (ms)", "/items/ p95", "/items/ p99"], rows)
    probe_rows = [["%s%s" % (e["variant"], " (socket activation)" if e["socket_activation"] else ""),
                   e["probe_max_checks_ms"], e["probe_max_apply_ms"], e["probe_max_elsewhere_ms"], e["probe_failed"]]
                  for e in sorted(summary, key=lambda e: (e["socket_activation"], order.index(e["variant"])))]
    table += "\n\n" + benchlib.markdown_table(
        ["window", "prober worst (ms): check-config + canary", "reload/scale/restart + health gate",
         "rest of the window", "prober failed"], probe_rows)
    proxy_rows = [["%s%s" % (e["variant"], " (socket activation)" if e["socket_activation"] else ""),
                   e["requests"], e["non2xx"] + e["socket_errors"], e["proxy"]["requests"], e["proxy"]["status_502"],
                   e["proxy"]["status_504"], e["proxy"]["non_2xx"], e["proxy"]["upstream_p95_s"],
                   e["proxy"]["upstream_max_s"]]
                  for e in sorted(summary, key=lambda e: (e["socket_activation"], order.index(e["variant"])))
                  if e.get("proxy")]
    if proxy_rows:
        table += "\n\n" + benchlib.markdown_table(
            ["window", "wrk requests", "wrk failed", "Nginx requests", "Nginx 502", "Nginx 504", "Nginx non-2xx",
             "upstream p95 (s, median)", "upstream max (s)"], proxy_rows)
    ratio_rows = []
    for key in sorted(set(k.rsplit("|", 1)[0] for k in ratios)):
        ratio_rows.append([key.replace("|", ": ", 1), ratios.get(key + "|io"), ratios.get(key + "|items")])
    return table + "\n\n" + benchlib.markdown_table(
        ["p99 ratio (median of per-round ratios)", "/io/", "/items/"], ratio_rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--runs", type=int, default=5, help="rounds (one change deployed per round and host)")
    parser.add_argument("--window", type=float, default=16.0, help="minimum seconds of load per window")
    parser.add_argument("--worker-class", choices=["sync", "gthread"], default="sync")
    parser.add_argument("--before", metavar="GIT_REF",
                        help="compare workers-only changes deployed by the collection at GIT_REF and by this checkout")
    parser.add_argument("--host", help="the host of --before rounds (default: host a)")
    parser.add_argument("--label", default="", help="suffix of the results file (reload<label>.json)")
    parser.add_argument("--proxy", action="store_true",
                        help="load through Nginx on the host, and report its 502/504 and upstream times")
    parser.add_argument("--bench-hosts", nargs=2, metavar=("HOST_A", "HOST_B"),
                        help="two other running test hosts instead of djangoops-bench-a and -b")
    parser.add_argument("--report", metavar="JSON", help="print the tables of an earlier results file, run nothing")
    opts = parser.parse_args()
    renamed = benchlib.rename_hosts(HOSTS, opts.bench_hosts)
    HOSTS.clear()
    HOSTS.update(renamed)
    if opts.host not in HOSTS:
        if opts.host:
            parser.error("--host must be one of %s" % ", ".join(HOSTS))
        opts.host = list(HOSTS)[0]
    if opts.report:
        with open(opts.report, encoding="utf-8") as handle:
            data = json.load(handle)
        print("%s, %s, wall time %s s, load average %s -> %s\n" % (
            data["machine"]["date"], data["machine"]["command"], data["machine"]["wall_s"],
            data["machine"]["loadavg_start"], data["machine"].get("loadavg_end")))
        print(markdown(*summarize(data["windows"])))
        return
    benchlib.require_hosts([opts.host] if opts.before else list(HOSTS), "bench")
    info = benchlib.machine()
    started = time.monotonic()
    rows = Bench(opts).run(benchlib.export_collection(opts.before) if opts.before else None)
    summary, ratios = summarize(rows)
    info["wall_s"] = round(time.monotonic() - started)
    label = opts.label or "-%s%s%s" % (opts.worker_class, "-vs-%s" % opts.before if opts.before else "",
                                       "-proxy" if opts.proxy else "")
    path = benchlib.write_results("reload%s" % label, {
        "machine": info, "options": vars(opts), "windows": rows, "summary": summary, "ratios": ratios})
    print("\n%s, %s, wall time %d s, results %s\n" % (info["date"], info["command"], info["wall_s"], path))
    print(markdown(summary, ratios))


if __name__ == "__main__":
    main()
