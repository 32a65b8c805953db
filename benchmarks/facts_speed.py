"""Wall time of one gunicorn_facts run on a host, as Ansible runs it: a new Python process that
imports the module and its module_utils, reads the host's CPU, memory and cgroup limits, walks
the process table, measures every Gunicorn process (USS) and computes the recommendation.

    .venv/bin/python benchmarks/facts_speed.py [--runs 20]

Runs the module `--runs` times on the host as it is (other Gunicorns it runs are found and
measured too), then again with one more Gunicorn of 4 sync workers serving a trivial WSGI app on
a private unix socket (started and stopped here), and prints the median and 90th percentile of
each, side by side. Needs `make setup` (the venv with
gunicorn and psutil, and .build/collections).
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COLLECTIONS = os.path.join(ROOT, ".build", "collections")
RUN_MODULE = (
    "from ansible_collections.djangoops.gunicorn.plugins.modules import gunicorn_facts; gunicorn_facts.main()"
)
APP = "def app(environ, start_response):\n    start_response('200 OK', [])\n    return [b'ok']\n"


def run_once(args):
    env = dict(os.environ, PYTHONPATH=COLLECTIONS)
    payload = json.dumps({"ANSIBLE_MODULE_ARGS": args})
    start = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", RUN_MODULE], input=payload, capture_output=True, text=True,
                          env=env, check=False)
    elapsed = time.perf_counter() - start
    result = json.loads(done.stdout)
    if result.get("failed"):
        raise SystemExit("gunicorn_facts failed: %s" % result.get("msg"))
    return elapsed, result["ansible_facts"]["gunicorn"]


def measure(label, args, runs):
    times, facts = [], None
    while len(times) < runs:
        elapsed, facts = run_once(args)
        times.append(elapsed)
    times.sort()
    p90 = times[max(0, int(round(0.9 * len(times))) - 1)]
    return {"case": label, "runs": runs, "median_s": round(statistics.median(times), 3), "p90_s": round(p90, 3),
            "instances": len(facts["instances"]), "workers_seen": sum(len(i["worker_pids"]) for i in facts["instances"])}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--runs", type=int, default=20)
    opts = parser.parse_args()
    rows = [measure("the host as it is", {"profile": "mixed"}, opts.runs)]
    with tempfile.TemporaryDirectory() as tmp:
        with open(os.path.join(tmp, "benchapp.py"), "w", encoding="utf-8") as handle:
            handle.write(APP)
        gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
        server = subprocess.Popen([gunicorn, "--chdir", tmp, "--workers", "4", "--bind", "unix:%s/g.sock" % tmp,
                                   "--no-control-socket", "benchapp:app"], stderr=subprocess.DEVNULL)
        try:
            time.sleep(2)
            rows.append(measure("plus one Gunicorn of 4 workers", {"app": "benchapp:app"}, opts.runs))
        finally:
            server.terminate()
            server.wait(timeout=30)
    print("| case | runs | median (s) | p90 (s) | instances | workers measured |")
    print("|---|---|---|---|---|---|")
    for row in rows:
        print("| {case} | {runs} | {median_s} | {p90_s} | {instances} | {workers_seen} |".format(**row))


if __name__ == "__main__":
    main()
