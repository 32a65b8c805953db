"""Shared helpers of the load and deploy benchmarks (not a benchmark itself).

The benchmarks drive test hosts that `molecule create/prepare -s bench` (or `-s benchfleet`) left
running: podman containers booting systemd, with the sample app installed by
molecule/shared/prepare.yml. They run ansible-playbook against those hosts through the podman
connection, and wrk inside a host against its own loopback (never anywhere else).
"""
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

from ansible_collections.djangoops.gunicorn.plugins.module_utils import proxy_log

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BUILD = os.path.join(ROOT, ".build", "bench")
DEPLOY = os.path.join(ROOT, "molecule", "shared", "deploy.yml")
LUA = os.path.join(ROOT, "benchmarks", "files", "stats.lua")
PROBE = os.path.join(ROOT, "benchmarks", "files", "window_probe.py")
# The sample app's variables (molecule/shared/sample_app_vars.yml) are the base of every deploy.
UNIT = "gunicorn-mysite.service"
BASE_URL = "http://127.0.0.1:8000"
# The load of every deploy benchmark: 10 wrk connections on each (a view that sleeps, ORM + template).
URLS = {"io": "/io/?ms=50", "items": "/items/"}
# Nginx in front of the app on the same host (molecule/shared/templates/nginx-mysite.conf.j2), and its log.
PROXY_URL = "http://127.0.0.1:80"
PROXY_LOG = "/var/log/nginx/mysite.access.log"


def machine():
    """Where and when: for the results' header."""
    mem_kb = 0
    with open("/proc/meminfo", encoding="utf-8") as handle:
        for line in handle:
            if line.startswith("MemTotal:"):
                mem_kb = int(line.split()[1])
    return {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "memory_gb": round(mem_kb / 1024 / 1024),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "loadavg_start": [round(x, 2) for x in os.getloadavg()],
        "command": " ".join([os.path.relpath(sys.argv[0], ROOT)] + sys.argv[1:]),
    }


def median(values):
    values = [v for v in values if v is not None]
    return round(statistics.median(values), 3) if values else None


def ratio(num, den):
    return round(num / den, 2) if num is not None and den else None


def write_results(name, data):
    if "machine" in data:
        data["machine"]["loadavg_end"] = [round(x, 2) for x in os.getloadavg()]
    os.makedirs(BUILD, exist_ok=True)
    path = os.path.join(BUILD, "%s.json" % name)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(data, handle, indent=2, sort_keys=True)
        handle.write("\n")
    return path


def read_runs(paths):
    """The "runs" of earlier results files, together (for --report)."""
    runs = []
    for path in paths:
        with open(path, encoding="utf-8") as handle:
            runs.extend(json.load(handle)["runs"])
    return runs


def markdown_table(headers, rows):
    lines = ["| %s |" % " | ".join(headers), "|%s" % ("---|" * len(headers))]
    for row in rows:
        lines.append("| %s |" % " | ".join("-" if cell is None else str(cell) for cell in row))
    return "\n".join(lines)


# -- hosts -------------------------------------------------------------------------------------


def rename_hosts(hosts, names):
    """The benchmark's hosts (name -> host_vars, in order) under other names (--bench-hosts): the same roles
    on hosts another scenario left running."""
    if not names:
        return hosts
    if len(names) != len(hosts):
        raise SystemExit("--bench-hosts takes %d names (for %s)" % (len(hosts), ", ".join(hosts)))
    return dict(zip(names, hosts.values()))


def require_hosts(names, scenario):
    """Fail with the command to run when a test host is not up."""
    out = subprocess.run(["podman", "ps", "--format", "{{.Names}}"], capture_output=True, text=True, check=True)
    running = set(out.stdout.split())
    missing = [name for name in names if name not in running]
    if missing:
        raise SystemExit("test host(s) %s not running: make bench-hosts (molecule create/prepare -s %s)"
                         % (", ".join(missing), scenario))


def guest(host, command, check=True, timeout=120):
    """Run a shell command inside a test host; (rc, stdout)."""
    done = subprocess.run(["podman", "exec", host, "sh", "-c", command], capture_output=True, text=True,
                          check=False, timeout=timeout)
    if check and done.returncode != 0:
        raise RuntimeError("%s: %s failed (rc=%d): %s" % (host, command, done.returncode, done.stderr.strip()))
    return done.returncode, done.stdout


def copy_in(host, source, dest):
    subprocess.run(["podman", "cp", source, "%s:%s" % (host, dest)], check=True)


def wait_healthy(host, path="/items/", timeout=60):
    """Poll a page inside the host until it answers 200."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rc, out = guest(host, "curl -s -o /dev/null -w '%%{http_code}' --max-time 5 %s%s" % (BASE_URL, path),
                        check=False)
        if rc == 0 and out.strip() == "200":
            return
        time.sleep(0.5)
    raise RuntimeError("%s: %s did not answer 200 within %d s" % (host, path, timeout))


def worker_count(host):
    out = guest(host, "pid=$(systemctl show -P MainPID %s); ps -o pid= --ppid $pid | wc -l" % UNIT, check=False)[1]
    return int(out.strip() or 0)


# -- ansible -----------------------------------------------------------------------------------


def write_inventory(hosts, name="inventory.json", host_vars=None, group_vars=None):
    """An inventory of podman test hosts (what molecule's would hold) under .build/bench/ (JSON: typed
    variables)."""
    os.makedirs(BUILD, exist_ok=True)
    path = os.path.join(BUILD, name)
    variables = {"ansible_connection": "containers.podman.podman", "ansible_python_interpreter": "/usr/bin/python3",
                 "sample_app_wheelhouse": os.path.join(ROOT, ".build", "wheelhouse"),
                 "sample_app_source": os.path.join(ROOT, "tests", "sample_app")}
    variables.update(group_vars or {})
    inventory = {"all": {"hosts": dict((host, (host_vars or {}).get(host, {})) for host in hosts), "vars": variables}}
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(inventory, handle, indent=2)
    return path


def read_inventory_hosts(path):
    with open(path, encoding="utf-8") as handle:
        return list(json.load(handle)["all"]["hosts"])


def ansible_env(extra=None):
    """The settings molecule's provisioner gives every scenario (pipelining, python)."""
    env = dict(os.environ)
    env.update({
        "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, ".build", "collections"),
        "ANSIBLE_PIPELINING": "true",
        "ANSIBLE_FORCE_COLOR": "false",
        "ANSIBLE_DISPLAY_SKIPPED_HOSTS": "false",
        "ANSIBLE_CALLBACK_RESULT_FORMAT": "yaml",
        "ANSIBLE_RETRY_FILES_ENABLED": "false",
        "ANSIBLE_NOCOLOR": "1",
    })
    env.update(extra or {})
    return env


def export_collection(ref):
    """The collection as it was at a git ref, as a collections path under .build/bench/ (for
    ANSIBLE_COLLECTIONS_PATH: deploy with an older version of the role)."""
    root = os.path.join(BUILD, "collection-%s" % ref.replace("/", "_"))
    target = os.path.join(root, "ansible_collections", "djangoops", "gunicorn")
    os.makedirs(target, exist_ok=True)
    archive = subprocess.run(["git", "archive", ref], cwd=ROOT, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", target], input=archive.stdout, check=True)
    return root


def release_result(stdout, host):
    """The gunicorn_release task's result in the json callback's output (with _task_end: the
    controller's time at the end of the task)."""
    try:
        plays = json.loads(stdout)["plays"]
    except (ValueError, KeyError):
        return {}
    for play in plays:
        for task in play["tasks"]:
            result = task["hosts"].get(host, {})
            if "changed_files" in result or "service_action" in result:
                end = task["task"].get("duration", {}).get("end")
                if end:
                    result["_task_end"] = datetime.datetime.fromisoformat(end.replace("Z", "+00:00")).timestamp()
                return result
    return {}


def run_playbook(playbook, inventory, limit=None, extra_vars=None, forks=None, env=None, args=(), log=None):
    """Run ansible-playbook; (rc, wall seconds, stdout)."""
    command = ["ansible-playbook", "--inventory", inventory]
    if limit:
        command += ["--limit", limit]
    if forks:
        command += ["--forks", str(forks)]
    if extra_vars:
        handle, vars_file = tempfile.mkstemp(prefix="vars-", suffix=".json", dir=BUILD)
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            json.dump(extra_vars, out)
        command += ["--extra-vars", "@" + vars_file]
    command += list(args) + [playbook]
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=ansible_env(env), check=False, cwd=ROOT)
    elapsed = time.perf_counter() - start
    if extra_vars and os.path.exists(vars_file):
        os.unlink(vars_file)
    if log:
        with open(os.path.join(BUILD, log), "a", encoding="utf-8") as handle:
            handle.write("### %s rc=%d %.2fs\n%s\n%s\n" % (
                " ".join(command), done.returncode, elapsed, done.stdout[-20000:], done.stderr[-5000:]))
    return done.returncode, elapsed, done.stdout


# -- load --------------------------------------------------------------------------------------


class Wrk:
    """wrk inside a test host against its loopback, from start() until stop() (SIGINT: wrk then
    prints its summary, which benchmarks/files/stats.lua turns into one JSON line)."""

    def __init__(self, host, path, connections, tag, max_seconds=300, base_url=BASE_URL):
        self.host, self.path, self.connections, self.tag = host, path, connections, tag
        self.max_seconds, self.base_url = max_seconds, base_url
        self.proc = None
        self.started = None

    def start(self):
        pidfile = "/run/bench-wrk-%s.pid" % self.tag
        command = ("echo $$ > %s; exec wrk -t1 -c%d -d%ds --timeout 30s -s /usr/local/lib/bench-stats.lua '%s%s'"
                   % (pidfile, self.connections, self.max_seconds, self.base_url, self.path))
        self.proc = subprocess.Popen(["podman", "exec", self.host, "sh", "-c", command],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.started = time.monotonic()
        return self

    def stop(self, signalled=False):
        if not signalled:
            guest(self.host, "kill -INT $(cat /run/bench-wrk-%s.pid)" % self.tag, check=False)
        out, err = self.proc.communicate(timeout=30)
        seconds = time.monotonic() - self.started
        for line in reversed(out.splitlines()):
            if line.startswith("{"):
                stats = json.loads(line)
                stats["window_s"] = round(seconds, 2)
                return stats
        raise RuntimeError("wrk on %s printed no stats: %s %s" % (self.host, out[-2000:], err[-2000:]))


def stop_all(load):
    """Stop several wrk of one host at the same moment; {name: stats}."""
    hosts = set(wrk.host for wrk in load.values())
    for host in hosts:
        guest(host, " ; ".join("kill -INT $(cat /run/bench-wrk-%s.pid)" % wrk.tag
                               for wrk in load.values() if wrk.host == host), check=False)
    return dict((name, wrk.stop(signalled=True)) for name, wrk in load.items())


def install_load_tools(host):
    copy_in(host, LUA, "/usr/local/lib/bench-stats.lua")
    copy_in(host, PROBE, "/usr/local/lib/bench-window-probe.py")
    guest(host, "command -v wrk >/dev/null || { echo 'wrk missing: molecule prepare -s bench' >&2; exit 1; }")


def socket_errors(stats):
    """wrk's socket errors of one URL: connect (refused), read, write, timeout."""
    return stats["connect"] + stats["read"] + stats["write"] + stats["timeout"]


def load_window(host, action, seconds, urls=None, connections=10, base_url=BASE_URL):
    """One window of load on a test host: wrk on each URL (`connections` each, at `base_url`:
    the app, or PROXY_URL for Nginx in front of it) from the start, the
    action (a callable returning a dict, or None) after one second, and the load until at least
    `seconds` after the start and at least one second after the action. The action's dict with
    action_start (host time: one clock) and action_s, and each URL's wrk stats under its name."""
    load = dict((name, Wrk(host, path, connections, name, base_url=base_url).start())
                for name, path in (urls or URLS).items())
    start = time.monotonic()
    time.sleep(1.0)
    action_start = time.time()
    info = action() or {}
    info["action_start"] = action_start
    info["action_s"] = round(time.time() - action_start, 2)
    time.sleep(max(1.0, seconds - (time.monotonic() - start)))
    return dict(info, **stop_all(load))


def require_proxy(host):
    """Fail with the command to run when Nginx is not in front of the app on the host."""
    rc = guest(host, "systemctl is-active --quiet nginx && test -f %s" % PROXY_LOG, check=False)[0]
    if rc != 0:
        raise SystemExit("%s: Nginx is not running with %s: molecule prepare -s bench" % (host, PROXY_LOG))


class ProxyLog:
    """What Nginx's clients saw during a window: the lines its access log gained from start() to stop(),
    counted by the collection's own parser (plugins/module_utils/proxy_log.py, as gunicorn_proxy_log and
    baseline.yml count them): requests by status, 502 and 504 answers, upstream times."""

    def __init__(self, host, path=PROXY_LOG):
        self.host, self.path, self.offset = host, path, None

    def start(self):
        self.offset = int(guest(self.host, "stat -c %%s %s" % self.path)[1].strip() or 0)
        return self

    def stop(self):
        text = guest(self.host, "tail -c +%d %s" % (self.offset + 1, self.path), timeout=60)[1]
        summary = proxy_log.summarize(text.splitlines())
        return dict((key, summary[key]) for key in (
            "requests", "by_status", "status_502", "status_504", "proxy_errors", "non_2xx", "upstream_p50_s",
            "upstream_p95_s", "upstream_max_s", "request_p95_s", "timed_lines", "unparsed_lines"))


def proxy_totals(windows):
    """Nginx's figures of several windows together (None when no window went through the proxy)."""
    seen = [w for w in windows if w]
    if not seen:
        return None
    return {"requests": sum(w["requests"] for w in seen), "status_502": sum(w["status_502"] for w in seen),
            "status_504": sum(w["status_504"] for w in seen), "non_2xx": sum(w["non_2xx"] for w in seen),
            "upstream_p95_s": median([w["upstream_p95_s"] for w in seen]),
            "upstream_max_s": max([w["upstream_max_s"] or 0 for w in seen])}


def combine(parts):
    """Per-URL wrk stats of one window into totals (percentiles: the worst URL's)."""
    total = {"requests": 0, "non2xx": 0, "socket_errors": 0, "connect": 0, "timeout": 0}
    for stats in parts.values():
        total["requests"] += stats["requests"]
        total["non2xx"] += stats["non2xx"]
        total["connect"] += stats["connect"]
        total["timeout"] += stats["timeout"]
        total["socket_errors"] += stats["connect"] + stats["read"] + stats["write"] + stats["timeout"]
    for key in ("p50_ms", "p95_ms", "p99_ms", "max_ms"):
        total[key] = max(stats[key] for stats in parts.values())
    total["window_s"] = max(stats["window_s"] for stats in parts.values())
    return total
