# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Host side of a Gunicorn release: files, systemd, processes and HTTP probes.

Everything here runs on the managed host, as root, inside one module call, so that a deploy is
one transaction on the host: a dropped controller connection cannot leave it half done without
the next run noticing (see Release.recover_interrupted in release.py).
"""

from __future__ import annotations

import errno
import fcntl
import grp
import json
import os
import pwd
import socket
import tempfile
import time

try:
    import http.client as http_client
except ImportError:  # pragma: no cover - Python 2 is not supported
    http_client = None


class HostError(Exception):
    """A host operation failed; the message is meant for the operator."""


def read_file(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except IOError as exc:
        if exc.errno == errno.ENOENT:
            return None
        raise HostError("cannot read %s: %s" % (path, exc))


def write_file(path, content, owner="root", group="root", mode=0o644):
    """Write atomically (temp file in the same directory, fsync, rename) with owner and mode."""
    directory = os.path.dirname(path) or "."
    uid = pwd.getpwnam(owner).pw_uid
    gid = grp.getgrnam(group).gr_gid
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(content)
            handle.flush()
            os.fsync(handle.fileno())
        os.chown(tmp, uid, gid)
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except (IOError, OSError) as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise HostError("cannot write %s: %s" % (path, exc))


def make_dir(path, owner="root", group="root", mode=0o750):
    if not os.path.isdir(path):
        os.makedirs(path)
    os.chown(path, pwd.getpwnam(owner).pw_uid, grp.getgrnam(group).gr_gid)
    os.chmod(path, mode)


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
    """An exclusive flock on a file, waited for up to `timeout` seconds."""

    def __init__(self, path, timeout):
        self.path = path
        self.timeout = timeout
        self.handle = None

    def __enter__(self):
        self.handle = open(self.path, "a+", encoding="utf-8")
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                fcntl.flock(self.handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except (IOError, OSError) as exc:
                if exc.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    self.handle.seek(0)
                    holder = self.handle.read().strip() or "unknown"
                    self.handle.close()
                    raise HostError(
                        "another release of this app is running (lock %s held by %s); waited %d s"
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


class Systemd:
    """systemctl and journalctl through AnsibleModule.run_command."""

    def __init__(self, module):
        self.module = module

    def run(self, *args):
        rc, out, err = self.module.run_command(list(args))
        return rc, out.strip(), err.strip()

    def systemctl(self, *args):
        rc, out, err = self.run("systemctl", *args)
        if rc != 0:
            raise HostError("systemctl %s failed (rc=%d): %s" % (" ".join(args), rc, err or out))
        return out

    def show(self, unit, *props):
        args = ["show", unit]
        for prop in props:
            args.extend(["--property", prop])
        values = {}
        for line in self.systemctl(*args).splitlines():
            if "=" in line:
                key, value = line.split("=", 1)
                values[key] = value
        return values

    def state(self, unit):
        values = self.show(unit, "ActiveState", "SubState", "MainPID", "UnitFileState", "LoadState")
        values["MainPID"] = int(values.get("MainPID") or 0)
        return values

    def daemon_reload(self):
        self.systemctl("daemon-reload")

    def journal(self, unit, since_epoch, lines=25):
        since = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(since_epoch - 1))
        rc, out, err = self.run("journalctl", "--unit", unit, "--since", since, "--lines", str(lines),
                                "--no-pager", "--output", "cat")
        return out.splitlines() if rc == 0 else ["(journal unavailable: %s)" % err]


def child_pids(pid):
    """PIDs whose parent is `pid` (Gunicorn's workers of a master), read from /proc."""
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry, encoding="utf-8") as handle:
                stat = handle.read()
        except (IOError, OSError):
            continue
        # The command name is in parentheses and may contain spaces: fields follow the last ')'.
        fields = stat[stat.rfind(")") + 2:].split()
        if len(fields) > 1 and int(fields[1]) == pid:
            children.append(int(entry))
    return sorted(children)


class _UnixHTTPConnection(http_client.HTTPConnection):
    def __init__(self, path, timeout):
        http_client.HTTPConnection.__init__(self, "localhost", timeout=timeout)
        self.unix_path = path

    def connect(self):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(self.unix_path)
        self.sock = sock


def http_get(address, path, timeout=5.0):
    """GET `path` from ("tcp", host, port) or ("unix", socket path): (status, body text).

    Raises HostError when no HTTP answer comes back (refused, reset, timeout).
    """
    if address[0] == "unix":
        connection = _UnixHTTPConnection(address[1], timeout)
    else:
        connection = http_client.HTTPConnection(address[1], address[2], timeout=timeout)
    try:
        connection.request("GET", path, headers={"Host": "localhost", "User-Agent": "djangoops.gunicorn"})
        response = connection.getresponse()
        return response.status, response.read(262144).decode("utf-8", "replace")
    except (socket.error, OSError, http_client.HTTPException) as exc:
        raise HostError("%s %s: %s" % (_describe(address), path, exc or type(exc).__name__))
    finally:
        connection.close()


def _describe(address):
    if address[0] == "unix":
        return "unix:%s" % address[1]
    host = address[1]
    return "http://%s:%d" % ("[%s]" % host if ":" in host else host, address[2])


def describe_address(address):
    return _describe(address)


def port_is_free(host, port):
    """Whether a TCP port can be bound now (SO_REUSEADDR, like Gunicorn), probed as root."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    probe = socket.socket(family, socket.SOCK_STREAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind((host, port))
        return True
    except (socket.error, OSError) as exc:
        if exc.errno == errno.EADDRNOTAVAIL:
            raise HostError("bind address %s is not an address of this host" % host)
        if exc.errno != errno.EADDRINUSE:
            raise HostError("cannot probe %s:%d: %s" % (host, port, exc))
        return False
    finally:
        probe.close()
