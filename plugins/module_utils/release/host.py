# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host side of a release: files, systemd, processes and HTTP probes - the only I/O.

`Host` is the interface the transaction drives (tests drive it on a fake with the same methods);
the file functions are what the store builds its atomic replacements from. Everything runs on
the managed host, as root, inside one module run.
"""

from __future__ import annotations

import errno
import fcntl
import grp
import json
import os
import pwd
import shlex
import shutil
import socket
import tempfile
import time
import uuid

import http.client as http_client

from ansible_collections.djangoops.gunicorn.plugins.module_utils.release import plan

# Runtime units (the canary, a hand-over's partner): gone at reboot, so a host always boots the
# live unit alone.
CANARY_UNIT_DIR = RUNTIME_UNIT_DIR = "/run/systemd/system"
# The secrets are 0600 root:root (systemd reads EnvironmentFile= as PID 1, the app never needs
# the file).
SECRET_FILES = plan.SECRET_FILES
# Seconds a run of the app's code outside the service may take when the caller gives no bound.
DEFAULT_CHECK_TIMEOUT = 60


class HostError(Exception):
    """A host operation failed; the message is meant for the operator."""


# -- files -------------------------------------------------------------------------------------

def read_file(path):
    """The text of a file, or None when it does not exist."""
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise HostError("cannot read %s: %s" % (path, exc))


def write_file(path, content, owner="root", group="root", mode=0o644):
    """Write atomically (temp file in the same directory, fsync, rename) with owner and mode."""
    directory = os.path.dirname(path) or "."
    try:
        uid, gid = pwd.getpwnam(owner).pw_uid, grp.getgrnam(group).gr_gid
    except KeyError as exc:
        raise HostError("cannot write %s: no such user or group (%s)" % (path, exc))
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chown(tmp, uid, gid)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except OSError as exc:
        if tmp and os.path.exists(tmp):
            os.unlink(tmp)
        raise HostError("cannot write %s: %s" % (path, exc))


def make_dir(path, owner="root", group="root", mode=0o750):
    """Create a directory (and missing parents, 0755 root) and set its owner and mode."""
    try:
        parent = os.path.dirname(path.rstrip("/"))
        if parent and not os.path.isdir(parent):
            make_dir(parent, mode=0o755)
        if not os.path.isdir(path):
            os.mkdir(path, mode)
        os.chown(path, pwd.getpwnam(owner).pw_uid, grp.getgrnam(group).gr_gid)
        os.chmod(path, mode)
    except (OSError, KeyError) as exc:
        raise HostError("cannot create %s: %s" % (path, exc))


def remove_file(path):
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as exc:
        raise HostError("cannot remove %s: %s" % (path, exc))


def remove_tree(path):
    shutil.rmtree(path, ignore_errors=True)


def rename(source, target):
    try:
        os.rename(source, target)
    except OSError as exc:
        raise HostError("cannot rename %s to %s: %s" % (source, target, exc))


def list_dir(path):
    return sorted(os.listdir(path)) if os.path.isdir(path) else []


def is_dir(path):
    return os.path.isdir(path)


def write_json(path, data):
    write_file(path, json.dumps(data, indent=2, sort_keys=True) + "\n", mode=0o600)


def read_json(path, default=None):
    text = read_file(path)
    if text is None:
        return default
    try:
        return json.loads(text)
    except ValueError as exc:
        raise HostError("%s is not valid JSON (%s): fix or remove it by hand" % (path, exc))


class Lock:
    """An exclusive flock on a root-only file (0600 in a 0700 directory), waited for up to
    `timeout` seconds: no process of the app can open it, so none can hold it."""

    def __init__(self, path, timeout):
        self.path = path
        self.timeout = timeout
        self.handle = None

    def __enter__(self):
        make_dir(os.path.dirname(self.path), mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        os.fchmod(fd, 0o600)
        self.handle = os.fdopen(fd, "r+", encoding="utf-8")
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    self.handle.seek(0)
                    holder = self.handle.read().strip() or "unknown"
                    self.handle.close()
                    raise HostError("another release of this app is running (lock %s held by %s); waited %d s"
                                    % (self.path, holder, self.timeout))
                time.sleep(0.2)
        self.handle.seek(0)
        self.handle.truncate()
        self.handle.write("pid %d since %s\n" % (os.getpid(), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())))
        self.handle.flush()
        return self

    def __exit__(self, *exc_info):
        self.handle.seek(0)
        self.handle.truncate()
        fcntl.flock(self.handle, fcntl.LOCK_UN)
        self.handle.close()


# -- processes and HTTP ------------------------------------------------------------------------

def child_pids(pid):
    """PIDs whose parent is `pid` (Gunicorn's workers of a master), read from /proc."""
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry, encoding="utf-8") as handle:
                stat = handle.read()
        except OSError:
            continue
        # The command name is in parentheses and may contain spaces: fields follow the last ')'.
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            children.append(int(entry))
    return sorted(children)


def _proc_kib(path, field):
    try:
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        return None
    return None


def process_group_memory(pid):
    """Bytes a master and its workers use: the sum of their proportional set sizes (memory shared
    between forked workers counted once), RSS where PSS cannot be read; None for no master."""
    if not pid:
        return None
    total = 0
    for member in [pid] + child_pids(pid):
        kib = _proc_kib("/proc/%d/smaps_rollup" % member, "Pss")
        if kib is None:
            kib = _proc_kib("/proc/%d/status" % member, "VmRSS")
        total += (kib or 0) * 1024
    return total or None


def process_started(pid):
    """Epoch at which process `pid` started (clock ticks after boot, /proc/stat's btime), or None."""
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8") as handle:
            stat = handle.read()
        ticks = int(stat[stat.rfind(")") + 2:].split()[19])
        with open("/proc/stat", encoding="utf-8") as handle:
            boot = next(int(line.split()[1]) for line in handle if line.startswith("btime "))
    except (OSError, ValueError, IndexError, StopIteration, TypeError):
        return None
    return boot + ticks / float(os.sysconf("SC_CLK_TCK"))


def memory_available():
    """MemAvailable of the host in bytes (None when unknown)."""
    kib = _proc_kib("/proc/meminfo", "MemAvailable")
    return kib * 1024 if kib is not None else None


class _UnixHTTPConnection(http_client.HTTPConnection):
    def __init__(self, path, timeout):
        http_client.HTTPConnection.__init__(self, "localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.unix_path)
        self.sock = sock


def http_request(address, method, path, headers, timeout=5.0):
    """`method` `path` with `headers` to ("tcp", host, port) or ("unix", socket path): (status,
    body text, Location header or None). Redirects are answers, never followed.

    Raises HostError when no HTTP answer comes back (refused, reset, timeout).
    """
    if address[0] == "unix":
        connection = _UnixHTTPConnection(address[1], timeout)
    else:
        connection = http_client.HTTPConnection(address[1], address[2], timeout=timeout)
    try:
        connection.request(method, path, headers=headers)
        response = connection.getresponse()
        return (response.status, response.read(262144).decode("utf-8", "replace"),
                response.getheader("Location"))
    except (OSError, http_client.HTTPException) as exc:
        where = "unix:%s" % address[1] if address[0] == "unix" else "%s:%s" % (address[1], address[2])
        raise HostError("%s %s: %s" % (where, path, exc or type(exc).__name__))
    finally:
        connection.close()


def port_is_free(host, port):
    """Whether a TCP port can be bound now (SO_REUSEADDR, like Gunicorn), probed as root."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    probe = socket.socket(family, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
        return True
    except OSError as exc:
        if exc.errno == errno.EADDRNOTAVAIL:
            raise HostError("bind address %s is not an address of this host" % host)
        if exc.errno != errno.EADDRINUSE:
            raise HostError("cannot probe %s:%d: %s" % (host, port, exc))
        return False
    finally:
        probe.close()


# -- the host the transaction drives ---------------------------------------------------------

class Host:
    """systemd units, live files, processes and probes of one app, through AnsibleModule."""

    def __init__(self, module, layout, user, group, app_dir, venv, check_timeout=DEFAULT_CHECK_TIMEOUT,
                 check_timeout_name="check_timeout"):
        self.module = module
        self.layout = layout
        self.user, self.group, self.app_dir, self.venv = user, group, app_dir, venv
        # Every run of the app's code outside the service is bounded (RuntimeMaxSec= of its unit);
        # the name is how messages call the option (the role's variable).
        self.check_timeout, self.check_timeout_name = int(check_timeout), check_timeout_name
        self.paths = {"config": layout["config_file"], "app_env": layout["app_env_file"],
                      "secret_env": layout["secret_env_file"], "release": layout["release_file"],
                      "unit": layout["unit_file"],
                      "socket": layout["socket_file"], "probe_socket": layout["probe_socket_file"]}
        self.canary_path = os.path.join(CANARY_UNIT_DIR, layout["canary_unit"])
        self.partner_paths = (os.path.join(RUNTIME_UNIT_DIR, layout["handover_unit"]),
                              os.path.join(RUNTIME_UNIT_DIR, layout["handover_socket_unit"]))

    # time, so that a fake host can run a deadline without waiting for it
    def now(self):
        return time.time()

    def sleep(self, seconds):
        time.sleep(seconds)

    # the app's directories, its venv and accounts
    def problems(self):
        """What keeps a release from running on this host: (option at fault, what is wrong)."""
        found = []
        for option, name, lookup in (("user", self.user, pwd.getpwnam), ("group", self.group, grp.getgrnam)):
            try:
                lookup(name)
            except KeyError:
                found.append((option, "%r does not exist on the host" % name))
        if not os.access(os.path.join(self.venv, "bin", "gunicorn"), os.X_OK):
            found.append(("venv", "%s has no executable bin/gunicorn: install gunicorn into it (with the app's "
                                  "own requirements)" % self.venv))
        if not os.path.isdir(self.app_dir):
            found.append(("app_dir", "%s is not a directory on the host: it must hold the app's code (the "
                                     "service's working directory)" % self.app_dir))
        return found

    def resolve_path(self, path):
        """Where `path` leads on the host now (symlinks followed), None when nothing is there."""
        return os.path.realpath(path) if os.path.exists(path) else None

    def use_directories(self, app_dir, venv):
        """Run the app's code (check-config, release commands) from these directories: a
        rollback's, which are the kept release's own."""
        self.app_dir, self.venv = app_dir, venv

    def directories_missing(self):
        return [path for path in (self.layout["app_config_dir"], self.layout["app_state_dir"])
                if not os.path.isdir(path)]

    def make_directories(self):
        # Root-owned: the app may read its config but never rewrite it, nor its last-known-good.
        for path in (self.layout["app_config_dir"], self.layout["app_state_dir"]):
            make_dir(path, group=self.group)
        # A secret.env written by an earlier version (0640 root:<group>) becomes root-only even
        # when its content does not change.
        secret = self.paths["secret_env"]
        try:
            info = os.stat(secret)
            if (info.st_uid, info.st_gid, info.st_mode & 0o7777) != (0, 0, 0o600):
                os.chown(secret, 0, 0)
                os.chmod(secret, 0o600)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise HostError("cannot make %s root-only: %s" % (secret, exc))

    # live files
    def read_live(self, name):
        return read_file(self.paths[name])

    def write_live(self, name, content):
        if name in plan.UNIT_FILES:
            # Units are 0644 root:root; the other live files 0640 root:<group> (the app reads them).
            write_file(self.paths[name], content, "root", "root", 0o644)
        elif name in SECRET_FILES:
            write_file(self.paths[name], content, "root", "root", 0o600)
        else:
            write_file(self.paths[name], content, "root", self.group, 0o640)

    def remove_live(self, name):
        if name == "socket" and os.path.exists(self.paths[name]):
            self.run("systemctl", "disable", self.layout["socket_unit"])
        if name == "probe_socket" and os.path.exists(self.paths[name]):
            # The master that got its fd keeps it until it stops; nothing else listens on it.
            self.run("systemctl", "stop", self.layout["probe_socket_unit"])
        remove_file(self.paths[name])

    # systemd
    def run(self, *args):
        rc, out, err = self.module.run_command(list(args))
        return rc, out.strip(), err.strip()

    def systemctl(self, verb, unit):
        """(rc, message) of `systemctl <verb> <unit>`."""
        rc, out, err = self.run("systemctl", verb, unit)
        return rc, err or out

    def daemon_reload(self):
        rc, out, err = self.run("systemctl", "daemon-reload")
        if rc != 0:
            raise HostError("systemctl daemon-reload failed (rc=%d): %s" % (rc, err or out))

    def unit_state(self, unit):
        rc, out, err = self.run("systemctl", "show", unit, "--property", "ActiveState", "--property", "SubState",
                                "--property", "MainPID", "--property", "UnitFileState", "--property", "NRestarts")
        if rc != 0:
            raise HostError("systemctl show %s failed (rc=%d): %s" % (unit, rc, err or out))
        values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
        values["MainPID"] = int(values.get("MainPID") or 0)
        values["NRestarts"] = int(values.get("NRestarts") or 0) if str(values.get("NRestarts", "")).isdigit() else 0
        return values

    def journal(self, unit, since_epoch, lines=25):
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since_epoch - 1))
        rc, out, err = self.run("journalctl", "--unit", unit, "--since", since, "--lines", str(lines),
                                "--no-pager", "--output", "cat")
        return out.splitlines() if rc == 0 else ["(journal unavailable: %s)" % err]

    def install_canary(self, content):
        if os.path.exists(self.canary_path):
            # A canary left running by an interrupted release would answer for this candidate.
            self.remove_canary()
        make_dir(CANARY_UNIT_DIR, mode=0o755)
        write_file(self.canary_path, content, mode=0o644)
        self.daemon_reload()

    def remove_canary(self):
        self.run("systemctl", "stop", self.layout["canary_unit"])
        self.run("systemctl", "reset-failed", self.layout["canary_unit"])
        if os.path.exists(self.canary_path):
            remove_file(self.canary_path)
            self.daemon_reload()

    def install_partner(self, unit_content, socket_content):
        """Install a hand-over's partner unit and its private probe socket under /run."""
        if self.partner_installed():
            self.remove_partner()
        make_dir(RUNTIME_UNIT_DIR, mode=0o755)
        for path, content in zip(self.partner_paths, (unit_content, socket_content)):
            write_file(path, content, mode=0o644)
        self.daemon_reload()

    def partner_installed(self):
        return any(os.path.exists(path) for path in self.partner_paths)

    def remove_partner(self):
        """Stop the partner's probe socket, then the partner (SIGTERM: its master closes its
        listeners at once, its workers finish the requests they hold), and remove both units.

        The socket goes first: while it listens, a connection on it (a health check the gate gave
        up on, still queued) starts the partner again as soon as it stopped, and that instance,
        its unit file removed under it, runs unsupervised on the shared socket until its start
        times out, and makes the next release's partner fail to start."""
        for unit in (self.layout["handover_socket_unit"], self.layout["handover_unit"]):
            self.run("systemctl", "stop", unit)
            self.run("systemctl", "reset-failed", unit)
        for path in self.partner_paths:
            remove_file(path)
        self.daemon_reload()

    # processes and probes
    def overlap_memory(self, pid):
        """(bytes the master `pid` and its workers use, bytes the host has available): what a
        second master of the same release needs beside it, and what there is. Either is None when
        it cannot be read."""
        return process_group_memory(pid), memory_available()

    def workers(self, pid):
        return child_pids(pid) if pid else []

    def master_started(self, pid):
        """When the process `pid` started (epoch seconds), or None."""
        return process_started(pid)

    def written(self):
        """When each live file that exists was last written (epoch seconds)."""
        found = {}
        for name, path in self.paths.items():
            try:
                found[name] = os.stat(path).st_mtime
            except OSError:
                continue
        return found

    def signal(self, pid, signum):
        os.kill(pid, signum)

    def http_request(self, address, method, path, headers):
        return http_request(address, method, path, headers)

    def port_is_free(self, host, port):
        return port_is_free(host, port)

    def run_as_app(self, command, candidate_dir, what=None):
        """(rc, output): stderr, or stdout when stderr is empty (see _run_as_app)."""
        rc, out, err = self._run_as_app(command, candidate_dir, what)
        return rc, err or out

    def _run_as_app(self, command, candidate_dir, what=None):
        """(rc, stdout, stderr) of a command in the app's real context: its user, working directory and
        the candidate's environment files, in a transient unit that systemd stops after
        check_timeout seconds (RuntimeMaxSec=). HostError, naming the command and the bound,
        when it did not finish in time (an app that blocks at import)."""
        what = what or os.path.basename(command[0])
        unit = "%s-run-%s.service" % (self.layout["proc_name"], uuid.uuid4().hex[:12])
        args = ["systemd-run", "--quiet", "--wait", "--pipe", "--collect", "--service-type=exec",
                "--unit=%s" % unit, "--property=RuntimeMaxSec=%d" % self.check_timeout,
                "--property=User=%s" % self.user, "--property=Group=%s" % self.group,
                "--property=WorkingDirectory=%s" % self.app_dir,
                "--property=EnvironmentFile=%s" % os.path.join(candidate_dir, "app_env"),
                "--property=EnvironmentFile=%s" % os.path.join(candidate_dir, "secret_env"),
                "--property=UnsetEnvironment=GUNICORN_CMD_ARGS", "--"] + list(command)
        started = time.monotonic()
        rc, out, err = self.module.run_command(args, data="")
        if rc != 0 and time.monotonic() - started >= self.check_timeout:
            # systemd killed it at RuntimeMaxSec=; make sure nothing of it is left.
            self.run("systemctl", "stop", unit)
            self.run("systemctl", "reset-failed", unit)
            raise HostError("%s did not finish within %d s (%s) as the service user: the app blocks (a database "
                            "or network connect at import?); raise %s if it needs longer"
                            % (what, self.check_timeout, self.check_timeout_name, self.check_timeout_name))
        return rc, out, err

    def run_release_command(self, command, candidate_dir):
        """(rc, output) of `manage.py <command>` with the venv's Python, in the app's context."""
        return self.run_as_app([os.path.join(self.venv, "bin", "python"), "manage.py"] + shlex.split(command),
                               candidate_dir)

    def check_config(self, config_path, candidate_dir):
        return self.run_as_app([os.path.join(self.venv, "bin", "gunicorn"), "--check-config", "--config",
                                config_path], candidate_dir, what="gunicorn --check-config")

    def known_settings(self):
        """Gunicorn's setting names, asked of the venv's Python as the service user (a venv the
        app can write may hold .pth files or sitecustomize: never run them as root)."""
        python = os.path.join(self.venv, "bin", "python")
        rc, out, err = self._run_as_app([python, "-I", "-c", (
            "import gunicorn.config as c; s = c.KNOWN_SETTINGS; "
            "print('\\n'.join(sorted(x if isinstance(x, str) else x.name for x in s)))")],
            self.layout["candidate_dir"], what="listing Gunicorn's settings")
        if rc != 0:
            raise HostError("cannot list Gunicorn's settings with %s as the service user: %s"
                            % (python, (err or out).strip()))
        return set(out.split())
