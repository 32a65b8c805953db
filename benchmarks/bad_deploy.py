"""Bad deploys under load: failed requests and time until healthy on last-known-good, per fault.

    python benchmarks/bad_deploy.py [--runs 3]

The load of benchmarks/reload_under_load.py (wrk inside the test host, 10 connections on
/io/?ms=50 and 10 on /items/), plus a prober requesting /items/ every 20 ms that records when
requests failed. During the load the role deploys a change that breaks the app (the faults of
molecule/rollback/cases.yml); the play fails, and the site must be serving last-known-good.
Faults that go live (canary off) run on host djangoops-bench-a and again on djangoops-bench-b
(socket activation); the others on host a only.

Per fault: failed requests (non-2xx + socket errors of wrk, failures of the prober), the outage the
prober saw (first failed request to the first good one after the last failure), and the playbook's
wall time. Writes .build/bench/bad-deploy.json and prints the Markdown table.

With --proxy the load goes through Nginx on the same host instead of straight to Gunicorn (the prober still
asks Gunicorn), and each fault also reports what Nginx's clients saw: its 502 and 504 answers and the
upstream times, from the lines its access log gained during the fault (benchlib.ProxyLog). --bench-hosts
runs the same faults on two other hosts (in the order a, b).
"""
import argparse
import json
import time

import benchlib

# Host a without socket activation (the default before the hand-over), host b with it.
BENCH_HOSTS = {"djangoops-bench-a": {"gunicorn_django_socket_activation": False},
               "djangoops-bench-b": {"gunicorn_django_socket_activation": True}}
HOSTS = dict(BENCH_HOSTS)


def socket_on(host):
    return HOSTS[host].get("gunicorn_django_socket_activation", False)


BASE_ENV = {"MYSITE_DB_PATH": "/var/lib/mysite/db.sqlite3", "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost"}
FAULTS = [
    ("settings module raises on import", {"gunicorn_django_settings_module": "mysite.settings_raises"}),
    ("wsgi path that does not exist", {"gunicorn_django_wsgi_app": "mysite.nosuch:application"}),
    ("worker_class that does not exist", {"gunicorn_django_worker_class": "nosuch"}),
    ("broken ROOT_URLCONF (lazy)", {"gunicorn_django_env": dict(BASE_ENV, MYSITE_ROOT_URLCONF="mysite.nosuch_urls")}),
    ("worker_class that does not exist, canary off",
     {"gunicorn_django_worker_class": "nosuch", "gunicorn_django_canary": False}),
    ("broken ROOT_URLCONF, canary off (restart)",
     {"gunicorn_django_canary": False, "gunicorn_django_env": dict(BASE_ENV, MYSITE_ROOT_URLCONF="mysite.nosuch_urls")}),
    ("/items/ answers 500, canary off (restart)",
     {"gunicorn_django_canary": False, "gunicorn_django_env": dict(BASE_ENV, MYSITE_DB_PATH="/tmp/empty.sqlite3")}),
    ("health check fails only after the HUP, canary off",
     {"gunicorn_django_canary": False, "gunicorn_django_extra_settings": {"limit_request_line": 12}}),
]


def one(inventory, host, name, values, through_proxy=False):
    benchlib.wait_healthy(host)
    time.sleep(1.0)
    benchlib.guest(host, "rm -f /run/bench-probe.json; systemd-run --unit=bench-probe --collect /usr/bin/python3 "
                         "/usr/local/lib/bench-window-probe.py --out /run/bench-probe.json --seconds 240")
    proxy = benchlib.ProxyLog(host).start() if through_proxy else None
    base_url = benchlib.PROXY_URL if through_proxy else benchlib.BASE_URL
    load = dict((url, benchlib.Wrk(host, path, 10, url, base_url=base_url).start()) for url, path in benchlib.URLS.items())
    time.sleep(1.0)
    rc, seconds, out = benchlib.run_playbook(benchlib.DEPLOY, inventory, limit=host, extra_vars=values,
                                             env={"ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.json"},
                                             log="bad-deploy-playbooks.log")
    benchlib.wait_healthy(host)
    time.sleep(2.0)
    stats = benchlib.stop_all(load)
    benchlib.guest(host, "systemctl stop bench-probe; sleep 0.5")
    probe_text = benchlib.guest(host, "cat /run/bench-probe.json")[1]
    probe = json.loads(probe_text)
    result = _failed_release(out, host)
    outage = None
    if probe["first_failure"]:
        outage = round((probe["recovered"] or probe["stopped"]) - probe["first_failure"], 2)
    return {"host": host, "fault": name, "socket_activation": socket_on(host), "rc": rc,
            "playbook_s": round(seconds, 2), "result": result.get("result"), "step": (result.get("error") or {}).get(
                "step"), "healthy_after": result.get("healthy"), "wrk": stats,
            "wrk_failed": sum(s["non2xx"] + s["connect"] + s["read"] + s["write"] + s["timeout"]
                              for s in stats.values()),
            "wrk_requests": sum(s["requests"] for s in stats.values()),
            "probe_sent": probe["sent"], "probe_failed": probe["failed"], "outage_s": outage,
            "probe_errors": probe["errors"], "proxy": proxy.stop() if proxy else None}


def _failed_release(stdout, host):
    result = benchlib.release_result(stdout, host)
    if result:
        return result
    try:
        for play in json.loads(stdout)["plays"]:
            for task in play["tasks"]:
                res = task["hosts"].get(host, {})
                if res.get("failed"):
                    return {"result": "preflight", "error": {"step": task["task"]["name"]}}
    except (ValueError, KeyError):
        pass
    return {}


def summarize(rows):
    groups = {}
    for row in rows:
        groups.setdefault((row["fault"], row["socket_activation"]), []).append(row)
    summary = []
    for (fault, socket_on), items in groups.items():
        summary.append({
            "fault": fault, "socket_activation": socket_on, "runs": len(items),
            "result": "/".join(sorted(set(str(r["result"]) for r in items))),
            "step": "/".join(sorted(set(str(r["step"]) for r in items))),
            "healthy_after": all(r["healthy_after"] for r in items),
            "wrk_failed": [r["wrk_failed"] for r in items],
            "wrk_non2xx": [sum(s["non2xx"] for s in r["wrk"].values()) for r in items],
            "wrk_requests": benchlib.median([r["wrk_requests"] for r in items]),
            "probe_failed": [r["probe_failed"] for r in items],
            "outage_s": benchlib.median([r["outage_s"] or 0 for r in items]),
            "playbook_s": benchlib.median([r["playbook_s"] for r in items]),
            "proxy_502": [r["proxy"]["status_502"] for r in items if r.get("proxy")],
            "proxy_504": [r["proxy"]["status_504"] for r in items if r.get("proxy")],
            "proxy_upstream_max_s": benchlib.median([r["proxy"]["upstream_max_s"] for r in items if r.get("proxy")]),
        })
    return summary


def markdown(summary):
    rows = [[e["fault"] + (" (socket activation)" if e["socket_activation"] else ""), e["runs"],
             "%s at %s" % (e["result"], e["step"]), "yes" if e["healthy_after"] else "NO", e["wrk_requests"],
             ", ".join(str(x) for x in e["wrk_non2xx"]),
             ", ".join(str(f - n) for f, n in zip(e["wrk_failed"], e["wrk_non2xx"])),
             ", ".join(str(x) for x in e["probe_failed"]),
             e["outage_s"], e["playbook_s"]] for e in summary]
    table = benchlib.markdown_table(
        ["fault", "runs", "release", "healthy on last-known-good", "wrk requests (median)",
         "wrk non-2xx (per run)", "wrk socket errors (per run)", "prober failed (per run)", "outage (s, median)",
         "playbook (s, median)"], rows)
    proxy_rows = [[e["fault"] + (" (socket activation)" if e["socket_activation"] else ""),
                   ", ".join(str(x) for x in e["wrk_non2xx"]), ", ".join(str(x) for x in e["proxy_502"]),
                   ", ".join(str(x) for x in e["proxy_504"]), e["proxy_upstream_max_s"]]
                  for e in summary if e.get("proxy_502")]
    if proxy_rows:
        table += "\n\nThrough Nginx:\n\n" + benchlib.markdown_table(
            ["fault", "wrk non-2xx (per run)", "Nginx 502 (per run)", "Nginx 504 (per run)",
             "upstream max (s, median)"], proxy_rows)
    return table


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--hosts", nargs="+", default=list(BENCH_HOSTS), choices=list(BENCH_HOSTS),
                        help="test hosts (default: both; host b runs only the faults that go live)")
    parser.add_argument("--label", default="", help="suffix of the results file (bad-deploy<label>.json)")
    parser.add_argument("--proxy", action="store_true",
                        help="load through Nginx on the host, and report its 502/504 and upstream times")
    parser.add_argument("--bench-hosts", nargs=2, metavar=("HOST_A", "HOST_B"),
                        help="two other running test hosts instead of djangoops-bench-a and -b")
    parser.add_argument("--faults", nargs="+", type=int, metavar="N",
                        help="only these faults (1-based, in the order of FAULTS)")
    parser.add_argument("--report", metavar="JSON", nargs="+", help="print the table of earlier results files "
                        "(their runs together), run nothing")
    opts = parser.parse_args()
    if opts.report:
        print(markdown(summarize(benchlib.read_runs(opts.report))))
        return
    chosen = [name for name in HOSTS if name in opts.hosts]
    renamed = benchlib.rename_hosts(HOSTS, opts.bench_hosts)
    HOSTS.clear()
    HOSTS.update((name, values) for index, (name, values) in enumerate(renamed.items())
                 if list(BENCH_HOSTS)[index] in chosen)
    benchlib.require_hosts(list(HOSTS), "bench")
    info = benchlib.machine()
    started = time.monotonic()
    inventory = benchlib.write_inventory(list(HOSTS), name="inventory-bad-deploy.json", host_vars=HOSTS)
    for host in HOSTS:
        benchlib.install_load_tools(host)
        if opts.proxy:
            benchlib.require_proxy(host)
        rc = benchlib.run_playbook(benchlib.DEPLOY, inventory, limit=host)[0]
        if rc != 0:
            raise SystemExit("the base deploy failed on %s" % host)
    rows = []
    for number in range(opts.runs):
        for index, (name, values) in enumerate(FAULTS, 1):
            if opts.faults and index not in opts.faults:
                continue
            hosts = [h for h in HOSTS if values.get("gunicorn_django_canary") is False or not socket_on(h)]
            for host in hosts if number % 2 == 0 else reversed(hosts):
                row = one(inventory, host, name, values, opts.proxy)
                row["round"] = number + 1
                rows.append(row)
                print("round %d %s %-52s %-11s wrk failed %4d prober failed %3d outage %s s, playbook %.1f s" % (
                    number + 1, host[-1], name, row["result"], row["wrk_failed"], row["probe_failed"],
                    row["outage_s"], row["playbook_s"]), flush=True)
    summary = summarize(rows)
    info["wall_s"] = round(time.monotonic() - started)
    path = benchlib.write_results("bad-deploy%s%s" % (opts.label, "-proxy" if opts.proxy else ""), {
        "machine": info, "options": vars(opts), "runs": rows, "summary": summary})
    print("\n%s, %s, wall time %d s, results %s\n" % (info["date"], info["command"], info["wall_s"], path))
    print(markdown(summary))


if __name__ == "__main__":
    main()
