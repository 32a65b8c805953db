#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r"""
---
module: gunicorn_baseline
short_description: Capture a host's load, CPU, memory, listening sockets, database connections and Gunicorn journal
version_added: 0.1.0
description:
  - Captures what an operator looks at before and after changing Gunicorn on a host, as plain data, so that two
    captures can be compared on the same figures.
  - "The load average; a CPU and swap sample over O(sample_seconds) (the figures of C(vmstat): CPU busy (user and
    system), iowait, steal and idle in whole percents, the run queue, swap in and out in KiB/s); memory and swap
    totals."
  - Every listening TCP socket and unix stream socket with its accept queue (connections waiting for a worker),
    its backlog (the most that may wait) and the processes holding it, as C(ss -l -n -p -t -x) shows them.
  - Established TCP connections from the host to the O(db_ports), by peer.
  - The journal of the O(journal_units) since O(journal_since), sorted into worker timeouts, workers killed,
    worker errors, boot failures, service failures, worker boots, reloads and starts, canary units
    (C(*-canary.service)) counted apart, with the last notable lines.
  - The C(djangoops.gunicorn.baseline) playbook runs it with M(djangoops.gunicorn.gunicorn_facts) and combines the
    two with P(djangoops.gunicorn.gunicorn_baseline#filter).
  - Read-only; never changes anything on the host.
author: "djangoops.gunicorn contributors (@djangoops)"
requirements:
  - psutil
  - journalctl (systemd), for the journal
extends_documentation_fragment:
  - action_common_attributes
attributes:
  check_mode:
    support: full
    details: The module only reads; check mode captures the same.
  diff_mode:
    support: none
  platform:
    platforms: posix
    details: Linux with systemd (C(/proc), the sock_diag netlink interface and the journal).
options:
  sample_seconds:
    description: Length of the CPU and swap sample, in seconds (1 to 60).
    type: int
    default: 1
  db_ports:
    description: Database ports whose established connections are counted; an empty list skips them.
    type: list
    elements: int
    default: [5432]
  journal_units:
    description: Unit pattern of the journal read (C(journalctl --unit)).
    type: str
    default: gunicorn-*
  journal_since:
    description: Start of the journal window, in C(journalctl --since) syntax.
    type: str
    default: 24 hours ago
notes:
  - Run it as root (become) to see the processes of other users' sockets and every unit's journal.
  - A source that cannot be read (no journalctl, a kernel without sock_diag) is listed in RV(errors) and its part
    is null; the rest is still captured.
seealso:
  - module: djangoops.gunicorn.gunicorn_facts
"""

EXAMPLES = r"""
- name: Capture the host before the change
  djangoops.gunicorn.gunicorn_baseline:
    sample_seconds: 2
    db_ports: [5432, 6432]
    journal_since: 2 hours ago
  become: true
  register: before

- name: Show the accept queues
  ansible.builtin.debug:
    msg: "{{ before.listeners | map(attribute='address') | zip(before.listeners | map(attribute='queued')) }}"
"""

RETURN = r"""
psutil_missing:
  description: True when the module failed because psutil cannot be imported by the host's Python.
  returned: failure, when psutil is missing
  type: bool
  sample: true
cpu:
  description: The load and the CPU sample.
  returned: success
  type: dict
  sample: {load: [0.42, 0.35, 0.3], run_queue: 1, busy_percent: 12, iowait_percent: 0, steal_percent: 0,
           idle_percent: 88, sample_seconds: 1}
  contains:
    load:
      description: Load average over 1, 5 and 15 minutes.
      type: list
      elements: float
      returned: success
    run_queue:
      description: Runnable tasks at the end of the sample; null when C(/proc/stat) cannot be read.
      type: int
      returned: success
    busy_percent:
      description: CPU time in user (with nice) and system (with interrupts) mode over the sample, whole percents.
      type: int
      returned: success
    iowait_percent:
      description: CPU time waiting for I/O over the sample.
      type: int
      returned: success
    steal_percent:
      description: CPU time taken by the hypervisor over the sample.
      type: int
      returned: success
    idle_percent:
      description: Idle CPU time over the sample.
      type: int
      returned: success
    sample_seconds:
      description: The O(sample_seconds).
      type: int
      returned: success
memory:
  description: C(total_bytes) (the host's RAM) and C(available_bytes) (the kernel's C(MemAvailable)).
  returned: success
  type: dict
  sample: {total_bytes: 4294967296, available_bytes: 3221225472}
swap:
  description: C(total_bytes), C(used_bytes), and C(in_kib_per_second) and C(out_kib_per_second) over the sample.
  returned: success
  type: dict
  sample: {total_bytes: 2147483648, used_bytes: 0, in_kib_per_second: 0, out_kib_per_second: 0}
listeners:
  description:
    - Listening sockets; null when the kernel's sock_diag interface cannot be read at all (see RV(errors)).
    - A kind of socket (C(tcp), C(tcp6), C(unix)) that cannot be read is left out and named in RV(errors).
  returned: success
  type: list
  elements: dict
  sample:
    - {proto: tcp, address: "127.0.0.1:8000", queued: 0, backlog: 2048, processes: [gunicorn]}
    - {proto: unix, address: /run/gunicorn-mysite/gunicorn.ctl, queued: 0, backlog: 100, processes: [gunicorn]}
  contains:
    proto:
      description: V(tcp) (IPv4 or IPv6) or V(unix) (stream or seqpacket).
      type: str
      returned: success
    address:
      description: C(host:port) (IPv6 in brackets), or the unix socket's path (abstract names start with C(@)).
      type: str
      returned: success
    queued:
      description: Connections waiting to be accepted.
      type: int
      returned: success
    backlog:
      description: The most connections that may wait (the C(listen) backlog).
      type: int
      returned: success
    processes:
      description: Names of the processes holding the socket (all of them only as root).
      type: list
      elements: str
      returned: success
db_connections:
  description: C(ports), C(total) and C(by_peer) (established TCP connections to the database ports by peer
    C(host:port)); null when O(db_ports) is empty.
  returned: success
  type: dict
  sample: {ports: [5432], total: 3, by_peer: {"10.0.0.9:5432": 3}}
journal:
  description: C(since), C(counts) (per category, live units), C(canary_counts) (canary units) and C(lines) (the
    last 20 notable lines - not boots, reloads or starts - with C(time), C(unit), C(category) and C(message));
    null when the journal cannot be read (see RV(errors)).
  returned: success
  type: dict
errors:
  description: "Sources that could not be read, each as C(<source>: <why>)."
  returned: success
  type: list
  elements: str
  sample: []
"""

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.djangoops.gunicorn.plugins.module_utils import host_baseline

PSUTIL_HINT = "psutil is required on the target: pip install psutil / apt install python3-psutil"
MAX_SAMPLE_SECONDS = 60


def read_journal(module, units, since):
    """(journal, error): journalctl exits 1 when --grep matches nothing, which is an empty journal."""
    journalctl = module.get_bin_path("journalctl")
    if journalctl is None:
        return None, "journal: journalctl not found"
    rc, out, err = module.run_command(host_baseline.journal_argv(journalctl, units, since))
    if rc not in (0, 1):
        return None, "journal: %s" % (" ".join((err or "exit code %d" % rc).split()))
    return host_baseline.parse_journal(out, since), None


def main():
    module = AnsibleModule(
        argument_spec=dict(
            sample_seconds=dict(type="int", default=1),
            db_ports=dict(type="list", elements="int", default=[5432]),
            journal_units=dict(type="str", default="gunicorn-*"),
            journal_since=dict(type="str", default="24 hours ago"),
        ),
        supports_check_mode=True,
    )
    if not host_baseline.HAS_PSUTIL:
        module.fail_json(msg=missing_required_lib("psutil", reason=PSUTIL_HINT),
                         exception=host_baseline.PSUTIL_IMPORT_ERROR, psutil_missing=True)
    params = module.params
    if not 1 <= params["sample_seconds"] <= MAX_SAMPLE_SECONDS:
        module.fail_json(msg="sample_seconds must be from 1 to %d, got %d"
                         % (MAX_SAMPLE_SECONDS, params["sample_seconds"]))
    if any(not 0 < port < 65536 for port in params["db_ports"]):
        module.fail_json(msg="db_ports must be TCP ports (1 to 65535), got %s" % params["db_ports"])

    errors = []
    cpu, memory, swap = host_baseline.cpu_and_swap_sample(params["sample_seconds"])
    listeners, listener_errors = host_baseline.listeners()
    errors.extend(listener_errors)
    db_connections = None
    if params["db_ports"]:
        db_connections = host_baseline.db_connections(host_baseline.psutil.net_connections(kind="tcp"),
                                                      params["db_ports"])
    journal, error = read_journal(module, params["journal_units"], params["journal_since"])
    if error:
        errors.append(error)
    module.exit_json(changed=False, cpu=cpu, memory=memory, swap=swap, listeners=listeners,
                     db_connections=db_connections, journal=journal, errors=errors)


if __name__ == "__main__":
    main()
