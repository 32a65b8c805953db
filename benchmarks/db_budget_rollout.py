"""PostgreSQL's connections and what Nginx's clients see during rolling deploys of 3 hosts under load.

    python benchmarks/db_budget_rollout.py [--runs 3] [--connections 4]

Needs the hosts of the `stack` scenario (`make stack-hosts`: molecule create/prepare/converge -s stack):
one PostgreSQL server with max_connections = 40 and three app hosts running the sample app on it, each
behind Nginx (app2 through a unix socket, gthread 2 x 3). Each round:

- a sampler on the database host counts pg_stat_activity's client backends every 0.1 s (the app role's
  and everyone's; molecule/stack/files/pg-sampler.sh);
- wrk inside every app host loads /items/ through its Nginx (--connections each, on loopback);
- after --settle seconds, playbooks/deploy.yml rolls a real change out to the three hosts, one host per
  batch (max_requests, alternating between two values: a HUP on every host), after its database budget
  check has read the server;
- the load stops --settle seconds after the rollout, and the round records the peak connections, the
  median before the rollout, what the budget check computed, wrk's figures and Nginx's (502/504 and
  upstream times from the lines its access log gained).

Writes .build/bench/db-budget-rollout.json and prints the Markdown table of docs/performance.md.
"""
import argparse
import json
import os
import re
import statistics
import time

import yaml

import benchlib

SCENARIO = os.path.join(benchlib.ROOT, "molecule", "stack")
DB = "djangoops-stack-db"
APPS = ["djangoops-stack-app1", "djangoops-stack-app2", "djangoops-stack-app3"]
SAMPLER = os.path.join(SCENARIO, "files", "pg-sampler.sh")
SAMPLES = "/run/bench-pg-samples"
BUDGET_LINE = re.compile(r"database stack: (\d+) of (\d+) connections at most during the rollout")


def write_inventory():
    """The stack scenario's inventory (molecule/stack/molecule.yml) for ansible-playbook, as JSON."""
    with open(os.path.join(SCENARIO, "molecule.yml"), encoding="utf-8") as handle:
        scenario = yaml.safe_load(handle)
    group_vars = scenario["provisioner"]["inventory"]["group_vars"]
    host_vars = scenario["provisioner"]["inventory"]["host_vars"]
    base = {"ansible_connection": "containers.podman.podman", "ansible_python_interpreter": "/usr/bin/python3"}
    base.update(group_vars["all"])
    inventory = {"all": {"vars": base, "children": {
        "db": {"hosts": {DB: {}}},
        "app": {"hosts": dict((host, host_vars.get(host, {})) for host in APPS), "vars": group_vars["app"]}}}}
    os.makedirs(benchlib.BUILD, exist_ok=True)
    path = os.path.join(benchlib.BUILD, "inventory-stack.json")
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(inventory, handle, indent=2)
    return path, scenario["provisioner"]["env"]


def samples(text, since=None, until=None):
    """[(time, app role's, all clients')] of the sampler's lines within [since, until]."""
    rows = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) == 3:
            when, app, total = float(parts[0]), int(parts[1]), int(parts[2])
            if (since is None or when >= since) and (until is None or when <= until):
                rows.append((when, app, total))
    return rows


def live_max_requests(host):
    text = benchlib.guest(host, "grep -h '^max_requests = ' /etc/gunicorn/mysite/gunicorn.conf.py", check=False)[1]
    match = re.search(r"max_requests = (\d+)", text)
    return int(match.group(1)) if match else None


def one_round(number, inventory, env, opts):
    # A value the hosts do not run yet, so that every round is a real change (a HUP on every host).
    values = {"deploy_hosts": "app",
              "gunicorn_django_max_requests": 1101 if live_max_requests(APPS[0]) == 1100 else 1100}
    benchlib.guest(DB, "rm -f %s; systemd-run --unit=bench-pg-sampler --collect /bin/sh "
                       "/usr/local/lib/bench-pg-sampler.sh %s" % (SAMPLES, SAMPLES))
    proxies = dict((host, benchlib.ProxyLog(host).start()) for host in APPS)
    load = dict((host, benchlib.Wrk(host, "/items/", opts.connections, "stack", max_seconds=600,
                                    base_url=benchlib.PROXY_URL).start()) for host in APPS)
    time.sleep(opts.settle)
    started = time.time()
    rc, seconds, out = benchlib.run_playbook("djangoops.gunicorn.deploy", inventory, extra_vars=values, env=env,
                                             log="db-budget-playbooks.log")
    ended = time.time()
    time.sleep(opts.settle)
    stats = benchlib.stop_all(load)
    benchlib.guest(DB, "systemctl stop bench-pg-sampler; sleep 0.3")
    seen = samples(benchlib.guest(DB, "cat %s" % SAMPLES)[1])
    before = [app for when, app, _total in seen if when < started]
    during = [(app, total) for when, app, total in seen if started <= when <= ended]
    budget = BUDGET_LINE.search(out)
    return {
        "round": number, "rc": rc, "playbook_s": round(seconds, 2),
        "reloaded": len(re.findall(r"\| reloaded \|", out)),
        "budget_need": int(budget.group(1)) if budget else None,
        "budget_allowed": int(budget.group(2)) if budget else None,
        "app_before_median": statistics.median(before) if before else None,
        "app_peak": max((app for app, _total in during), default=None),
        "all_peak": max((total for _app, total in during), default=None),
        "samples": len(seen),
        "wrk": stats, "proxy": dict((host, proxy.stop()) for host, proxy in proxies.items()),
    }


def summarize(rows):
    proxy = [p for r in rows for p in r["proxy"].values()]
    return {
        "rounds": len(rows),
        "rollouts_ok": sum(1 for r in rows if r["rc"] == 0),
        "hosts_reloaded": [r["reloaded"] for r in rows],
        "budget_need": benchlib.median([r["budget_need"] for r in rows]),
        "budget_allowed": benchlib.median([r["budget_allowed"] for r in rows]),
        "app_before_median": benchlib.median([r["app_before_median"] for r in rows]),
        "app_peak": [r["app_peak"] for r in rows],
        "app_peak_median": benchlib.median([r["app_peak"] for r in rows]),
        "all_peak_median": benchlib.median([r["all_peak"] for r in rows]),
        "playbook_s": benchlib.median([r["playbook_s"] for r in rows]),
        "wrk_requests": benchlib.median([sum(s["requests"] for s in r["wrk"].values()) for r in rows]),
        "wrk_failed": [sum(s["non2xx"] + s["connect"] + s["read"] + s["write"] + s["timeout"]
                           for s in r["wrk"].values()) for r in rows],
        "proxy_502": [sum(p["status_502"] for p in r["proxy"].values()) for r in rows],
        "proxy_504": [sum(p["status_504"] for p in r["proxy"].values()) for r in rows],
        "upstream_p95_s": benchlib.median([p["upstream_p95_s"] for p in proxy]),
        "upstream_max_s": max([p["upstream_max_s"] or 0 for p in proxy] or [0]),
    }


def markdown(summary):
    return benchlib.markdown_table(
        ["rounds", "rollouts complete (hosts reloaded)", "budget check: need / allowed",
         "app connections before (median)", "app connections peak (per round)", "all clients peak (median)",
         "rollout (s, median)", "wrk requests (median)", "wrk failed (per round)", "Nginx 502 (per round)",
         "Nginx 504 (per round)", "upstream p95 (s, median)", "upstream max (s)"],
        [[summary["rounds"], "%d (%s)" % (summary["rollouts_ok"], ", ".join(map(str, summary["hosts_reloaded"]))),
          "%s / %s" % (summary["budget_need"], summary["budget_allowed"]), summary["app_before_median"],
          ", ".join(map(str, summary["app_peak"])), summary["all_peak_median"], summary["playbook_s"],
          summary["wrk_requests"], ", ".join(map(str, summary["wrk_failed"])),
          ", ".join(map(str, summary["proxy_502"])), ", ".join(map(str, summary["proxy_504"])),
          summary["upstream_p95_s"], summary["upstream_max_s"]]])


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--runs", type=int, default=3, help="rolling deploys, each under load")
    parser.add_argument("--connections", type=int, default=4, help="wrk connections per app host (through Nginx)")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds of load before and after each rollout")
    parser.add_argument("--report", metavar="JSON", help="print the table of an earlier results file, run nothing")
    opts = parser.parse_args()
    if opts.report:
        with open(opts.report, encoding="utf-8") as handle:
            print(markdown(json.load(handle)["summary"]))
        return
    benchlib.require_hosts([DB] + APPS, "stack")
    info = benchlib.machine()
    started = time.monotonic()
    inventory, env = write_inventory()
    benchlib.copy_in(DB, SAMPLER, "/usr/local/lib/bench-pg-sampler.sh")
    for host in APPS:
        benchlib.install_load_tools(host)
        benchlib.require_proxy(host)
    rows = []
    for number in range(1, opts.runs + 1):
        row = one_round(number, inventory, env, opts)
        rows.append(row)
        print("round %d rc %d need %s/%s app before %s peak %s all peak %s 502 %d 504 %d playbook %.1f s" % (
            number, row["rc"], row["budget_need"], row["budget_allowed"], row["app_before_median"], row["app_peak"],
            row["all_peak"], sum(p["status_502"] for p in row["proxy"].values()),
            sum(p["status_504"] for p in row["proxy"].values()), row["playbook_s"]), flush=True)
    summary = summarize(rows)
    info["wall_s"] = round(time.monotonic() - started)
    path = benchlib.write_results("db-budget-rollout", {"machine": info, "options": vars(opts), "rounds": rows,
                                                        "summary": summary})
    print("\n%s, %s, wall time %d s, load average %s -> %s, results %s\n" % (
        info["date"], info["command"], info["wall_s"], info["loadavg_start"], info.get("loadavg_end"), path))
    print(markdown(summary))


if __name__ == "__main__":
    main()
