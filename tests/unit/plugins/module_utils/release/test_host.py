"""The real Host's commands and files (host.py), with AnsibleModule's run_command faked: what
runs as whom and for how long, and the owners and modes of the live files."""
import grp
import os
import stat
import subprocess

import pytest

from ansible_collections.djangoops.gunicorn.plugins.module_utils import layout as app_layout
from ansible_collections.djangoops.gunicorn.plugins.module_utils.release import host as host_module
from ansible_collections.djangoops.gunicorn.plugins.module_utils.release.host import Host, HostError


class FakeModule:
    """run_command as AnsibleModule has it: records each command; `answer(args)` -> (rc, out, err)."""

    def __init__(self, answer=None):
        self.commands = []
        self.answer = answer or (lambda args: (0, "", ""))

    def run_command(self, args, data=None):
        self.commands.append(list(args))
        return self.answer(args)


def make_host(tmp_path, module, **kwargs):
    names = app_layout.app_layout("mysite", str(tmp_path / "etc"), str(tmp_path / "state"), str(tmp_path / "systemd"))
    return Host(module, names, "mysite", "mysite", "/srv/mysite/app", "/srv/mysite/venv", **kwargs)


def properties(args):
    return [arg.split("=", 1)[1] for arg in args if arg.startswith("--property=")]


def test_finding_2_every_run_of_the_apps_code_is_bounded(tmp_path):
    module = FakeModule()
    host = make_host(tmp_path, module, check_timeout=17)
    host.check_config("/state/candidate/config", "/state/candidate")
    args = module.commands[0]
    assert args[0] == "systemd-run" and "--wait" in args
    # systemd stops the transient unit at the bound, whatever the app does.
    assert "RuntimeMaxSec=17" in properties(args)
    assert any(arg.startswith("--unit=gunicorn-mysite-run-") for arg in args)


def test_finding_2_a_run_that_hits_the_bound_fails_naming_the_step_and_the_variable(tmp_path, monkeypatch):
    clock = iter([1000.0, 1010.5])
    monkeypatch.setattr(host_module.time, "monotonic", lambda: next(clock))
    module = FakeModule(lambda args: (1, "", "") if args[0] == "systemd-run" else (0, "", ""))
    host = make_host(tmp_path, module, check_timeout=10, check_timeout_name="gunicorn_django_check_timeout")
    with pytest.raises(HostError) as raised:
        host.check_config("/state/candidate/config", "/state/candidate")
    message = str(raised.value)
    assert "gunicorn --check-config did not finish within 10 s" in message
    assert "gunicorn_django_check_timeout" in message
    # What systemd stopped is stopped and forgotten (no failed transient unit left behind).
    unit = next(arg for arg in module.commands[0] if arg.startswith("--unit=")).split("=", 1)[1]
    assert ["systemctl", "stop", unit] in module.commands and ["systemctl", "reset-failed", unit] in module.commands


def test_finding_2_a_quick_failure_is_the_commands_own(tmp_path, monkeypatch):
    clock = iter([1000.0, 1001.0])
    monkeypatch.setattr(host_module.time, "monotonic", lambda: next(clock))
    host = make_host(tmp_path, FakeModule(lambda args: (1, "", "Error: bad config")), check_timeout=10)
    assert host.check_config("/c", "/d") == (1, "Error: bad config")


def test_finding_3_gunicorns_settings_are_listed_as_the_service_user(tmp_path):
    # A venv the app can write may hold .pth files or sitecustomize: its Python never runs as root.
    module = FakeModule(lambda args: (0, "bind\nworkers\n", ""))
    host = make_host(tmp_path, module)
    assert host.known_settings() == {"bind", "workers"}
    assert len(module.commands) == 1
    args = module.commands[0]
    assert args[0] == "systemd-run", "the venv's python ran directly, as root: %s" % args
    props = properties(args)
    assert "User=mysite" in props and "Group=mysite" in props
    assert "RuntimeMaxSec=%d" % host_module.DEFAULT_CHECK_TIMEOUT in props
    command = args[args.index("--") + 1:]
    assert command[0] == "/srv/mysite/venv/bin/python"
    assert "EnvironmentFile=%s" % os.path.join(host.layout["candidate_dir"], "app_env") in props


def test_finding_3_a_failed_listing_says_so(tmp_path):
    host = make_host(tmp_path, FakeModule(lambda args: (1, "", "ModuleNotFoundError: gunicorn")))
    with pytest.raises(HostError, match="as the service user: ModuleNotFoundError"):
        host.known_settings()


def group_name():
    return grp.getgrgid(os.getgid()).gr_name


def test_finding_11_secret_env_is_root_only(tmp_path):
    host = make_host(tmp_path, FakeModule())
    host.group = group_name()
    os.makedirs(host.layout["app_config_dir"])
    host.write_live("secret_env", "S=1\n")
    host.write_live("app_env", "A=1\n")
    secret, plain = os.stat(host.paths["secret_env"]), os.stat(host.paths["app_env"])
    assert (secret.st_uid, secret.st_gid, stat.S_IMODE(secret.st_mode)) == (0, 0, 0o600)
    assert stat.S_IMODE(plain.st_mode) == 0o640


def test_finding_11_an_earlier_versions_secret_env_becomes_root_only(tmp_path):
    host = make_host(tmp_path, FakeModule())
    host.group = group_name()
    os.makedirs(host.layout["app_config_dir"])
    with open(host.paths["secret_env"], "w", encoding="utf-8") as handle:
        handle.write("S=1\n")
    os.chmod(host.paths["secret_env"], 0o640)
    host.make_directories()
    assert stat.S_IMODE(os.stat(host.paths["secret_env"]).st_mode) == 0o600


def test_runs_of_the_apps_code_go_at_the_boot_nice_value(tmp_path):
    module = FakeModule()
    make_host(tmp_path, module, boot_nice=10).check_config("/etc/gunicorn/mysite/config", str(tmp_path))
    command = module.commands[0]
    assert "--nice=10" in command and command.index("--nice=10") < command.index("--")


def test_the_apps_code_runs_in_the_units_sandbox(tmp_path):
    module = FakeModule()
    host = make_host(tmp_path, module, sandbox={"ProtectSystem": "strict", "ReadWritePaths": "/var/lib/mysite",
                                                "CapabilityBoundingSet": ""})
    host.run_release_command("migrate --noinput", str(tmp_path))
    args = module.commands[0]
    assert {"ProtectSystem=strict", "ReadWritePaths=/var/lib/mysite", "CapabilityBoundingSet="} <= set(properties(args))
    assert args[args.index("--") + 1:] == ["/srv/mysite/venv/bin/python", "manage.py", "migrate", "--noinput"]


@pytest.fixture
def session_child():
    """A process in a session of its own, as systemd starts every unit (setsid): the test's own
    process may sit in the root autogroup, whose weight the kernel never changes (EINVAL)."""
    if not os.path.exists("/proc/self/autogroup"):
        pytest.skip("this kernel has no scheduler autogroups")
    child = subprocess.Popen(["sleep", "30"], start_new_session=True)
    yield child.pid
    child.kill()
    child.wait()


def test_the_autogroup_nice_value_of_a_session_is_set(session_child):
    # Raising the nice value needs no privilege (kernel/sched/autogroup.c checks only a negative one).
    assert host_module.set_autogroup_nice(session_child, 7) is None
    with open("/proc/%d/autogroup" % session_child, encoding="ascii") as handle:
        assert handle.read().strip().endswith("nice 7")


def test_an_autogroup_that_cannot_be_set_is_an_error_naming_the_pid(session_child):
    error = host_module.set_autogroup_nice(session_child, 40)  # outside -20..19: EINVAL
    assert error.startswith("cannot set the autogroup nice value of pid %d" % session_child)
