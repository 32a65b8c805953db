# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The baseline's filters: one host's record from what gunicorn_facts and gunicorn_baseline captured on it, and
its Markdown next to an earlier record. Each filter's documentation is in gunicorn_baseline*.yml next to this
file."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.djangoops.gunicorn.plugins.plugin_utils.markdown import cell, format_bytes, plural

# The parts of a record gunicorn_baseline captures; null when it could not run.
CAPTURED = ("cpu", "memory", "swap", "listeners", "db_connections", "journal")
CPU_SAMPLE_KEYS = ("run_queue", "busy_percent", "iowait_percent", "steal_percent", "idle_percent", "sample_seconds")


def _bind_addresses(instance):
    addresses = set()
    for bind in instance.get("bind") or []:
        bind = str(bind)
        addresses.add(bind[len("unix:"):] if bind.startswith("unix:") else bind)
        if bind.startswith("localhost:"):
            addresses.add("127.0.0.1:" + bind.split(":", 1)[1])
    return addresses


def match_listeners(listeners, instances):
    """The listeners worth showing: TCP ones, and unix ones of Gunicorn; each with the instance that binds it
    (by address, so that it works even when the capture could not see the processes)."""
    kept = []
    for listener in listeners:
        owner = next((instance["name"] for instance in instances if listener["address"] in instance["_binds"]), None)
        is_gunicorn = any("gunicorn" in name for name in listener.get("processes") or [])
        if listener["proto"] == "tcp" or owner or is_gunicorn:
            kept.append(dict(listener, instance=owner))
    return kept


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
    text = result.get("msg") or result.get("stderr") or "failed"
    return "%s: %s" % (name, " ".join(str(text).split()))


def read_results(results):
    """The facts and the capture, and the sources that could not be read.

    The playbook registers both with ``failed_when: false``, so a failure shows as a missing
    ``ansible_facts.gunicorn`` or a capture without its parts.
    """
    facts, capture, errors = None, None, []
    result = results.get("facts")
    if isinstance(result, Mapping) and not result.get("skipped"):
        facts = (result.get("ansible_facts") or {}).get("gunicorn")
        if not isinstance(facts, Mapping) or result.get("failed") or result.get("unreachable"):
            facts = None
            errors.append(_error("facts", result))
    result = results.get("baseline")
    if isinstance(result, Mapping) and not result.get("skipped"):
        if result.get("failed") or result.get("unreachable") or not isinstance(result.get("cpu"), Mapping):
            errors.append(_error("baseline", result))
        else:
            capture = result
            errors.extend(str(error) for error in result.get("errors") or [])
    return facts or {}, capture or dict((part, None) for part in CAPTURED), errors


PROXY_KEYS = ("requests", "by_status", "status_502", "status_504", "proxy_errors", "error_rate_percent", "non_2xx",
              "upstream_p50_s", "upstream_p95_s", "upstream_max_s", "request_p95_s", "window_seconds", "access_log")
POSTGRES_KEYS = ("max_connections", "reserved_total", "usable", "client_connections", "by_user", "by_application")


def read_extra(results, errors):
    """PostgreSQL's own counts (gunicorn_postgres_budget on the database host) and the proxy's access log
    (gunicorn_proxy_log), each None when not asked for; a failed read is listed in errors."""
    found = {}
    for name, keys, check in (("postgres", POSTGRES_KEYS, "max_connections"), ("proxy", PROXY_KEYS, "requests")):
        result = results.get(name)
        found[name] = None
        if not isinstance(result, Mapping) or result.get("skipped"):
            continue
        if result.get("failed") or result.get("unreachable") or result.get(check) is None:
            errors.append(_error(name, result))
            continue
        found[name] = dict((key, result.get(key)) for key in keys)
    return found


def baseline_record(data):
    if not isinstance(data, Mapping) or not isinstance(data.get("host"), str) \
            or not isinstance(data.get("results"), Mapping):
        raise AnsibleFilterError("gunicorn_baseline: input must be a dict with the host name (host) and the "
                                 "registered results (results)")
    facts, capture, errors = read_results(data["results"])
    fact_cpu, fact_memory = facts.get("cpu") or {}, facts.get("memory") or {}
    sample, host_memory = capture["cpu"] or {}, capture["memory"] or {}
    load = sample.get("load")
    effective_cpu = fact_cpu.get("effective")
    cpu = {"effective": effective_cpu, "source": fact_cpu.get("source"), "logical": fact_cpu.get("logical"),
           "load": list(load) if load else None,
           "load_per_cpu": round(load[0] / effective_cpu, 2) if load and effective_cpu else None}
    cpu.update((key, sample.get(key)) for key in CPU_SAMPLE_KEYS)
    effective_memory = fact_memory.get("effective_bytes")
    # gunicorn_facts caps the available memory at the effective (cgroup) memory; the host's figure is the fallback.
    available = fact_memory.get("available_bytes", host_memory.get("available_bytes"))
    memory = {
        "effective_bytes": effective_memory, "source": fact_memory.get("source"),
        "total_bytes": host_memory.get("total_bytes", fact_memory.get("total_bytes")),
        "available_bytes": available,
        "available_percent": _percent(available, effective_memory),
    }
    swap = dict((key, (capture["swap"] or {}).get(key))
                for key in ("total_bytes", "used_bytes", "in_kib_per_second", "out_kib_per_second"))
    instances = []
    for raw in facts.get("instances") or []:
        if isinstance(raw, Mapping):
            instance = _instance(raw)
            instance["_binds"] = _bind_addresses(raw)
            instances.append(instance)
    listeners = match_listeners(capture["listeners"], instances) if capture["listeners"] is not None else None
    for instance in instances:
        del instance["_binds"]
    recommendation = facts.get("recommendation") or {}
    extra = read_extra(data["results"], errors)
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
        "db_connections": capture["db_connections"],
        "journal": capture["journal"],
        "postgres": extra["postgres"],
        "proxy": extra["proxy"],
        "errors": errors,
    }


def gunicorn_baseline(data):
    try:
        return baseline_record(data)
    except (KeyError, TypeError, AttributeError, IndexError) as exc:
        raise AnsibleFilterError("gunicorn_baseline: the results are not those of gunicorn_facts and "
                                 "gunicorn_baseline (%s)" % exc)


# -- Markdown --------------------------------------------------------------------------------

JOURNAL_LABELS = (
    ("worker_timeouts", "Worker timeouts (WORKER TIMEOUT)"),
    ("workers_killed", "Workers killed (SIGKILL, out of memory?)"),
    ("worker_errors", "Workers exited with an error"),
    ("boot_failures", "Boot failures (worker or app)"),
    ("service_failures", "Service failures (systemd)"),
    ("worker_boots", "Worker boots (logged at loglevel info)"),
    ("service_reloads", "Service reloads"),
    ("service_starts", "Service starts"),
)


def _g(value):
    return "?" if value is None else "%g" % value


def metric_rows(record):
    """(label, text) per metric, in display order."""
    rows = []
    cpu, memory, swap = record.get("cpu") or {}, record.get("memory") or {}, record.get("swap") or {}
    rows.append(("CPU (effective)", "%s (%s), %s logical" % (
        _g(cpu.get("effective")), cpu.get("source") or "?", _g(cpu.get("logical")))))
    load = cpu.get("load")
    if load:
        text = " / ".join(_g(value) for value in load)
        if cpu.get("load_per_cpu") is not None:
            text += " (%s per CPU)" % _g(cpu["load_per_cpu"])
        rows.append(("Load 1 / 5 / 15 min", text))
    if cpu.get("busy_percent") is not None:
        rows.append(("CPU busy / iowait / steal", "%s%% / %s%% / %s%% over %s s, run queue %s" % (
            _g(cpu["busy_percent"]), _g(cpu.get("iowait_percent")), _g(cpu.get("steal_percent")),
            _g(cpu.get("sample_seconds")), _g(cpu.get("run_queue")))))
    if memory.get("effective_bytes") is not None:
        text = "%s available of %s (%s)" % (format_bytes(memory.get("available_bytes")),
                                            format_bytes(memory["effective_bytes"]), memory.get("source") or "?")
        if memory.get("available_percent") is not None:
            text += ", %s%%" % _g(memory["available_percent"])
        rows.append(("Memory", text))
    if swap.get("total_bytes") is not None:
        text = "%s used of %s" % (format_bytes(swap.get("used_bytes")), format_bytes(swap["total_bytes"]))
        if swap.get("in_kib_per_second") is not None:
            text += ", in %s / out %s KiB/s" % (_g(swap["in_kib_per_second"]), _g(swap.get("out_kib_per_second")))
        rows.append(("Swap", text))
    instances = record.get("instances") or []
    if not instances:
        rows.append(("Gunicorn instances", "none running"))
    for instance in instances:
        text = "%s x %s, %d running" % (
            plural(instance.get("workers"), "%s worker" % instance.get("worker_class")),
            plural(instance.get("threads"), "thread"), instance.get("running_workers") or 0)
        if instance.get("worker_max_bytes") is not None:
            text += "; worker %s %s (largest), %s mean; %s in all" % (
                format_bytes(instance["worker_max_bytes"]), instance.get("memory_metric") or "",
                format_bytes(instance.get("worker_mean_bytes")), format_bytes(instance.get("total_bytes")))
        rows.append(("Instance %s" % instance.get("name"), text))
    recommendation = record.get("recommendation")
    if recommendation:
        rows.append(("Recommended size", "%s x %s (bound by %s)" % (
            plural(recommendation.get("workers"), "%s worker" % recommendation.get("worker_class")),
            plural(recommendation.get("threads"), "thread"), recommendation.get("bound_by"))))
    for listener in record.get("listeners") or []:
        text = "%s, %s queued of %s" % (listener.get("proto"), _g(listener.get("queued")), _g(listener.get("backlog")))
        owner = listener.get("instance") or ", ".join(listener.get("processes") or [])
        if owner:
            text += ", %s" % owner
        rows.append(("Listener %s" % listener.get("address"), text))
    database = record.get("db_connections")
    if database:
        text = _g(database.get("total"))
        if database.get("by_peer"):
            text += " (%s)" % ", ".join("%s: %s" % item for item in sorted(database["by_peer"].items()))
        ports = ", ".join(str(port) for port in database.get("ports") or [])
        rows.append(("Database connections (port %s)" % ports, text))
    postgres = record.get("postgres")
    if postgres:
        text = "%s of %s usable (max_connections %s - %s reserved)" % (
            _g(postgres.get("client_connections")), _g(postgres.get("usable")), _g(postgres.get("max_connections")),
            _g(postgres.get("reserved_total")))
        by_user = postgres.get("by_user") or []
        if by_user:
            text += "; " + ", ".join("%s/%s/%s: %s" % (row.get("user"), row.get("database"), row.get("application") or
                                                       "-", row.get("count")) for row in by_user)
        rows.append(("PostgreSQL connections (server's own count)", text))
    proxy = record.get("proxy")
    if proxy:
        rows.append(("Proxy 502 / 504 over %s s" % _g(proxy.get("window_seconds")), "%s / %s of %s requests (%s%%)" % (
            _g(proxy.get("status_502")), _g(proxy.get("status_504")), _g(proxy.get("requests")),
            _g(proxy.get("error_rate_percent")))))
        rows.append(("Proxy upstream time p50 / p95 / max (s)", "%s / %s / %s" % (
            _g(proxy.get("upstream_p50_s")), _g(proxy.get("upstream_p95_s")), _g(proxy.get("upstream_max_s")))))
    journal = record.get("journal")
    if journal:
        since = " since %s" % journal["since"] if journal.get("since") else ""
        counts = journal.get("counts") or {}
        for key, label in JOURNAL_LABELS:
            rows.append(("%s%s" % (label, since), _g(counts.get(key, 0))))
    if record.get("errors"):
        rows.append(("Not captured", "; ".join(record["errors"])))
    return rows


def gunicorn_baseline_markdown(record, before=None):
    if not isinstance(record, Mapping) or "host" not in record:
        raise AnsibleFilterError("gunicorn_baseline_markdown: input must be a gunicorn_baseline record")
    if before is not None and not (isinstance(before, Mapping) and before.get("host") == record["host"]):
        raise AnsibleFilterError("gunicorn_baseline_markdown: before must be an earlier gunicorn_baseline record of "
                                 "host %s" % record["host"])
    try:
        now = metric_rows(record)
        earlier = metric_rows(before) if before is not None else None
    except (KeyError, TypeError, AttributeError, ValueError) as exc:
        raise AnsibleFilterError("gunicorn_baseline_markdown: not a gunicorn_baseline record (%s)" % exc)
    lines = ["# Baseline of %s at %s" % (record["host"], record.get("captured_at") or "?"), ""]
    if earlier is None:
        lines += ["| Metric | Value |", "| --- | --- |"]
        lines += ["| %s | %s |" % (cell(label), cell(text)) for label, text in now]
    else:
        earlier_by_label = dict(earlier)
        now_by_label = dict(now)
        labels = [label for label, text in now] + [label for label, text in earlier if label not in now_by_label]
        lines += ["| Metric | Before (%s) | Now (%s) |" % (
            cell(before.get("captured_at")), cell(record.get("captured_at"))), "| --- | --- | --- |"]
        lines += ["| %s | %s | %s |" % (cell(label), cell(earlier_by_label.get(label)), cell(now_by_label.get(label)))
                  for label in labels]
    notable = (record.get("journal") or {}).get("lines") or []
    if notable:
        lines += ["", "Last notable journal lines:", "", "```"]
        lines += ["%s %s: %s" % (line.get("time") or "?", line.get("unit"), line.get("message")) for line in notable]
        lines.append("```")
    return "\n".join(lines)


class FilterModule:
    def filters(self):
        return {
            "gunicorn_baseline": gunicorn_baseline,
            "gunicorn_baseline_markdown": gunicorn_baseline_markdown,
        }
