"""Shared pytest set-up of the Molecule scenarios' testinfra verifiers.

Molecule runs testinfra with ``--connection=ansible``; for hosts reached with the podman
connection testinfra then spawns one ansible run per command (about 2 s each). Podman is also a
native testinfra backend (``podman exec``, a few ms): use it when every host is a podman guest.
"""
from testinfra.utils.ansible_runner import AnsibleRunner

PODMAN_CONNECTIONS = {"podman", "containers.podman.podman"}


def pytest_configure(config):
    option = config.option
    if getattr(option, "connection", None) != "ansible" or not option.ansible_inventory or option.hosts:
        return
    runner = AnsibleRunner(option.ansible_inventory)
    names = runner.get_hosts("all")
    hostvars = runner.inventory["_meta"]["hostvars"]
    if names and all(hostvars.get(name, {}).get("ansible_connection") in PODMAN_CONNECTIONS for name in names):
        option.connection = "podman"
        option.hosts = ",".join(names)
