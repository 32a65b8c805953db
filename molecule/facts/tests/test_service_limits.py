"""gunicorn_facts sizes from the service's own systemd limits, not from its own process's (testinfra).

side_effect.yml put CPUQuota=150% and MemoryMax=768M on gunicorn-mysite.service in a drop-in, then
CPUQuota=50% and MemoryMax=640M on system.slice, and kept what gunicorn_facts reported under each.
The guest itself has 1.5 CPUs and 1 GiB (podman --cpus / --memory).
"""
import json

import pytest

UNIT = "gunicorn-mysite.service"
MIB = 1024 * 1024


def snapshot(host, name):
    return json.loads(host.file("/var/tmp/gunicorn_facts_%s_limits.json" % name).content_string)


def test_the_scope_is_the_running_service(host):
    for name in ("unit", "slice"):
        scope = snapshot(host, name)["scope"]
        assert (scope["kind"], scope["unit"]) == ("service", UNIT)
        assert scope["slices"][:1] == ["system.slice"]
        assert scope["pid"] == int(host.check_output("systemctl show --property=MainPID --value %s" % UNIT))


@pytest.mark.parametrize("name, cpus, cpu_source, cpu_unit, memory_mib, memory_unit", [
    # 150% equals the guest's 1.5 CPUs: reported with its unit, the cgroup's figure stays the source.
    ("unit", 1.5, "cgroup_v1", UNIT, 768, UNIT),
    ("slice", 0.5, "systemd", "system.slice", 640, "system.slice"),
])
def test_the_systemd_limits_size_the_service(host, name, cpus, cpu_source, cpu_unit, memory_mib, memory_unit):
    facts = snapshot(host, name)
    cpu, memory = facts["cpu"], facts["memory"]
    assert (cpu["effective"], cpu["source"]) == (cpus, cpu_source)
    assert cpu["systemd_quota_unit"] == cpu_unit
    assert (memory["effective_bytes"], memory["source"]) == (memory_mib * MIB, "systemd")
    assert (memory["systemd_max_bytes"], memory["systemd_max_unit"]) == (memory_mib * MIB, memory_unit)
    # The recommendation is sized within that memory, not the guest's 1 GiB.
    recommendation = facts["recommendation"]
    assert recommendation["bound_by"] in ("memory", "cpu")
    assert "%d MB effective" % memory_mib in " ".join(recommendation["reasons"])
