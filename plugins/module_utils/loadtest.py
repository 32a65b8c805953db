# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A bounded wrk run against the host's own loopback, with Gunicorn's CPU and memory sampled
while it runs. The pure parts (target checks, command line, parsing, summaries) are unit tested;
run_load() does the I/O."""

from __future__ import annotations

import ipaddress
import json
import os
import resource
import tempfile
import threading
import time

from urllib.parse import urlsplit

from ansible_collections.djangoops.gunicorn.plugins.module_utils import bind as bind_address
from ansible_collections.djangoops.gunicorn.plugins.module_utils.sizing import MIB

# Hard caps: whatever the caller asks, a run always ends.
MAX_DURATION = 300
MAX_WARMUP = 120
MAX_CONNECTIONS = 1000
MAX_TIMEOUT = 60

RESULT_MARKER = "DJANGOOPS_WRK "

# wrk runs this in every thread: rotate through the paths given after "--", print the summary as
# one JSON line (wrk's own text report has no p95).
WRK_SCRIPT = r"""
local paths = {}
local counter = 0

function init(args)
  for i, path in ipairs(args) do paths[i] = path end
  if #paths == 0 then paths[1] = wrk.path end
end

function request()
  counter = counter % #paths + 1
  return wrk.format(nil, paths[counter])
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    "DJANGOOPS_WRK {\"requests\": %d, \"duration_us\": %d, \"bytes\": %d, \"connect\": %d, " ..
    "\"read\": %d, \"write\": %d, \"status\": %d, \"timeout\": %d, \"p50_us\": %d, \"p90_us\": %d, " ..
    "\"p95_us\": %d, \"p99_us\": %d, \"max_us\": %d, \"mean_us\": %.1f}\n",
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status,
    e.timeout, latency:percentile(50), latency:percentile(90), latency:percentile(95),
    latency:percentile(99), latency.max, latency.mean))
end
"""


class LoadTestError(Exception):
    """Bad input or a failed run, with a message for the operator."""


def url_from_bind(bind):
    """The http URL of a Gunicorn bind as this host reaches it (a wildcard or localhost through the
    loopback address of its family; check_target refuses other hosts that are not loopback); an
    http(s) URL is returned unchanged."""
    if "://" in bind:
        return bind
    try:
        return bind_address.url(bind_address.parse(bind))
    except ValueError as exc:
        raise LoadTestError("%s; wrk needs the http:// URL of a TCP listener" % exc)


def check_target(url, paths):
    """(base_url, paths) after checking that every request goes to this host's loopback."""
    url = url_from_bind(url)
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise LoadTestError("url %r: the scheme must be http or https" % url)
    host = parts.hostname
    if not host:
        raise LoadTestError("url %r has no host" % url)
    if host != "localhost":
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            raise LoadTestError("url %r: load goes only to this host's loopback (127.0.0.0/8, ::1 or "
                                "localhost), not to %s" % (url, host))
        if not address.is_loopback:
            raise LoadTestError("url %r: load goes only to this host's loopback (127.0.0.0/8, ::1 or "
                                "localhost), not to %s" % (url, host))
    if parts.path not in ("", "/") or parts.query or parts.fragment:
        raise LoadTestError("url %r: give the scheme, host and port only; the pages go in paths" % url)
    if not paths:
        raise LoadTestError("paths: give at least one page, e.g. /items/")
    for path in paths:
        if not isinstance(path, str) or not path.startswith("/") or any(c.isspace() for c in path):
            raise LoadTestError("paths: %r is not an absolute path without spaces (e.g. /items/)" % (path,))
    base = "%s://%s" % (parts.scheme, parts.netloc)
    return base, list(paths)


def check_profile(connections, threads, duration, warmup, timeout):
    """Raise LoadTestError unless the load profile is within the hard caps."""
    bounds = (("connections", connections, 1, MAX_CONNECTIONS), ("threads", threads, 1, MAX_CONNECTIONS),
              ("duration", duration, 1, MAX_DURATION), ("warmup", warmup, 0, MAX_WARMUP),
              ("timeout", timeout, 1, MAX_TIMEOUT))
    for name, value, low, high in bounds:
        if not low <= value <= high:
            raise LoadTestError("%s must be from %d to %d (got %s)" % (name, low, high, value))
    if threads > connections:
        raise LoadTestError("threads (%d) cannot exceed connections (%d): wrk gives each thread at least "
                            "one connection" % (threads, connections))


def request_headers(headers, keepalive):
    """The headers of every request: without keepalive, "Connection: close" as a proxy sends by
    default (nginx speaks HTTP/1.0 to its upstreams unless told otherwise)."""
    headers = dict(headers or {})
    if not keepalive and not any(name.lower() == "connection" for name in headers):
        headers["Connection"] = "close"
    return headers


def wrk_command(wrk_path, script_path, base_url, paths, connections, threads, duration, timeout, headers=None):
    """The argv of one wrk run."""
    argv = [wrk_path, "--threads", str(threads), "--connections", str(connections),
            "--duration", "%ds" % duration, "--timeout", "%ds" % timeout, "--script", script_path]
    for name in sorted(headers or {}):
        argv += ["--header", "%s: %s" % (name, headers[name])]
    return argv + [base_url, "--"] + list(paths)


def parse_wrk_output(text):
    """The summary JSON line that WRK_SCRIPT prints, as a dict; LoadTestError when absent."""
    for line in text.splitlines():
        if line.startswith(RESULT_MARKER):
            try:
                return json.loads(line[len(RESULT_MARKER):])
            except ValueError as exc:
                raise LoadTestError("cannot parse wrk's summary %r: %s" % (line, exc))
    raise LoadTestError("wrk printed no summary: %s" % (text.strip()[-500:] or "(no output)"))


def summarize_load(raw):
    """Requests, throughput, latency in ms and errors from wrk's raw summary."""
    duration_s = raw["duration_us"] / 1e6 if raw["duration_us"] else 0.0
    socket_errors = raw["connect"] + raw["read"] + raw["write"] + raw["timeout"]
    errors = socket_errors + raw["status"]
    # A request that timed out never completed; wrk counts it in errors, not in requests.
    attempts = raw["requests"] + raw["timeout"]
    return {
        "requests": raw["requests"],
        "duration_s": round(duration_s, 3),
        "rps": round(raw["requests"] / duration_s, 1) if duration_s else 0.0,
        "p50_ms": round(raw["p50_us"] / 1000.0, 1),
        "p90_ms": round(raw["p90_us"] / 1000.0, 1),
        "p95_ms": round(raw["p95_us"] / 1000.0, 1),
        "p99_ms": round(raw["p99_us"] / 1000.0, 1),
        "max_ms": round(raw["max_us"] / 1000.0, 1),
        "mean_ms": round(raw["mean_us"] / 1000.0, 1),
        "non_2xx_3xx": raw["status"],
        "socket_errors": {name: raw[name] for name in ("connect", "read", "write", "timeout")},
        "errors": errors,
        "error_rate": round(float(errors) / attempts, 6) if attempts else (1.0 if errors else 0.0),
    }


def cpu_seconds(master_times, worker_times):
    """CPU seconds of a master (with its reaped children) and its live workers.

    A worker that exits during the run (max_requests) moves its time into the master's children
    times when the master reaps it, so the total is conserved between two samples.
    """
    total = master_times.get("user", 0.0) + master_times.get("system", 0.0)
    total += master_times.get("children_user", 0.0) + master_times.get("children_system", 0.0)
    return total + sum(t.get("user", 0.0) + t.get("system", 0.0) for t in worker_times.values())


def cpu_delta(start, end):
    """CPU seconds used between two samples of (master_times, {worker pid: times})."""
    start_master, start_workers = start
    end_master, end_workers = end
    before = cpu_seconds(start_master, {pid: t for pid, t in start_workers.items() if pid in end_workers})
    # Workers that exited moved into the master's children times: count them in the start sample.
    gone = sum(t.get("user", 0.0) + t.get("system", 0.0)
               for pid, t in start_workers.items() if pid not in end_workers)
    return max(0.0, cpu_seconds(end_master, end_workers) - before - gone)


def memory_peak(samples):
    """The sample with the largest total among memory samples (dicts from gunicorn_procs)."""
    samples = [sample for sample in samples if sample]
    if not samples:
        return None
    return max(samples, key=lambda sample: sample["total_bytes"])


def gunicorn_summary(cpu_used_s, duration_s, peak, workers):
    """What the run cost Gunicorn: CPU cores used on average, memory at its peak."""
    return {
        "cpu_seconds": round(cpu_used_s, 2),
        "cpu_cores": round(cpu_used_s / duration_s, 2) if duration_s else None,
        "workers": workers,
        "memory_metric": peak["metric"] if peak else None,
        "memory_total_mb": round(peak["total_bytes"] / MIB, 1) if peak else None,
        "memory_per_worker_mb": (round(peak["worker_mean_bytes"] / MIB, 1)
                                 if peak and peak["worker_mean_bytes"] is not None else None),
        "memory_max_worker_mb": (round(peak["worker_max_bytes"] / MIB, 1)
                                 if peak and peak["worker_max_bytes"] is not None else None),
    }


def step_metrics(load, gunicorn, loadgen):
    """The figures a tuning step keeps, flat."""
    gunicorn = gunicorn or {}
    metrics = {name: load[name] for name in ("requests", "rps", "p50_ms", "p95_ms", "p99_ms", "errors", "error_rate")}
    metrics.update({name: gunicorn.get(name) for name in ("memory_total_mb", "memory_per_worker_mb", "cpu_cores")})
    metrics["loadgen_cpu_cores"] = loadgen.get("cpu_cores")
    return metrics


class GunicornSampler(object):
    """Samples one Gunicorn master and its workers (CPU times, memory) on a background thread."""

    def __init__(self, psutil, master_pid, interval, summarize_memory):
        self._psutil = psutil
        self._master = psutil.Process(master_pid)
        self._interval = interval
        self._summarize_memory = summarize_memory
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run)
        self._thread.daemon = True
        self.memory_samples = []
        self.worker_counts = []

    def _workers(self):
        return self._master.children()

    def cpu_sample(self):
        times = self._master.cpu_times()
        master = {"user": times.user, "system": times.system, "children_user": times.children_user,
                  "children_system": times.children_system}
        workers = {}
        for proc in self._workers():
            try:
                worker = proc.cpu_times()
                workers[proc.pid] = {"user": worker.user, "system": worker.system}
            except (self._psutil.NoSuchProcess, self._psutil.AccessDenied):
                continue
        return master, workers

    def _memory_sample(self):
        try:
            workers = self._workers()
            self.worker_counts.append(len(workers))
            self.memory_samples.append(self._summarize_memory(self._master, workers))
        except (self._psutil.NoSuchProcess, self._psutil.AccessDenied):
            pass

    def _run(self):
        while not self._stop.is_set():
            self._memory_sample()
            self._stop.wait(self._interval)

    def start(self):
        self._thread.start()

    def stop(self):
        self._stop.set()
        self._thread.join()
        self._memory_sample()


def bounded(argv, limit_s):
    """argv under coreutils timeout: killed (TERM, then KILL 5 s later) if it outlives limit_s."""
    return ["timeout", "--kill-after=5", "%ds" % limit_s] + list(argv)


def _run_wrk(run_command, argv, limit_s):
    """(stdout, stderr, rc, wrk's CPU seconds) of one wrk run, killed if it outlives limit_s."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    rc, out, err = run_command(bounded(argv, limit_s))
    if rc in (124, 137):
        raise LoadTestError("wrk did not finish within %d s; it was killed" % limit_s)
    if rc in (126, 127):
        raise LoadTestError("cannot run %s: %s" % (argv[0], (err or out).strip()[-300:]))
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    used = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return out, err, rc, used


def run_load(run_command, psutil, summarize_memory, master_pid, wrk_path, base_url, paths, connections, threads,
             duration, warmup, timeout, headers=None, sample_interval=1.0):
    """Warm up, then measure. Returns the result dict of the gunicorn_loadtest module.

    run_command(argv) -> (rc, stdout, stderr) runs a program (AnsibleModule.run_command).
    """
    fd, script = tempfile.mkstemp(prefix="djangoops-wrk-", suffix=".lua")
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(WRK_SCRIPT)
        result = {"warmup": None}
        if warmup:
            argv = wrk_command(wrk_path, script, base_url, paths, connections, threads, warmup, timeout, headers)
            out, err, rc, _cpu = _run_wrk(run_command, argv, warmup + timeout + 30)
            if rc != 0:
                raise LoadTestError("wrk failed (rc=%d) during the warm-up: %s" % (rc, (err or out).strip()[-500:]))
            warm = summarize_load(parse_wrk_output(out))
            result["warmup"] = {"requests": warm["requests"], "errors": warm["errors"], "rps": warm["rps"]}

        argv = wrk_command(wrk_path, script, base_url, paths, connections, threads, duration, timeout, headers)
        sampler = GunicornSampler(psutil, master_pid, sample_interval, summarize_memory) if master_pid else None
        start_cpu = sampler.cpu_sample() if sampler else None
        if sampler:
            sampler.start()
        started = time.time()
        try:
            out, err, rc, wrk_cpu = _run_wrk(run_command, argv, duration + timeout + 30)
        finally:
            if sampler:
                sampler.stop()
        elapsed = time.time() - started
        if rc != 0:
            raise LoadTestError("wrk failed (rc=%d): %s" % (rc, (err or out).strip()[-500:]))
        load = summarize_load(parse_wrk_output(out))
        result["load"] = load
        result["loadgen"] = {"tool": "wrk", "cpu_seconds": round(wrk_cpu, 2),
                             "cpu_cores": round(wrk_cpu / elapsed, 2) if elapsed else None}
        if sampler:
            used = cpu_delta(start_cpu, sampler.cpu_sample())
            workers = max(sampler.worker_counts) if sampler.worker_counts else None
            result["gunicorn"] = dict(gunicorn_summary(used, load["duration_s"], memory_peak(sampler.memory_samples),
                                                       workers), master_pid=master_pid)
        else:
            result["gunicorn"] = None
        result["cmd"] = argv
        result["summary"] = step_metrics(load, result["gunicorn"], result["loadgen"])
        return result
    finally:
        os.unlink(script)
