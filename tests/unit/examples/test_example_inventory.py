# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docs/examples/inventory: per-environment values resolve, pass the role's argument specs, and no
secret is written in it."""

from __future__ import annotations

import glob
import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from ansible_collections.djangoops.gunicorn.plugins.filter import deploy as deploy_filters

COLLECTION = os.path.abspath(os.path.join(os.path.dirname(deploy_filters.__file__), "..", ".."))
INVENTORY = os.path.join(COLLECTION, "docs", "examples", "inventory")
ARGUMENT_SPECS = os.path.join(COLLECTION, "roles", "gunicorn_django", "meta", "argument_specs.yml")
SECRET_NAME = re.compile(r"(?i)(secret|password|token|private_key|api_key)")
TEMPLATE = re.compile(r"^\s*\{\{.*\}\}\s*$", re.S)
ENV = {"MYSITE_STAGING_SECRET_KEY": "staging-key-from-env", "MYSITE_STAGING_DB_PASSWORD": "staging-db-from-env"}
VAULT = {"vault_mysite_secret_key": "production-key-from-vault", "vault_mysite_db_password": "production-db-from-vault"}


def playbook(spec_file):
    return [{
        "name": "Resolve the example inventory's variables for every app host",
        "hosts": "app",
        "gather_facts": False,
        "tasks": [
            {"name": "Validate them against the role's argument specs",
             "ansible.builtin.validate_argument_spec": {
                 "argument_spec": "{{ lookup('ansible.builtin.file', '%s') | from_json }}" % spec_file}},
            {"name": "Show them",
             "ansible.builtin.debug": {"msg": {
                 "workers": "{{ gunicorn_django_workers }}",
                 "sizing": "{{ gunicorn_django_sizing | default({}) }}",
                 "loglevel": "{{ gunicorn_django_loglevel }}",
                 "allowed_hosts": "{{ gunicorn_django_env.DJANGO_ALLOWED_HOSTS }}",
                 "health": "{{ gunicorn_django_health_checks | map(attribute='path') | list }}",
                 "secrets": "{{ gunicorn_django_secret_env }}"}}},
        ],
    }]


def inventory_spec():
    """The role's options as given by the inventory: types, choices and elements, not the defaults (the
    role's defaults/main.yml supplies those when it runs) nor required (a playbook may pass them)."""
    with open(ARGUMENT_SPECS) as handle:
        options = yaml.safe_load(handle)["argument_specs"]["main"]["options"]
    return dict((name, dict((key, value) for key, value in option.items() if key in ("type", "choices", "elements")))
                for name, option in options.items())


def run(tmp_path, env=None, extra_vars=None):
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(inventory_spec()))
    playbook_file = tmp_path / "resolve.yml"
    playbook_file.write_text(yaml.safe_dump(playbook(str(spec_file)), sort_keys=False))
    environ = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json", ANSIBLE_NOCOLOR="1",
                   ANSIBLE_RETRY_FILES_ENABLED="false")
    for name in ENV:
        environ.pop(name, None)
    environ.update(env or {})
    command = [os.path.join(os.path.dirname(sys.executable), "ansible-playbook"), "-i", INVENTORY, str(playbook_file)]
    if extra_vars:
        command += ["-e", json.dumps(extra_vars)]
    done = subprocess.run(command, env=environ, cwd=str(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=120, check=False)
    return done.returncode, json.loads(done.stdout), done.stderr


def shown(output):
    [task] = [task for task in output["plays"][0]["tasks"] if task["task"]["name"] == "Show them"]
    return dict((host, result["msg"]) for host, result in task["hosts"].items())


def test_each_environment_and_host_gets_its_values(tmp_path):
    rc, output, stderr = run(tmp_path, ENV, VAULT)
    assert rc == 0, json.dumps(output)[-3000:] + stderr
    values = shown(output)
    assert sorted(values) == ["stg-web-1.example.com", "stg-web-2.example.com", "web-1.example.com",
                              "web-2.example.com", "web-3.example.com"]
    for host in ("stg-web-1.example.com", "stg-web-2.example.com"):
        assert values[host]["workers"] == "auto"
        # A template renders to a string before ansible-core 2.19 ("2"); gunicorn_facts' int option takes both.
        assert int(values[host]["sizing"]["app_hosts"]) == 2 and values[host]["sizing"]["db_max_connections"] == 100
        assert values[host]["loglevel"] == "debug"
        assert values[host]["allowed_hosts"] == "staging.example.com,127.0.0.1,localhost"
        assert values[host]["health"] == ["/healthz", "/items/"]
        assert values[host]["secrets"] == {"DJANGO_SECRET_KEY": "staging-key-from-env",
                                           "MYSITE_DB_PASSWORD": "staging-db-from-env"}
    for host, workers in (("web-1.example.com", 5), ("web-2.example.com", 5), ("web-3.example.com", 9)):
        assert values[host]["workers"] == workers and values[host]["sizing"] == {}
        assert values[host]["loglevel"] == "warning"
        assert values[host]["allowed_hosts"] == "www.example.com,127.0.0.1,localhost"
        assert values[host]["health"] == ["/items/", "/io/?ms=5"]
        assert values[host]["secrets"] == {"DJANGO_SECRET_KEY": "production-key-from-vault",
                                           "MYSITE_DB_PASSWORD": "production-db-from-vault"}


def test_a_missing_secret_stops_the_run_with_a_hint(tmp_path):
    rc, output, stderr = run(tmp_path, {}, VAULT)
    assert rc != 0
    failed = [result for task in output["plays"][0]["tasks"] for host, result in task["hosts"].items()
              if host.startswith("stg-") and result.get("failed")]
    assert failed and all("export MYSITE_STAGING_SECRET_KEY" in result["msg"] for result in failed)


def _scalars(value, path=()):
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _scalars(item, path + (str(key),))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _scalars(item, path + (str(index),))
    else:
        yield path, value


@pytest.mark.parametrize("path", sorted(glob.glob(os.path.join(INVENTORY, "*vars", "*.yml"))),
                         ids=lambda path: os.path.relpath(path, INVENTORY))
def test_no_secret_is_written_in_the_inventory(path):
    with open(path) as handle:
        data = yaml.safe_load(handle) or {}
    for keys, value in _scalars(data):
        if any(SECRET_NAME.search(key) for key in keys) or "secret_env" in keys[0]:
            assert isinstance(value, str) and TEMPLATE.match(value), "%s: %s holds a literal" % (path, "/".join(keys))
