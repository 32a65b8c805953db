"""Cost of safety: wall time of the role against a naive hand-written playbook on the same host.

    python benchmarks/safety_cost.py [--runs 5] [--profile]

On one test host (--host, default djangoops-bench-a), no load. Each round runs, for the role (molecule/shared/deploy.yml)
and for benchmarks/naive/deploy.yml (template + `--check-config` + reload + one uri check), in
turns (which goes first alternates):

- first converge: the service and every file of the previous one removed first;
- no-change re-run: the same playbook again;
- config change: another `workers` count (the role reloads with HUP after its checks and canary).

Both serve the sample app on 127.0.0.1:8000, so each is torn down before the other's first
converge. --profile runs the role's no-change and change once more with profile_tasks and keeps the
task timings. Writes .build/bench/safety.json and prints the Markdown table.
"""
import argparse
import os
import re
import time

import benchlib

HOST = "djangoops-bench-a"  # --host
NAIVE = os.path.join(benchlib.ROOT, "benchmarks", "naive", "deploy.yml")
TEARDOWN = {
    "role": ("systemctl disable --now gunicorn-mysite.service gunicorn-mysite.socket 2>/dev/null; "
             "rm -rf /etc/systemd/system/gunicorn-mysite.service /etc/systemd/system/gunicorn-mysite.socket "
             "/etc/gunicorn/mysite /var/lib/gunicorn/mysite; systemctl daemon-reload; "
             "systemctl reset-failed gunicorn-mysite.service 2>/dev/null; true"),
    "naive": ("systemctl disable --now gunicorn-naive.service 2>/dev/null; "
              "rm -rf /etc/systemd/system/gunicorn-naive.service /etc/gunicorn-naive; systemctl daemon-reload; "
              "systemctl reset-failed gunicorn-naive.service 2>/dev/null; true"),
}
PLAYBOOKS = {"role": benchlib.DEPLOY, "naive": NAIVE}
WORKERS_VAR = {"role": "gunicorn_django_workers", "naive": "naive_workers"}
KINDS = ("first converge", "no-change re-run", "config change")


def run(inventory, who, kind, workers):
    rc, seconds, out = benchlib.run_playbook(PLAYBOOKS[who], inventory,
                                             extra_vars={WORKERS_VAR[who]: workers}, log="safety-playbooks.log")
    if rc != 0:
        raise RuntimeError("%s %s failed (rc=%d): %s" % (who, kind, rc, out[-3000:]))
    changed = int(re.findall(r"changed=(\d+)", out)[-1])
    return {"who": who, "kind": kind, "seconds": round(seconds, 2), "changed_tasks": changed}


def sequence(inventory, who):
    host = benchlib.read_inventory_hosts(inventory)[0]
    benchlib.guest(host, TEARDOWN[who])
    rows = [run(inventory, who, KINDS[0], 3)]
    rows.append(run(inventory, who, KINDS[1], 3))
    rows.append(run(inventory, who, KINDS[2], 4))
    benchlib.guest(host, TEARDOWN[who])
    return rows


def profile(inventory):
    """profile_tasks of the role's no-change and change runs: the slowest tasks."""
    result = {}
    for kind, workers in (("no-change re-run", 3), ("config change", 4)):
        seconds, out = benchlib.run_playbook(
            benchlib.DEPLOY, inventory, extra_vars={"gunicorn_django_workers": workers},
            env={"ANSIBLE_CALLBACKS_ENABLED": "ansible.posix.profile_tasks,ansible.posix.timer",
                 "PROFILE_TASKS_TASK_OUTPUT_LIMIT": "8"})[1:]
        tasks = re.findall(r"^(.+?) -+ (\d+\.\d+)s$", out, re.M)
        result[kind] = {"seconds": round(seconds, 2), "tasks": [(name.strip(), float(s)) for name, s in tasks]}
    return result


def summarize(rows):
    summary = {}
    for kind in KINDS:
        ratios = []
        for number in sorted(set(r["round"] for r in rows)):
            pair = dict((r["who"], r["seconds"]) for r in rows if r["round"] == number and r["kind"] == kind)
            if len(pair) == 2:
                ratios.append(pair["role"] / pair["naive"])
        summary["ratio|" + kind] = benchlib.median(ratios)
    for who in PLAYBOOKS:
        for kind in KINDS:
            times = [r["seconds"] for r in rows if r["who"] == who and r["kind"] == kind]
            summary["%s|%s" % (who, kind)] = {
                "runs": len(times), "median_s": benchlib.median(times), "min_s": min(times), "max_s": max(times)}
    return summary


def markdown(summary):
    rows = []
    for kind in KINDS:
        role, naive = summary["role|" + kind], summary["naive|" + kind]
        rows.append([kind, role["runs"], role["median_s"], "%s-%s" % (role["min_s"], role["max_s"]),
                     naive["median_s"], "%s-%s" % (naive["min_s"], naive["max_s"]),
                     benchlib.ratio(role["median_s"], naive["median_s"]), round(summary["ratio|" + kind], 2)])
    return benchlib.markdown_table(["run", "runs each", "role median (s)", "role range", "naive median (s)",
                                    "naive range", "role / naive (medians)", "role / naive (median of rounds)"],
                                   rows)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="also profile the role's runs (profile_tasks)")
    parser.add_argument("--report", metavar="JSON", help="print the table of an earlier results file, run nothing")
    parser.add_argument("--host", default=HOST, help="test host of the bench scenario (default %(default)s)")
    opts = parser.parse_args()
    if opts.report:
        print(markdown(summarize(benchlib.read_runs([opts.report]))))
        return
    benchlib.require_hosts([opts.host], "bench")
    info = benchlib.machine()
    started = time.monotonic()
    inventory = benchlib.write_inventory([opts.host], name="inventory-safety.json")
    rows = []
    for number in range(opts.runs):
        for who in (("role", "naive") if number % 2 == 0 else ("naive", "role")):
            for row in sequence(inventory, who):
                row["round"] = number + 1
                rows.append(row)
                print("round %d %-5s %-17s %6.2f s (changed=%d)" % (
                    number + 1, who, row["kind"], row["seconds"], row["changed_tasks"]), flush=True)
    # Leave the host with the role's release, as the other benchmarks expect.
    run(inventory, "role", KINDS[0], 3)
    profiled = profile(inventory) if opts.profile else None
    summary = summarize(rows)
    info["wall_s"] = round(time.monotonic() - started)
    path = benchlib.write_results("safety", {"machine": info, "options": vars(opts), "runs": rows,
                                             "summary": summary, "profile": profiled})
    print("\n%s, %s, wall time %d s, results %s\n" % (info["date"], info["command"], info["wall_s"], path))
    print(markdown(summary))
    if profiled:
        for kind, data in profiled.items():
            print("\nrole %s with profile_tasks (%.1f s):" % (kind, data["seconds"]))
            for name, seconds in data["tasks"]:
                print("  %6.2f s  %s" % (seconds, name))


if __name__ == "__main__":
    main()
