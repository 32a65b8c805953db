"""Fakes of the release engine's tests: FakeHost, a host for the release transaction, in memory: systemd units, a Gunicorn master and its
workers, the live files and HTTP answers, with a clock that advances only when the transaction
sleeps. The store works on a real temporary directory beside it.

Markers in a config's text decide how the fake app behaves with it:
  CHECK-FAILS  gunicorn --check-config exits 1
  BROKEN       every page answers 500 (on the canary and live)
  NO-BOOT      the master does not start, and a HUP to it kills it
  HANGS        gunicorn --check-config blocks until systemd stops it at the bound (check_timeout):
               the real Host's HostError (test_host.py proves the real Host gives it)
  NO-PARTNER   the master boots as the live unit but not as a hand-over's partner
  LIVE-NO-BOOT the master boots as a partner but not as the live unit
  LIVE-BROKEN  the live unit's master answers 500 (a partner of the same config answers 200)
  WARMING      every page answers 503 for the first 3 seconds after the master booted
  NEEDS-HOST   every page answers 400 unless the request's Host is shop.example.com
  REDIRECTS    every page answers 301 to https://shop.example.com<path>

With a socket unit in the live files, the live master and a hand-over's partner both serve the
bind (the shared socket: the live master answers while it runs), each also on its own probe socket.
"""
import os
import signal

from ansible_collections.djangoops.gunicorn.plugins.module_utils import gunicorn_config, layout as app_layout
from ansible_collections.djangoops.gunicorn.plugins.module_utils.release import plan
from ansible_collections.djangoops.gunicorn.plugins.module_utils.release.host import HostError
from ansible_collections.djangoops.gunicorn.plugins.module_utils.release.store import Store
from ansible_collections.djangoops.gunicorn.plugins.module_utils.release.transaction import Transaction


class FakeHost:
    def __init__(self, layout):
        self.layout = layout
        self.clock = 1000.0
        self.files = {}
        self.calls = []
        self.next_pid = 100
        self.master = None          # {"pid", "config", "workers"} of the running service
        self.failed = False
        self.enabled = set()
        self.canary_unit = None
        self.canary = None          # the config text the canary runs
        self.partner = None         # {"pid", "config", "workers"} of a hand-over's partner
        self.partner_units = None   # (unit, socket) contents installed under /run
        self.memory = (None, None)  # what overlap_memory returns
        self.requests = []          # (address, method, path, headers) of every HTTP request
        self.on_request = None      # called before each request is answered (a test's fault)
        self.n_restarts = 0         # the live unit's NRestarts
        self.mtimes = {}            # when each live file was last written (the fake clock)
        self.taken_ports = set()
        self.known = {"workers", "timeout", "forwarded_allow_ips", "bind"}
        self.fail_write = set()      # live file names whose write fails (a full disk)
        self.fail_unit_state_after = None  # raise HostError from unit_state after this many calls
        self.unit_state_calls = 0
        self.starts_fail = False     # every start of the service fails (rollbacks too)
        self.signal_error = None     # an exception signal() raises
        self.app_dir, self.venv = "/srv/mysite/app", "/srv/mysite/venv"  # the inventory's directories
        self.paths = {}              # path -> where it resolves now (None: gone); others resolve to themselves
        self.checked_in = []         # (app_dir, venv) of each check-config
        self.installed = []          # ("canary" | "partner", unit content) of each canary and partner booted

    # time
    def now(self):
        return self.clock

    def sleep(self, seconds):
        self.clock += seconds

    # files
    def problems(self):
        return []

    def read_live(self, name):
        return self.files.get(name)

    def write_live(self, name, content):
        if name in self.fail_write:
            raise HostError("cannot write %s: [Errno 28] No space left on device" % name)
        self.files[name] = content
        self.mtimes[name] = self.clock

    def remove_live(self, name):
        self.files.pop(name, None)

    def resolve_path(self, path):
        return self.paths.get(path, path)

    def use_directories(self, app_dir, venv):
        self.app_dir, self.venv = app_dir, venv

    # systemd
    def _pid(self):
        self.next_pid += 1
        return self.next_pid

    def _boot(self, config):
        if self.starts_fail or "NO-BOOT" in (config or ""):  # NO-BOOT and LIVE-NO-BOOT
            self.master, self.failed = None, True
            return False
        self.master = self._master(config)
        self.master["probe"] = bool(self.files.get("probe_socket"))
        self.master["live"] = True
        self.failed = False
        return True

    def _master(self, config):
        settings = gunicorn_config.read_literals(config)[0]
        pid = self._pid()
        return {"pid": pid, "config": config, "workers": [self._pid() for _worker in range(settings["workers"])],
                "booted": self.clock}

    def systemctl(self, verb, unit):
        self.calls.append((verb, unit))
        if unit == self.layout["canary_unit"]:
            if verb == "start":
                self.canary = self._read_candidate_config()
                return (1, "canary failed") if "NO-BOOT" in self.canary.replace("LIVE-NO-BOOT", "") else (0, "")
            self.canary = None if verb == "stop" else self.canary
            return 0, ""
        if unit == self.layout["handover_unit"]:
            if verb == "start":
                config = self._read_candidate_config()
                if "NO-BOOT" in config.replace("LIVE-NO-BOOT", "") or "NO-PARTNER" in config:
                    return 1, "Job for %s failed" % unit
                self.partner = self._master(config)
            elif verb == "stop":
                self.partner = None
            return 0, ""
        if verb == "enable":
            self.enabled.add(unit)
            return 0, ""
        if unit != self.layout["unit"]:
            return 0, ""
        if verb in ("start", "restart"):
            if verb == "start" and self.master:
                return 0, ""
            return (0, "") if self._boot(self.files.get("config")) else (1, "Job failed, see journalctl")
        if verb == "reload":
            if not self.master:
                return 1, "not active"
            config = self.files.get("config")
            if "NO-BOOT" in config:
                self.master, self.failed = None, True
                return 0, ""
            settings = gunicorn_config.read_literals(config)[0]
            self.master["config"] = config
            self.master["workers"] = [self._pid() for _worker in range(settings["workers"])]
            return 0, ""
        if verb == "stop":
            self.master = None
        return 0, ""

    def _read_candidate_config(self):
        with open(os.path.join(self.layout["candidate_dir"], "config"), encoding="utf-8") as handle:
            return handle.read()

    def daemon_reload(self):
        self.calls.append(("daemon-reload", None))

    def unit_state(self, unit):
        self.unit_state_calls += 1
        if self.fail_unit_state_after is not None and self.unit_state_calls > self.fail_unit_state_after:
            raise HostError("systemctl show %s failed (rc=1): Failed to connect to bus" % unit)
        enabled = "enabled" if unit in self.enabled else "disabled"
        if unit == self.layout["canary_unit"] and self.canary is not None:
            return {"ActiveState": "active", "SubState": "running", "MainPID": 50, "UnitFileState": "static"}
        if unit == self.layout["handover_unit"] and self.partner:
            return {"ActiveState": "active", "SubState": "running", "MainPID": self.partner["pid"],
                    "UnitFileState": "static"}
        if unit != self.layout["unit"]:
            return {"ActiveState": "inactive", "SubState": "dead", "MainPID": 0, "UnitFileState": enabled}
        if self.master:
            return {"ActiveState": "active", "SubState": "running", "MainPID": self.master["pid"],
                    "UnitFileState": enabled, "NRestarts": self.n_restarts}
        state = "failed" if self.failed else "inactive"
        return {"ActiveState": state, "SubState": state, "MainPID": 0, "UnitFileState": enabled}

    def journal(self, unit, since_epoch, lines=25):
        return ["journal of %s" % unit]

    def install_canary(self, content):
        self.installed.append(("canary", content))
        self.canary_unit = content

    def remove_canary(self):
        self.canary_unit, self.canary = None, None

    def install_partner(self, unit_content, socket_content):
        self.calls.append(("install-partner", None))
        self.installed.append(("partner", unit_content))
        self.partner_units = (unit_content, socket_content)

    def partner_installed(self):
        return self.partner_units is not None

    def remove_partner(self):
        self.calls.append(("remove-partner", None))
        self.partner_units, self.partner = None, None

    def overlap_memory(self, pid):
        return self.memory

    def master_started(self, pid):
        for master in (self.master, self.partner):
            if master and master["pid"] == pid:
                return master["booted"]
        return None

    def written(self):
        return dict((name, self.mtimes.get(name, 0.0)) for name in self.files if self.files[name])

    # processes and probes
    def workers(self, pid):
        for master in (self.master, self.partner):
            if master and master["pid"] == pid:
                return list(master["workers"])
        return []

    def signal(self, pid, signum):
        self.calls.append((signum.name, pid))
        if self.signal_error is not None:
            # A test sets an exception instance here; pylint only sees the None of __init__.
            raise self.signal_error  # pylint: disable=raising-bad-type
        if signum == signal.SIGTTIN:
            self.master["workers"].append(self._pid())
        elif signum == signal.SIGTTOU:
            self.master["workers"].pop()

    def http_request(self, address, method, path, headers):
        self.requests.append((address, method, path, dict(headers)))
        if self.on_request:
            self.on_request()
        live = False
        if address[0] == "unix" and address[1] == self.layout["canary_socket"]:
            config = self.canary
        elif address[0] == "unix" and address[1] == self.layout["handover_socket"]:
            config = self.partner["config"] if self.partner else None
        elif address[0] == "unix" and address[1] == self.layout["probe_socket"]:
            config = self.master["config"] if self.master and self.master.get("probe") else None
            live = True
        elif self.partner and not self.master and self.files.get("socket"):
            # The shared socket: the partner answers while the live master is away.
            config = self.partner["config"]
        else:
            live = True
            config = self.master["config"] if self.master else None
            binds = gunicorn_config.read_literals(config)[0].get("bind", []) if config else []
            if address not in [plan.probe_address(bind) for bind in binds]:
                config = None
        if config is None:
            raise HostError("%s %s: [Errno 111] Connection refused" % (address, path))
        broken = "BROKEN" in config.replace("LIVE-BROKEN", "") or (live and "LIVE-BROKEN" in config)
        master = self.master if live else self.partner
        if "WARMING" in config and master and self.clock < master["booted"] + 3:
            return 503, "warming up", None
        host = dict((name.lower(), value) for name, value in headers.items()).get("host")
        if "NEEDS-HOST" in config and host != "shop.example.com":
            return 400, "Bad Request", None
        if "REDIRECTS" in config:
            return 301, "", "https://shop.example.com%s" % path
        return (500, "Server Error", None) if broken else (200, "ok Catalog", None)

    def port_is_free(self, host, port):
        return port not in self.taken_ports

    def known_settings(self):
        return set(self.known)

    def run_release_command(self, command, candidate_dir):
        self.calls.append(("manage.py", command))
        if "fails" in command:
            return 1, "CommandError: the %s failed\n  password=s3cret-value\n" % command
        return 0, "ok"

    def check_config(self, config_path, candidate_dir):
        self.checked_in.append((self.app_dir, self.venv))
        with open(config_path, encoding="utf-8") as handle:
            text = handle.read()
        if "HANGS" in text:
            self.clock += 10
            raise HostError("gunicorn --check-config did not finish within 10 s (gunicorn_django_check_timeout) as "
                            "the service user: the app blocks (a database or network connect at import?); raise "
                            "gunicorn_django_check_timeout if it needs longer")
        return (1, "Error: CHECK-FAILS\n") if "CHECK-FAILS" in text else (0, "")


UNIT = "[Service]\nExecStart=/srv/mysite/venv/bin/gunicorn --config /etc/gunicorn/mysite/gunicorn.conf.py\n"
SOCKET = "[Socket]\nListenStream=127.0.0.1:8000\n"


def config_spec(workers=2, bind="127.0.0.1:8000", python="", preload=False, timeout=30, extra=None):
    names = app_layout.app_layout("mysite")
    settings = gunicorn_config.effective_settings(
        {"wsgi_app": "mysite.wsgi:application", "bind": bind, "workers": workers, "preload_app": preload,
         "timeout": timeout}, names["proc_name"], names["control_socket"])
    return {"app_name": "mysite", "header": "#\n# Ansible managed\n#", "settings": settings,
            "extra_settings": extra or {}, "python": python}


PROBE_SOCKET = "[Socket]\nListenStream=/run/gunicorn-mysite-probe/live.sock\n"


def release_files(spec, app_env="MYSITE=1\n", secret_env="SECRET=1\n", unit=UNIT, socket="", probe=None, revision="",
                  app_dir="/srv/mysite/app", venv="/srv/mysite/venv", resolve=lambda path: path):
    """The files of a release; with a socket, the live probe socket comes with it (unless `probe`
    says otherwise: a release of an earlier version had none)."""
    text = gunicorn_config.render(spec["app_name"], spec["settings"], spec["extra_settings"], spec["python"],
                                  spec["header"])
    probe = bool(socket) if probe is None else probe
    return {"config": text, "app_env": app_env, "secret_env": secret_env, "unit": unit, "socket": socket,
            "probe_socket": PROBE_SOCKET if probe else "",
            "release": plan.release_record(revision, app_dir, venv, resolve)}


class Harness:
    """One app on a FakeHost; `deploy` and `rollback` run a fresh transaction as the module does."""

    def __init__(self, tmp_path):
        self.layout = app_layout.app_layout("mysite", str(tmp_path / "etc"), str(tmp_path / "state"),
                                            str(tmp_path / "systemd"))
        self.host = FakeHost(self.layout)
        checks = [{"path": "/healthz"}, {"path": "/items/", "contains": "Catalog"}]
        self.params = {"layout": self.layout, "health_checks": checks,
                       "health_timeout": 30, "canary": True, "rollback": True, "history_size": 5,
                       "lock_timeout": 0, "sizing": {}, "canary_unit": "[Service]\n",
                       "handover_unit": "[Service]\n# partner\n", "handover_socket_unit": "[Socket]\n"}
        self.store = Store(self.layout["app_state_dir"], "root")

    def transaction(self, spec=None, files=None, **params):
        self.host.clock += 10  # each release starts in a later second
        spec = spec or config_spec()
        return Transaction(self.host, self.store, dict(self.params, **params), files or release_files(spec), spec)

    def deploy(self, spec=None, files=None, **params):
        os.makedirs(self.layout["app_state_dir"], exist_ok=True)
        return self.transaction(spec, files, **params).deploy()

    def rollback(self, entry=None, **params):
        return Transaction(self.host, self.store, dict(self.params, **params), {}, None).deploy(
            entry, kind="rollback")
