# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the gunicorn_baseline module captures on a host, as plain data: load, a CPU and swap sample,
memory, listening sockets with their accept queues, connections to the database ports, and the
Gunicorn units' journal lines sorted into categories.

psutil gives the load, the CPU times, memory, swap and TCP connections. It has no accept queues, so
listening sockets come from the kernel's sock_diag netlink interface, the one ``ss`` reads: for a
listening socket it reports the connections waiting to be accepted and the backlog (the most that
may wait). /proc/net/tcp has the first figure only and /proc/net/unix neither.
"""

from __future__ import annotations

import datetime
import errno
import json
import os
import re
import socket
import struct
import time
import traceback
from collections.abc import Mapping

try:
    import psutil
    HAS_PSUTIL = True
    PSUTIL_IMPORT_ERROR = None
except ImportError:
    psutil = None
    HAS_PSUTIL = False
    PSUTIL_IMPORT_ERROR = traceback.format_exc()

# -- journal ------------------------------------------------------------------------------------

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
# journalctl --grep pattern matching every category above, so that journalctl filters on the host.
JOURNAL_GREP = "|".join(pattern.pattern for name, pattern in JOURNAL_CATEGORIES)
JOURNAL_MAX_LINES = 2000


def journal_argv(journalctl, units, since):
    return [journalctl, "--unit=%s" % units, "--since=%s" % since, "--grep=%s" % JOURNAL_GREP, "--output=json",
            "--output-fields=_SYSTEMD_UNIT,UNIT,MESSAGE", "--lines=%d" % JOURNAL_MAX_LINES, "--no-pager", "--quiet"]


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
    """journalctl -o json lines: counts per category (live and canary units apart) and the last notable lines."""
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


# -- CPU and swap sample ------------------------------------------------------------------------

def vmstat_percentages(before, after):
    """CPU time shares between two psutil.cpu_times() as vmstat prints them: whole percentages rounded half up,
    user with nice, system with interrupts, over user + system + idle + iowait + steal."""
    def delta(*fields):
        return sum(max(getattr(after, field, 0.0) - getattr(before, field, 0.0), 0.0) for field in fields)
    shares = {"us": delta("user", "nice"), "sy": delta("system", "irq", "softirq"), "id": delta("idle"),
              "wa": delta("iowait"), "st": delta("steal")}
    total = sum(shares.values())
    if not total:
        return {"us": 0, "sy": 0, "id": 100, "wa": 0, "st": 0}
    return dict((name, int(100.0 * value / total + 0.5)) for name, value in shares.items())


def procs_running(stat_text):
    """The run queue: runnable tasks, from /proc/stat (the r column of vmstat)."""
    for line in (stat_text or "").splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[0] == "procs_running" and fields[1].isdigit():
            return int(fields[1])
    return None


def _read(path):
    with open(path) as handle:
        return handle.read()


def cpu_and_swap_sample(seconds):
    """Load, CPU shares, run queue and swap in/out over ``seconds`` (the figures of vmstat SECONDS 2)."""
    times, swap, started = psutil.cpu_times(), psutil.swap_memory(), time.monotonic()
    time.sleep(seconds)
    times_after, swap_after, elapsed = psutil.cpu_times(), psutil.swap_memory(), time.monotonic() - started
    shares = vmstat_percentages(times, times_after)
    try:
        run_queue = procs_running(_read("/proc/stat"))
    except (IOError, OSError):
        run_queue = None

    def kib_per_second(before, after):
        return int(max(after - before, 0) / 1024.0 / elapsed + 0.5) if elapsed > 0 else None
    cpu = {
        "load": [round(value, 2) for value in psutil.getloadavg()],
        "run_queue": run_queue,
        "busy_percent": shares["us"] + shares["sy"],
        "iowait_percent": shares["wa"],
        "steal_percent": shares["st"],
        "idle_percent": shares["id"],
        "sample_seconds": seconds,
    }
    memory = psutil.virtual_memory()
    return cpu, {"total_bytes": memory.total, "available_bytes": memory.available}, {
        "total_bytes": swap_after.total,
        "used_bytes": swap_after.total - swap_after.free,
        "in_kib_per_second": kib_per_second(swap.sin, swap_after.sin),
        "out_kib_per_second": kib_per_second(swap.sout, swap_after.sout),
    }


# -- listening sockets (sock_diag netlink) ------------------------------------------------------

NETLINK_SOCK_DIAG = 4
SOCK_DIAG_BY_FAMILY = 20
NLM_F_REQUEST = 0x1
NLM_F_DUMP = 0x300
NLMSG_ERROR = 2
NLMSG_DONE = 3
TCP_LISTEN = 10
UDIAG_SHOW_NAME = 0x01
UDIAG_SHOW_RQLEN = 0x10
UNIX_DIAG_NAME = 0
UNIX_DIAG_RQLEN = 4
NLMSGHDR = struct.Struct("=IHHII")
INET_DIAG_REQ_V2 = struct.Struct("=BBBxI48x")      # family, protocol, ext, states, socket id (any)
UNIX_DIAG_REQ = struct.Struct("=BBxxIII8x")         # family, protocol, states, inode, show, cookie
INET_DIAG_MSG = struct.Struct("=BBBB2s2s16s16sI8sIIIII")
UNIX_DIAG_MSG = struct.Struct("=BBBxI8s")
RTATTR = struct.Struct("=HH")
# Unix socket types ss lists with -x as u_str and u_seq; datagram sockets do not listen.
UNIX_STREAM_TYPES = (socket.SOCK_STREAM, socket.SOCK_SEQPACKET)


class SocketDiagError(Exception):
    """The kernel's sock_diag interface could not be read."""

    def __init__(self, message, errno=None):
        super().__init__(message)
        self.errno = errno


def _align(length):
    return (length + 3) & ~3


def _dump(request):
    """Send one sock_diag dump request; yield the payload of each answer."""
    try:
        sock = socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, NETLINK_SOCK_DIAG)
    except (AttributeError, OSError) as exc:
        raise SocketDiagError("cannot open a sock_diag netlink socket: %s" % exc)
    with sock:
        sock.sendall(NLMSGHDR.pack(NLMSGHDR.size + len(request), SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP,
                                   1, 0) + request)
        while True:
            data = sock.recv(65536)
            if not data:
                return
            offset = 0
            while offset + NLMSGHDR.size <= len(data):
                length, kind = NLMSGHDR.unpack_from(data, offset)[:2]
                if length < NLMSGHDR.size:
                    return
                if kind == NLMSG_DONE:
                    return
                if kind == NLMSG_ERROR:
                    code = -struct.unpack_from("=i", data, offset + NLMSGHDR.size)[0]
                    raise SocketDiagError("sock_diag refused the request: %s" % os.strerror(code), code)
                yield data[offset + NLMSGHDR.size:offset + length]
                offset += _align(length)


def format_address(family, address, port):
    """host:port as ss -n prints it: IPv6 in brackets."""
    if family == socket.AF_INET6:
        return "[%s]:%d" % (address, port)
    return "%s:%d" % (address, port)


def tcp_listeners(family):
    """Listening TCP sockets of one address family with their queue and backlog, by inode."""
    found = []
    size = 16 if family == socket.AF_INET6 else 4
    request = INET_DIAG_REQ_V2.pack(family, socket.IPPROTO_TCP, 0, 1 << TCP_LISTEN)
    for payload in _dump(request):
        if len(payload) < INET_DIAG_MSG.size:
            continue
        fields = INET_DIAG_MSG.unpack_from(payload)
        msg_family, state, sport, source = fields[0], fields[1], fields[4], fields[6]
        rqueue, wqueue, inode = fields[11], fields[12], fields[14]
        if msg_family != family or state != TCP_LISTEN:
            continue
        address = socket.inet_ntop(family, source[:size])
        found.append({"proto": "tcp", "address": format_address(family, address, struct.unpack("!H", sport)[0]),
                      "queued": rqueue, "backlog": wqueue, "inode": inode})
    return found


def _unix_name(raw):
    if not raw:
        return "*"
    if raw[:1] == b"\0":  # abstract socket, shown with a leading @ as ss does
        return "@" + raw[1:].decode("utf-8", "replace")
    return raw.rstrip(b"\0").decode("utf-8", "replace")


def unix_listeners():
    """Listening unix stream and seqpacket sockets with their queue and backlog, by inode."""
    found = []
    request = UNIX_DIAG_REQ.pack(socket.AF_UNIX, 0, 1 << TCP_LISTEN, 0, UDIAG_SHOW_NAME | UDIAG_SHOW_RQLEN)
    for payload in _dump(request):
        if len(payload) < UNIX_DIAG_MSG.size:
            continue
        family, kind, state, inode = UNIX_DIAG_MSG.unpack_from(payload)[:4]
        if family != socket.AF_UNIX or state != TCP_LISTEN or kind not in UNIX_STREAM_TYPES:
            continue
        name, queued, backlog = None, None, None
        offset = UNIX_DIAG_MSG.size
        while offset + RTATTR.size <= len(payload):
            length, attribute = RTATTR.unpack_from(payload, offset)
            if length < RTATTR.size:
                break
            value = payload[offset + RTATTR.size:offset + length]
            if attribute == UNIX_DIAG_NAME:
                name = value
            elif attribute == UNIX_DIAG_RQLEN and len(value) >= 8:
                queued, backlog = struct.unpack_from("=II", value)
            offset += _align(length)
        found.append({"proto": "unix", "address": _unix_name(name), "queued": queued, "backlog": backlog,
                      "inode": inode})
    return found


_SOCKET_LINK = re.compile(r"^socket:\[(\d+)\]$")


def socket_owners(proc="/proc"):
    """Names of the processes holding each socket inode, from /proc/<pid>/fd (as ss -p finds them)."""
    owners = {}
    for pid in os.listdir(proc):
        if not pid.isdigit():
            continue
        try:
            fds = os.listdir(os.path.join(proc, pid, "fd"))
            name = _read(os.path.join(proc, pid, "comm")).strip()
        except (IOError, OSError):  # gone, or another user's process without root
            continue
        for fd in fds:
            try:
                match = _SOCKET_LINK.match(os.readlink(os.path.join(proc, pid, "fd", fd)))
            except (IOError, OSError):  # closed since the listing
                continue
            if match:
                owners.setdefault(int(match.group(1)), set()).add(name)
    return owners


def listeners():
    """Every listening TCP and unix stream socket (proto, address, queued, backlog and the processes holding it),
    and what could not be read: (listeners, errors), listeners None when nothing could be."""
    found, errors, read = [], [], 0
    for part, reader in (("tcp", lambda: tcp_listeners(socket.AF_INET)),
                         ("tcp6", lambda: tcp_listeners(socket.AF_INET6)), ("unix", unix_listeners)):
        try:
            found.extend(reader())
        except SocketDiagError as exc:
            if part == "tcp6" and exc.errno == errno.ENOENT:
                read += 1  # a kernel without IPv6 has no TCPv6 sockets to list
                continue
            errors.append("listeners (%s): %s" % (part, exc))
        else:
            read += 1
    owners = socket_owners()
    for listener in found:
        listener["processes"] = sorted(owners.get(listener.pop("inode"), ()))
    return (found if read else None), errors


# -- connections to the database ----------------------------------------------------------------

def db_connections(connections, ports):
    """Established TCP connections to the database ports, by peer, from psutil.net_connections() entries."""
    ports = [int(port) for port in ports]
    by_peer = {}
    for connection in connections:
        remote = connection.raddr
        if connection.status != "ESTABLISHED" or not remote or remote.port not in ports:
            continue
        peer = format_address(socket.AF_INET6 if ":" in remote.ip else socket.AF_INET, remote.ip, remote.port)
        by_peer[peer] = by_peer.get(peer, 0) + 1
    return {"ports": ports, "total": sum(by_peer.values()), "by_peer": by_peer}
