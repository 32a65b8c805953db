"""Sizing quality: which worker configuration is really best on a CPU- and memory-limited test
host, and where gunicorn_facts' recommendation and the folk rule `2 * CPU + 1` land against it.

    .venv/bin/python benchmarks/sizing_sweep.py [--duration 10] [--keep]

Boots the `sizing` Molecule scenario's host (podman --cpus=1.5 --memory=1g, the sample app
deployed from the inventory, like the `tune` scenario's), then runs benchmarks/sizing/sweep.yml
against it (wrk installed by the gunicorn_tune role's loadgen tasks): for each configuration of
the grid (sync 1-5 workers, gthread 2-3 workers x 2-8 threads) one deploy through gunicorn_django,
then a bounded wrk load per page (the CPU-bound /cpu/?ms=20 and the I/O-bound /io/?ms=200) from
the host against its own loopback. gunicorn_facts' recommendation is read per profile (cpu for
the CPU page, io for the I/O page). Prints Markdown tables (also written to
.build/bench/sizing-sweep.md, the raw figures to .build/bench/sizing-sweep.json) and destroys
the host unless --keep. Needs `make setup`.
"""
import argparse
import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, ".build", "bench")
HOST = "djangoops-sizing"
PAGES = [{"name": "cpu", "path": "/cpu/?ms=20", "profile": "cpu"},
         {"name": "io", "path": "/io/?ms=200", "profile": "io"}]
GRID = ([{"worker_class": "sync", "workers": w, "threads": 1} for w in range(1, 6)]
        + [{"worker_class": "gthread", "workers": w, "threads": t} for w in (2, 3) for t in (2, 4, 8)])


def molecule(*args):
    subprocess.run(["molecule", *args, "-s", "sizing"], cwd=ROOT, check=True)


def inventory_file():
    base = os.environ.get("ANSIBLE_HOME", os.path.expanduser("~/.ansible"))
    candidates = []
    for entry in os.listdir(os.path.join(base, "tmp")):
        path = os.path.join(base, "tmp", entry, "inventory", "ansible_inventory.yml")
        if entry.endswith(".sizing") and os.path.exists(path):
            candidates.append(path)
    if not candidates:
        raise SystemExit("no inventory of the sizing scenario found (molecule converge -s sizing)")
    return max(candidates, key=os.path.getmtime)


def describe(config):
    if config["worker_class"] == "gthread":
        return "%d gthread x %d" % (config["workers"], config["threads"])
    return "%d %s" % (config["workers"], config["worker_class"])


def same(config, recommendation):
    return (config["workers"] == recommendation["workers"] and config["threads"] == recommendation["threads"]
            and (config["worker_class"] == recommendation["worker_class"]
                 or (config["threads"] == 1 and recommendation["worker_class"] in ("sync", "gthread"))))


def tables(data):
    """One Markdown table per page: every configuration, the best, the recommendation, 2*CPU+1."""
    out = []
    logical = data["facts"][0]["cpu"]["logical"]
    effective = data["facts"][0]["cpu"]["effective"]
    folk = 2 * logical + 1
    for index, page in enumerate(data["pages"]):
        recommendation = data["facts"][index]["recommendation"]
        rows, seen = [], set()
        for result in data["results"]:
            if describe(result["config"]) not in seen:  # a recommendation the grid already held
                seen.add(describe(result["config"]))
                rows.append((result["config"], result["pages"][page["name"]]))
        best_rps = max(m["rps"] for _c, m in rows if m["errors"] == 0)
        out.append("### `%s` (profile %s)" % (page["path"], page["profile"]))
        out.append("")
        out.append("| configuration | req/s | of best | p50 ms | p95 ms | p99 ms | errors | memory MB | CPU cores "
                   "| note |")
        out.append("|---|---|---|---|---|---|---|---|---|---|")
        for config, metrics in rows:
            notes = []
            if metrics["rps"] == best_rps:
                notes.append("**best**")
            if same(config, recommendation):
                notes.append("gunicorn_facts (bound by %s)" % recommendation["bound_by"])
            if config["worker_class"] == "sync" and config["workers"] == folk:
                notes.append("2 x CPU + 1")
            out.append("| %s | %g | %d%% | %g | %g | %g | %d | %g | %g | %s |" % (
                describe(config), metrics["rps"], round(100.0 * metrics["rps"] / best_rps), metrics["p50_ms"],
                metrics["p95_ms"], metrics["p99_ms"], metrics["errors"], metrics["memory_total_mb"],
                metrics["cpu_cores"], ", ".join(notes)))
        out.append("")
        out.append("gunicorn_facts recommends %s (%s); `2 * cpu_count() + 1` gives %d sync workers (%d logical "
                   "CPUs seen by Python; the cgroup allows %g)." % (
                       describe(recommendation), recommendation["reasons"][0], folk, logical, effective))
        out.append("")
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--duration", type=int, default=10, help="seconds of measured load per page and config")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--keep", action="store_true", help="keep the test host")
    opts = parser.parse_args()
    os.makedirs(OUT, exist_ok=True)
    output = os.path.join(OUT, "sizing-sweep.json")
    molecule("converge")
    try:
        extra = {"sweep_host": HOST, "sweep_pages": PAGES, "sweep_configs": GRID, "sweep_output": output,
                 "sweep_duration": opts.duration, "sweep_warmup": opts.warmup, "sweep_connections": opts.connections}
        subprocess.run(["ansible-playbook", "-i", inventory_file(), "--extra-vars", json.dumps(extra),
                        os.path.join(ROOT, "benchmarks", "sizing", "sweep.yml")], cwd=ROOT, check=True)
    finally:
        if not opts.keep:
            molecule("destroy")
    with open(output, encoding="utf-8") as handle:
        markdown = tables(json.load(handle))
    with open(os.path.join(OUT, "sizing-sweep.md"), "w", encoding="utf-8") as handle:
        handle.write(markdown)
    sys.stdout.write(markdown)


if __name__ == "__main__":
    main()
