#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gunicorn_loadtest
short_description: Drive a bounded wrk load at this host's own Gunicorn and measure it
version_added: 0.1.0
description:
  - Runs C(wrk) on the target against the target's own loopback only (V(127.0.0.0/8), V(::1) or
    V(localhost)); any other address is refused. The pages in O(paths) are requested in turn.
  - A warm-up run (discarded) comes first, then the measured run. Every run is bounded by O(duration),
    O(warmup) and O(timeout), with hard caps, and wrk is killed if it outlives them.
  - While the measured run goes, samples the Gunicorn instance O(app) (its master and workers) for CPU time
    and memory (USS, or RSS when USS is not readable), and reports what the load generator itself used.
  - Changes nothing on the target, but it puts load on it, so it does not run in check mode.
author: "djangoops.gunicorn contributors (@djangoops)"
requirements:
  - psutil
  - wrk (Debian package C(wrk)) on the target
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: none
  diff_mode:
    support: none
  platform:
    platforms: posix
options:
  url:
    description:
      - Scheme, host and port of the service, for example V(http://127.0.0.1:8000). Loopback only.
      - A Gunicorn bind is accepted too (V(127.0.0.1:8000), V(0.0.0.0:8000), V([::]:8000), V(localhost:8000));
        the load then goes to the loopback address of its family on that port. A unix socket cannot be
        loaded.
    type: str
    required: true
  paths:
    description:
      - The pages to request, in turn, for example V(/items/) or V(/search/?q=shoes). Use real dynamic pages
        (templates, ORM), not a health check.
    type: list
    elements: str
    required: true
  connections:
    description: Open connections (the concurrency), 1 to 1000.
    type: int
    default: 20
  threads:
    description: wrk threads, at most O(connections).
    type: int
    default: 2
  duration:
    description: Seconds of the measured run, 1 to 300.
    type: int
    default: 20
  warmup:
    description: Seconds of the discarded warm-up run before it, 0 to 120.
    type: int
    default: 5
  timeout:
    description: Seconds after which a request counts as timed out, 1 to 60.
    type: int
    default: 5
  headers:
    description:
      - Extra request headers, for example a C(Host) header when Django's C(ALLOWED_HOSTS) does
        not list the loopback address.
    type: dict
    default: {}
  keepalive:
    description:
      - Keep connections open between requests (HTTP keep-alive).
      - V(false) (the default) sends C(Connection close) with every request, as a reverse proxy does by default
        (nginx talks HTTP/1.0 to its upstreams unless told otherwise). Each request then reaches whichever worker
        accepts it first. With keep-alive clients a gthread worker keeps the connections it accepted, so the load
        spreads unevenly over the workers and p95 rises; measure with V(true) only if the proxy in front really
        keeps upstream connections alive.
      - Ignored when O(headers) sets C(Connection) itself.
    type: bool
    default: false
  app:
    description:
      - The Gunicorn instance to sample, as a systemd unit name or an app name (see
        M(djangoops.gunicorn.gunicorn_facts)). When omitted, nothing is sampled.
    type: str
  sample_interval:
    description: Seconds between two memory samples of the instance.
    type: float
    default: 1.0
  wrk_path:
    description: The wrk program.
    type: path
    default: wrk
notes:
  - wrk keeps O(connections) busy all the time (a closed loop); latency is measured per completed request,
    and throughput is what the service sustains at that concurrency.
seealso:
  - module: djangoops.gunicorn.gunicorn_facts
  - name: wrk
    description: The HTTP benchmarking tool this module runs.
    link: https://github.com/wg/wrk
"""

EXAMPLES = r"""
- name: Measure the catalog page at 20 connections for 20 seconds
  djangoops.gunicorn.gunicorn_loadtest:
    url: http://127.0.0.1:8000
    paths:
      - /items/
      - /search/?q=shoes
    connections: 20
    duration: 20
    warmup: 5
    app: gunicorn-mysite.service
    headers:
      Host: www.example.com
  register: load

- name: Show throughput and p95
  ansible.builtin.debug:
    msg: "{{ load.load.rps }} req/s, p95 {{ load.load.p95_ms }} ms, {{ load.load.errors }} errors"
"""

RETURN = r"""
load:
  description: What wrk measured in the measured run.
  returned: success
  type: dict
  contains:
    requests:
      description: Completed requests.
      type: int
    duration_s:
      description: Length of the run in seconds.
      type: float
    rps:
      description: Completed requests per second.
      type: float
    p50_ms:
      description: Median latency in milliseconds.
      type: float
    p90_ms:
      description: 90th percentile latency.
      type: float
    p95_ms:
      description: 95th percentile latency.
      type: float
    p99_ms:
      description: 99th percentile latency.
      type: float
    max_ms:
      description: Largest latency.
      type: float
    mean_ms:
      description: Mean latency.
      type: float
    non_2xx_3xx:
      description: Responses with a status of 400 or more.
      type: int
    socket_errors:
      description: Socket errors by kind (connect, read, write, timeout).
      type: dict
    errors:
      description: Socket errors plus responses with a status of 400 or more.
      type: int
    error_rate:
      description: Errors per attempted request (0 to 1).
      type: float
  sample:
    requests: 4105
    duration_s: 20.01
    rps: 205.1
    p50_ms: 88.2
    p95_ms: 131.5
    errors: 0
warmup:
  description: Requests, errors and throughput of the warm-up run, or null without warm-up.
  returned: success
  type: dict
gunicorn:
  description: What the run cost the Gunicorn instance (null when O(app) is not given).
  returned: success
  type: dict
  contains:
    master_pid:
      description: PID of the master that was sampled.
      type: int
    workers:
      description: Largest number of workers seen during the run.
      type: int
    cpu_seconds:
      description: CPU seconds used by the master and its workers during the measured run.
      type: float
    cpu_cores:
      description: CPU seconds per second of the run (1.0 is one core busy).
      type: float
    memory_metric:
      description: V(uss) or V(rss).
      type: str
    memory_total_mb:
      description: Master plus workers at the largest sample, in MiB.
      type: float
    memory_per_worker_mb:
      description: Mean worker memory at that sample, in MiB.
      type: float
    memory_max_worker_mb:
      description: Largest worker at that sample, in MiB.
      type: float
loadgen:
  description: The load generator's own CPU use (it shares the host's CPUs with Gunicorn).
  returned: success
  type: dict
  sample:
    tool: wrk
    cpu_seconds: 1.9
    cpu_cores: 0.09
summary:
  description:
    - The main figures, flat - C(requests), C(rps), C(p50_ms), C(p95_ms), C(p99_ms), C(errors), C(error_rate),
      C(memory_total_mb), C(memory_per_worker_mb), C(cpu_cores) (Gunicorn's) and C(loadgen_cpu_cores).
  returned: success
  type: dict
cmd:
  description: The wrk command line of the measured run.
  returned: success
  type: list
  elements: str
"""

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.djangoops.gunicorn.plugins.module_utils import gunicorn_procs, loadtest

try:
    import psutil
except ImportError:
    psutil = None
    PSUTIL_IMPORT_ERROR = traceback.format_exc()
else:
    PSUTIL_IMPORT_ERROR = None


def find_master(app):
    """PID of the one Gunicorn master of ``app``; LoadTestError when there is none or several."""
    instances, _pidfile_pid = gunicorn_procs.discover_instances()
    matches = gunicorn_procs.match_instances(instances, app)
    if len(matches) != 1:
        raise loadtest.LoadTestError("app %r matches %d running Gunicorn masters (%s); it must match one" % (
            app, len(matches), ", ".join(str(i["master_pid"]) for i in matches) or "none"))
    return matches[0]["master_pid"]


def main():
    module = AnsibleModule(
        argument_spec=dict(
            url=dict(type="str", required=True),
            paths=dict(type="list", elements="str", required=True),
            connections=dict(type="int", default=20),
            threads=dict(type="int", default=2),
            duration=dict(type="int", default=20),
            warmup=dict(type="int", default=5),
            timeout=dict(type="int", default=5),
            headers=dict(type="dict", default={}),
            keepalive=dict(type="bool", default=False),
            app=dict(type="str"),
            sample_interval=dict(type="float", default=1.0),
            wrk_path=dict(type="path", default="wrk"),
        ),
        supports_check_mode=False,
    )
    if psutil is None:
        module.fail_json(msg=missing_required_lib("psutil"), exception=PSUTIL_IMPORT_ERROR)
    params = module.params
    try:
        base_url, paths = loadtest.check_target(params["url"], params["paths"])
        loadtest.check_profile(params["connections"], params["threads"], params["duration"], params["warmup"],
                               params["timeout"])
        wrk_path = module.get_bin_path(params["wrk_path"], required=False) or params["wrk_path"]
        master_pid = find_master(params["app"]) if params["app"] else None
        result = loadtest.run_load(module.run_command, psutil, gunicorn_procs.summarize_memory, master_pid, wrk_path,
                                   base_url, paths, params["connections"], params["threads"], params["duration"],
                                   params["warmup"], params["timeout"],
                                   loadtest.request_headers(params["headers"], params["keepalive"]),
                                   params["sample_interval"])
    except loadtest.LoadTestError as exc:
        module.fail_json(msg="gunicorn_loadtest: %s" % exc)
    module.exit_json(changed=False, **result)


if __name__ == "__main__":
    main()
