# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""Turn what baseline.yml read on a host into one baseline record."""

from __future__ import annotations

DOCUMENTATION = r"""
name: gunicorn_baseline
short_description: One host's baseline record from what the baseline playbook read on it
version_added: 0.1.0
author: djangoops.gunicorn contributors
description:
  - Parses what the C(djangoops.gunicorn.baseline) playbook reads on a host (C(/proc/loadavg), C(/proc/meminfo),
    C(vmstat), C(ss), C(journalctl -o json) and M(djangoops.gunicorn.gunicorn_facts)) into one record, so that a
    capture before a change and one after can be compared.
  - Listening sockets are kept when they are TCP, or a unix socket of a Gunicorn process or of an instance's bind.
    Each is matched to the Gunicorn instance that binds it (by address, so it works even when C(ss) cannot show
    processes).
  - Journal lines are classified as worker timeouts (C(WORKER TIMEOUT)), workers killed (C(was sent SIGKILL),
    usually the OOM killer), workers that exited with an error code, boot failures (C(Worker failed to boot),
    C(App failed to load)), service failures (systemd C(Main process exited), C(Failed with result)), worker boots
    (C(Booting worker), logged at Gunicorn's C(info) level only), and the service's reloads and starts (systemd's
    C(Reloaded) and C(Started) lines, logged whatever the level). Lines of canary units (C(*-canary.service)) are
    counted apart.
  - A source that could not be read is listed in RV(_value.errors) and its part of the record is null.
options:
  _input:
    description: What the playbook read on the host.
    type: dict
    required: true
    suboptions:
      host:
        description: Inventory name of the host.
        type: str
        required: true
      captured_at:
        description: When the capture was taken (ISO 8601 text).
        type: str
      results:
        description:
          - The registered results of the playbook's tasks, by name. Each is optional; a failed one is listed in
            RV(_value.errors), a skipped or missing one leaves its part of the record null.
          - C(facts) (M(djangoops.gunicorn.gunicorn_facts)), C(proc) (C(cat /proc/loadavg /proc/meminfo)),
            C(vmstat) (C(vmstat SECONDS 2)), C(listeners)
            (C(ss -H -l -n -p -t -x)), C(db_connections) (C(ss -H -t -n state established) filtered on the
            database ports) and C(journal) (C(journalctl -o json) of the Gunicorn units, exit code 1 meaning no
            match).
        type: dict
        required: true
      sample_seconds:
        description: The SECONDS of C(vmstat).
        type: int
      db_ports:
        description: The database ports counted.
        type: list
        elements: int
      journal_since:
        description: The C(--since) of the journal read.
        type: str
"""

EXAMPLES = r"""
- name: Measure the host
  djangoops.gunicorn.gunicorn_facts:
    app: gunicorn-mysite.service
  register: facts

- name: Read the load average and memory counters
  ansible.builtin.command:
    argv: [cat, /proc/loadavg, /proc/meminfo]
  register: proc
  changed_when: false

- name: Turn what was read into a record
  ansible.builtin.set_fact:
    baseline_record: >-
      {{ {'host': inventory_hostname, 'results': {'facts': facts, 'proc': proc}}
         | djangoops.gunicorn.gunicorn_baseline }}
"""

RETURN = r"""
_value:
  description: The baseline record of the host (plain data, JSON-serialisable).
  type: dict
  contains:
    host:
      description: Inventory name.
      type: str
    captured_at:
      description: When it was captured.
      type: str
    cpu:
      description: C(effective), C(source), C(logical) (from gunicorn_facts), C(load) (1, 5 and 15 minutes),
        C(load_per_cpu) (1 minute load divided by the effective CPUs), C(run_queue), C(busy_percent) (user +
        system), C(iowait_percent), C(steal_percent), C(idle_percent) and C(sample_seconds) (from vmstat).
      type: dict
    memory:
      description: C(effective_bytes) and C(source) (cgroup aware), C(total_bytes), C(available_bytes) and
        C(available_percent) of the effective memory.
      type: dict
    swap:
      description: C(total_bytes), C(used_bytes), C(in_kib_per_second) and C(out_kib_per_second) (from vmstat).
      type: dict
    instances:
      description: Running Gunicorn instances with C(name), C(master_pid), C(worker_class), C(workers),
        C(threads), C(running_workers), C(bind), C(worker_max_bytes), C(worker_mean_bytes), C(total_bytes) and
        C(memory_metric).
      type: list
      elements: dict
    recommendation:
      description: C(workers), C(threads), C(worker_class) and C(bound_by) of gunicorn_facts' recommendation.
      type: dict
    listeners:
      description: Listening sockets with C(proto) (V(tcp) or V(unix)), C(address), C(queued) (connections
        waiting to be accepted), C(backlog), C(processes) and C(instance) (the Gunicorn instance binding it).
      type: list
      elements: dict
    db_connections:
      description: C(ports), C(total) and C(by_peer) (established TCP connections from this host to the database
        ports); null when not read.
      type: dict
    journal:
      description: C(since), C(counts) (per category, live units), C(canary_counts) (canary units) and C(lines)
        (the last notable lines - not boots or reloads - with C(time), C(unit) and C(message)).
      type: dict
    errors:
      description: Sources that could not be read.
      type: list
      elements: str
"""

import datetime
import json
import re
from collections.abc import Mapping, Sequence

from ansible.errors import AnsibleFilterError

KIB = 1024
NOTABLE_LINES = 20
# (category, pattern) in the order a line is classified; the first match wins.
JOURNAL_CATEGORIES = (
    ("worker_timeouts", re.compile(r"WORKER TIMEOUT")),
    ("workers_killed", re.compile(r"was sent SIGKILL")),
    ("worker_errors", re.compile(r"exited with code")),
    ("boot_failures", re.compile(r"Worker failed to boot|App failed to load")),
    ("service_failures", re.compile(r"Main process exited|Failed with result")),
    ("worker_boots", re.compile(r"Booting worker with pid")),
    # systemd's own lines about the unit: logged whatever Gunicorn's loglevel.
    ("service_reloads", re.compile(r"^Reloaded \S+\.service")),
    ("service_starts", re.compile(r"^Started \S+\.service")),
)
COUNTED = tuple(name for name, pattern in JOURNAL_CATEGORIES)
ROUTINE = ("worker_boots", "service_reloads", "service_starts")
# journalctl --grep pattern matching every category above (passed by the playbook).
JOURNAL_GREP = "|".join(pattern.pattern for name, pattern in JOURNAL_CATEGORIES)


def _number(text):
    try:
        return float(text) if "." in text else int(text)
    except (TypeError, ValueError):
        return None


def parse_loadavg(text):
    parts = (text or "").split()
    if len(parts) < 3:
        return None
    values = [_number(part) for part in parts[:3]]
    return None if None in values else values


def parse_meminfo(text):
    """/proc/meminfo in bytes, by field name."""
    values = {}
    for line in (text or "").splitlines():
        name, sep, rest = line.partition(":")
        fields = rest.split()
        if sep and fields and fields[0].isdigit():
            values[name.strip()] = int(fields[0]) * (KIB if fields[1:2] == ["kB"] else 1)
    return values


def parse_vmstat(text):
    """The last sample of vmstat (the first one averages since boot), by column name."""
    header, last = None, None
    for line in (text or "").splitlines():
        fields = line.split()
        if "us" in fields and "id" in fields:
            header = fields
        elif header and len(fields) == len(header) and all(field.isdigit() for field in fields):
            last = dict(zip(header, (int(field) for field in fields)))
    return last


_SS_USERS_RE = re.compile(r'\("([^"]+)",pid=(\d+)')


def parse_listeners(text):
    """ss -H -l -n -p -t -x: one entry per listening socket."""
    listeners = []
    for line in (text or "").splitlines():
        fields = line.split()
        if len(fields) < 5 or fields[0] not in ("tcp", "u_str", "u_seq") or fields[1] != "LISTEN":
            continue
        queued, backlog, address = _number(fields[2]), _number(fields[3]), fields[4]
        processes = sorted(set(name for name, pid in _SS_USERS_RE.findall(line)))
        listeners.append({"proto": "tcp" if fields[0] == "tcp" else "unix", "address": address, "queued": queued,
                          "backlog": backlog, "processes": processes})
    return listeners


def _bind_addresses(instance):
    addresses = set()
    for bind in instance.get("bind") or []:
        bind = str(bind)
        addresses.add(bind[len("unix:"):] if bind.startswith("unix:") else bind)
        if bind.startswith("localhost:"):
            addresses.add("127.0.0.1:" + bind.split(":", 1)[1])
    return addresses


def match_listeners(listeners, instances):
    kept = []
    for listener in listeners:
        owner = next((instance["name"] for instance in instances if listener["address"] in instance["_binds"]), None)
        is_gunicorn = any("gunicorn" in name for name in listener["processes"])
        if listener["proto"] == "tcp" or owner or is_gunicorn:
            kept.append(dict(listener, instance=owner))
    return kept


def parse_db_connections(text, ports):
    by_peer = {}
    for line in (text or "").splitlines():
        fields = line.split()
        # state filtered: Recv-Q Send-Q Local Peer [Process]
        if len(fields) >= 4:
            by_peer[fields[3]] = by_peer.get(fields[3], 0) + 1
    return {"ports": list(ports or []), "total": sum(by_peer.values()), "by_peer": by_peer}


def _unit_of(entry):
    unit = entry.get("_SYSTEMD_UNIT")
    if not unit or unit == "init.scope":
        unit = entry.get("UNIT") or unit
    return unit or "?"


def _iso_time(realtime):
    try:
        stamp = datetime.datetime.fromtimestamp(int(realtime) / 1e6, tz=datetime.timezone.utc)
    except (TypeError, ValueError, OverflowError, OSError):
        return None
    return stamp.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_journal(text, since=None):
    counts = dict((name, 0) for name in COUNTED)
    canary = dict((name, 0) for name in COUNTED)
    notable = []
    for line in (text or "").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if not isinstance(entry, Mapping):
            continue
        message = entry.get("MESSAGE")
        if isinstance(message, list):  # journalctl gives non-UTF-8 messages as byte arrays
            message = bytes(item for item in message if isinstance(item, int) and 0 <= item < 256).decode(
                "utf-8", "replace")
        message = str(message or "")
        category = next((name for name, pattern in JOURNAL_CATEGORIES if pattern.search(message)), None)
        if category is None:
            continue
        unit = _unit_of(entry)
        (canary if unit.endswith("-canary.service") else counts)[category] += 1
        if category not in ROUTINE and not unit.endswith("-canary.service"):
            notable.append({"time": _iso_time(entry.get("__REALTIME_TIMESTAMP")), "unit": unit,
                            "category": category, "message": message.strip()})
    notable.sort(key=lambda item: item["time"] or "")
    return {"since": since, "counts": counts, "canary_counts": canary, "lines": notable[-NOTABLE_LINES:]}


def _instance(instance):
    memory = instance.get("memory") or {}
    return {
        "name": instance.get("unit") or instance.get("wsgi_app") or "pid %s" % instance.get("master_pid"),
        "master_pid": instance.get("master_pid"),
        "worker_class": instance.get("worker_class"),
        "workers": instance.get("workers"),
        "threads": instance.get("threads"),
        "running_workers": len(instance.get("worker_pids") or []),
        "bind": list(instance.get("bind") or []),
        "worker_max_bytes": memory.get("worker_max_bytes"),
        "worker_mean_bytes": memory.get("worker_mean_bytes"),
        "total_bytes": memory.get("total_bytes"),
        "memory_metric": memory.get("metric"),
    }


def _percent(part, whole):
    return round(100.0 * part / whole, 1) if part is not None and whole else None


def _error(name, result):
    text = result.get("stderr") or result.get("msg") or "failed (exit code %s)" % result.get("rc")
    return "%s: %s" % (name, " ".join(str(text).split()))


def read_results(results):
    """The text (or facts) of each source, and the sources that could not be read.

    The playbook registers its reads with ``failed_when: false``, so a failure shows as a missing
    ``ansible_facts.gunicorn``, or as an exit code other than 0 (or 1, for journalctl).
    """
    texts, errors = {}, []
    for name in ("facts", "proc", "vmstat", "listeners", "db_connections", "journal"):
        result = results.get(name)
        texts[name] = None
        if not isinstance(result, Mapping) or result.get("skipped"):
            continue
        ok_codes = (0, 1) if name == "journal" else (0,)
        if name == "facts":
            value = (result.get("ansible_facts") or {}).get("gunicorn")
        else:
            value = result.get("stdout") if result.get("rc") in ok_codes else None
        if value is None or result.get("failed") or result.get("unreachable"):
            errors.append(_error(name, result))
        else:
            texts[name] = value
    return texts, errors


def baseline_record(data):
    if not isinstance(data, Mapping) or not isinstance(data.get("host"), str) \
            or not isinstance(data.get("results"), Mapping):
        raise AnsibleFilterError("gunicorn_baseline: input must be a dict with the host name (host) and the "
                                 "registered results (results)")
    texts, errors = read_results(data["results"])
    facts = texts["facts"] if isinstance(texts["facts"], Mapping) else {}
    fact_cpu, fact_memory = facts.get("cpu") or {}, facts.get("memory") or {}
    # /proc/loadavg is one line without a colon: each parser skips the other file's lines.
    load = parse_loadavg((texts["proc"] or "").split("\n", 1)[0])
    meminfo = parse_meminfo(texts["proc"])
    vmstat = parse_vmstat(texts["vmstat"])
    if texts["vmstat"] is not None and vmstat is None:
        errors.append("vmstat: no sample in its output")

    effective_cpu = fact_cpu.get("effective")
    cpu = {
        "effective": effective_cpu, "source": fact_cpu.get("source"), "logical": fact_cpu.get("logical"),
        "load": load,
        "load_per_cpu": round(load[0] / effective_cpu, 2) if load and effective_cpu else None,
        "run_queue": vmstat.get("r") if vmstat else None,
        "busy_percent": vmstat["us"] + vmstat["sy"] if vmstat else None,
        "iowait_percent": vmstat.get("wa") if vmstat else None,
        "steal_percent": vmstat.get("st") if vmstat else None,
        "idle_percent": vmstat.get("id") if vmstat else None,
        "sample_seconds": data.get("sample_seconds") if vmstat else None,
    }
    effective_memory = fact_memory.get("effective_bytes")
    available = fact_memory.get("available_bytes", meminfo.get("MemAvailable"))
    memory = {
        "effective_bytes": effective_memory, "source": fact_memory.get("source"),
        "total_bytes": meminfo.get("MemTotal", fact_memory.get("total_bytes")),
        "available_bytes": available,
        "available_percent": _percent(available, effective_memory),
    }
    swap_total, swap_free = meminfo.get("SwapTotal"), meminfo.get("SwapFree")
    swap = {
        "total_bytes": swap_total,
        "used_bytes": swap_total - swap_free if swap_total is not None and swap_free is not None else None,
        "in_kib_per_second": vmstat.get("si") if vmstat else None,
        "out_kib_per_second": vmstat.get("so") if vmstat else None,
    }
    instances = []
    for raw in facts.get("instances") or []:
        if isinstance(raw, Mapping):
            instance = _instance(raw)
            instance["_binds"] = _bind_addresses(raw)
            instances.append(instance)
    listeners = match_listeners(parse_listeners(texts["listeners"]), instances) \
        if texts["listeners"] is not None else None
    for instance in instances:
        del instance["_binds"]
    recommendation = facts.get("recommendation") or {}
    return {
        "host": data["host"],
        "captured_at": data.get("captured_at"),
        "cpu": cpu,
        "memory": memory,
        "swap": swap,
        "instances": instances,
        "recommendation": dict((key, recommendation.get(key)) for key in
                               ("workers", "threads", "worker_class", "bound_by")) if recommendation else None,
        "listeners": listeners,
        "db_connections": parse_db_connections(texts["db_connections"], data.get("db_ports"))
        if texts["db_connections"] is not None else None,
        "journal": parse_journal(texts["journal"], data.get("journal_since"))
        if texts["journal"] is not None else None,
        "errors": errors,
    }


def gunicorn_baseline(data):
    if isinstance(data, Mapping) and data.get("db_ports") is not None and (
            isinstance(data["db_ports"], (str, bytes)) or not isinstance(data["db_ports"], Sequence)):
        raise AnsibleFilterError("gunicorn_baseline: db_ports must be a list of port numbers")
    return baseline_record(data)


class FilterModule:
    def filters(self):
        return {"gunicorn_baseline": gunicorn_baseline}
