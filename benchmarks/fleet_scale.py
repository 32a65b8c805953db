"""Fleet: wall time of playbooks/deploy.yml for 1, 2, 4 and 8 test hosts.

    python benchmarks/fleet_scale.py [--runs 2] [--sizes 1 2 4 8]

Hosts djangoops-bench-f1..f8 (`make bench-fleet-hosts`: molecule create/prepare -s benchfleet).
Every run deploys a real change (gunicorn_django_workers 2 <-> 3: check-config, canary, HUP,
health gate on each host) with --forks 8 (>= hosts), in one batch (deploy_serial=0) and with the
playbook's default serial batches ([1, "25%"]: one host, then a quarter of the hosts at a time).
Sizes and modes are interleaved in every round. Writes .build/bench/fleet.json and prints the table.
"""
import argparse
import os
import time

import yaml

import benchlib

HOSTS = ["djangoops-bench-f%d" % i for i in range(1, 9)]
PLAYBOOK = os.path.join(benchlib.ROOT, "playbooks", "deploy.yml")
MODES = {"one batch": {"deploy_serial": 0}, "default batches": {}}


def write_inventory():
    """The sample app's variables for every host."""
    with open(os.path.join(benchlib.ROOT, "molecule", "shared", "sample_app_vars.yml"), encoding="utf-8") as handle:
        group_vars = yaml.safe_load(handle)
    return benchlib.write_inventory(HOSTS, name="inventory-fleet.json", group_vars=group_vars)


def deploy(inventory, hosts, mode, workers):
    values = dict(MODES[mode], deploy_hosts=",".join(hosts), gunicorn_django_workers=workers)
    rc, seconds, out = benchlib.run_playbook(PLAYBOOK, inventory, forks=8, extra_vars=values, log="fleet-playbooks.log")
    if rc != 0:
        raise RuntimeError("deploy.yml on %d hosts (%s) failed: %s" % (len(hosts), mode, out[-3000:]))
    return round(seconds, 2)


def summarize(rows, sizes):
    summary = []
    for mode in MODES:
        base = None
        for size in sizes:
            times = [r["seconds"] for r in rows if r["mode"] == mode and r["hosts"] == size]
            med = benchlib.median(times)
            base = base or med
            summary.append({"mode": mode, "hosts": size, "runs": len(times), "median_s": med,
                            "min_s": min(times), "max_s": max(times), "per_host_s": round(med / size, 2),
                            "vs_one_host": benchlib.ratio(med, base)})
    return summary


def markdown(summary):
    rows = [[e["mode"], e["hosts"], e["runs"], e["median_s"], "%s-%s" % (e["min_s"], e["max_s"]), e["vs_one_host"],
             e["per_host_s"]] for e in summary]
    return benchlib.markdown_table(["batches", "hosts", "runs", "median (s)", "range (s)", "x one host",
                                    "s per host"], rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--label", default="", help="suffix of the results file (fleet<label>.json)")
    parser.add_argument("--report", metavar="JSON", nargs="+", help="print the table of earlier results files "
                        "(their runs together), run nothing")
    opts = parser.parse_args()
    if opts.report:
        rows = benchlib.read_runs(opts.report)
        print(markdown(summarize(rows, sorted(set(r["hosts"] for r in rows)))))
        return
    benchlib.require_hosts(HOSTS[:max(opts.sizes)], "benchfleet")
    info = benchlib.machine()
    started = time.monotonic()
    inventory = write_inventory()
    hosts_all = HOSTS[:max(opts.sizes)]
    first = deploy(inventory, hosts_all, "one batch", 2)
    print("first converge of %d hosts in one batch: %.1f s" % (len(hosts_all), first), flush=True)
    workers = 2
    rows = []
    for number in range(opts.runs):
        combos = [(size, mode) for size in opts.sizes for mode in MODES]
        for size, mode in combos if number % 2 == 0 else reversed(combos):
            # 2 <-> 3 at every run: runs come in pairs of the same size, so every host of a run
            # (also those left out of the run before) gets a real change.
            workers = 5 - workers
            seconds = deploy(inventory, hosts_all[:size], mode, workers)
            rows.append({"round": number + 1, "hosts": size, "mode": mode, "seconds": seconds, "workers": workers})
            print("round %d %d host(s) %-15s %6.1f s" % (number + 1, size, mode, seconds), flush=True)
    summary = summarize(rows, opts.sizes)
    info["wall_s"] = round(time.monotonic() - started)
    path = benchlib.write_results("fleet%s" % opts.label, {
        "machine": info, "options": vars(opts), "first_converge_s": first, "runs": rows, "summary": summary})
    print("\n%s, %s, wall time %d s, results %s\n" % (info["date"], info["command"], info["wall_s"], path))
    print(markdown(summary))


if __name__ == "__main__":
    main()
