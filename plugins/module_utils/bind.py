# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Gunicorn bind addresses: the one parser of the collection, and what follows from an address.

A bind is ``host:port``, ``[v6]:port`` or ``unix:/absolute/path``. Everything that needs to know
something about a bind (the preflight rules, the socket unit's ListenStream=, the health probes,
the load generator's URL, the port-in-use check) asks this module. Standard library only: it is
imported by modules on the managed hosts and by filters on the controller.
"""

from __future__ import annotations

import ipaddress
from collections import namedtuple

TCP = "tcp"
UNIX = "unix"


class Address(namedtuple("Address", "kind host port path")):
    """A parsed bind: kind TCP with host and port, or kind UNIX with path."""

    __slots__ = ()

    def __str__(self):
        if self.kind == UNIX:
            return "unix:%s" % self.path
        return "%s:%d" % (_bracketed(self.host), self.port)


def _bracketed(host):
    return "[%s]" % host if ":" in host else host


def parse(bind):
    """An Address for a Gunicorn bind, or ValueError with a message an operator can act on.

    Checks what Gunicorn itself only rejects at boot (``--check-config`` passes
    ``127.0.0.1:notaport``).
    """
    if not isinstance(bind, str) or not bind.strip():
        raise ValueError("bind must be a non-empty string")
    bind = bind.strip()
    if bind.startswith("unix:"):
        path = bind[len("unix:"):]
        if not path.startswith("/"):
            raise ValueError("unix socket bind %r needs an absolute path (unix:/run/gunicorn-<app>/gunicorn.sock)" % bind)
        if any(char.isspace() for char in path):
            raise ValueError("unix socket bind %r: the path may not contain white space" % bind)
        return Address(UNIX, None, None, path)
    if bind.startswith("fd://"):
        raise ValueError("bind %r: file descriptor binds are not managed by this collection" % bind)
    if bind.startswith("["):
        host, sep, port = bind[1:].partition("]:")
        if not sep:
            raise ValueError("bind %r: an IPv6 bind looks like [::1]:8000" % bind)
    else:
        host, sep, port = bind.rpartition(":")
        if not sep:
            raise ValueError("bind %r has no port (host:port or unix:/path)" % bind)
    if not (port.isdigit() and len(port) <= 5) or not 0 < int(port) < 65536:
        raise ValueError("bind %r: port %r is not a number from 1 to 65535" % (bind, port))
    if not host:
        raise ValueError("bind %r has no host (use 127.0.0.1:%s)" % (bind, port))
    if any(char.isspace() for char in host):
        raise ValueError("bind %r: the host may not contain white space" % bind)
    return Address(TCP, host, int(port), None)


def _ip(host):
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def is_loopback(address):
    """True for unix sockets and loopback hosts (127.0.0.0/8, ::1, localhost)."""
    if address.kind == UNIX:
        return True
    if address.host == "localhost":
        return True
    ip = _ip(address.host)
    return bool(ip and ip.is_loopback)


def is_ip_literal(address):
    """True for a unix socket or an IP address host: what systemd's ListenStream= takes (no names)."""
    return address.kind == UNIX or _ip(address.host) is not None


def listen_stream(address):
    """The ListenStream= value of a socket unit for this bind."""
    return address.path if address.kind == UNIX else str(address)


def probe_host(address):
    """Where a client on this host connects for a TCP bind: wildcards and localhost via loopback."""
    return {"0.0.0.0": "127.0.0.1", "::": "::1", "localhost": "127.0.0.1"}.get(address.host, address.host)


def url(address):
    """The http:// URL of a TCP bind as a client on this host reaches it; ValueError for a socket."""
    if address.kind == UNIX:
        raise ValueError("bind %s is a unix socket: it has no http:// URL" % (address,))
    return "http://%s:%d" % (_bracketed(probe_host(address)), address.port)


def _host_addresses(host):
    """IP addresses a bind host stands for, or None for a name that only DNS could tell."""
    if host == "localhost":
        return [ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")]
    ip = _ip(host)
    return [ip] if ip else None


def _addresses_clash(first, second):
    """Whether two listeners on one port cannot coexist (same address, or a wildcard covers the other).

    On Linux an IPv6 wildcard (::) also covers IPv4 (dual-stack, the default).
    """
    if first == second:
        return True
    for wildcard, other in ((first, second), (second, first)):
        if wildcard.is_unspecified and (wildcard.version == 6 or other.version == wildcard.version):
            return True
    return False


def hosts_clash(first, second):
    """Whether TCP listeners on the same port of these hosts would get in each other's way.

    Host names other than localhost are taken to clash: without DNS the answer is unknown.
    """
    first_addresses, second_addresses = _host_addresses(first), _host_addresses(second)
    if first_addresses is None or second_addresses is None:
        return True
    return any(_addresses_clash(a, b) for a in first_addresses for b in second_addresses)


def held_by(address, live_binds):
    """Whether a TCP address found taken is explained by one of `live_binds` (the running master's).

    True when a live bind has the same port on a clashing host - `127.0.0.1:8000` ->
    `localhost:8000`, or `0.0.0.0:8000` -> `127.0.0.1:8000`. Such a port frees itself when the
    running master stops.
    """
    if address.kind != TCP:
        return False
    for live in live_binds or []:
        try:
            other = parse(live)
        except ValueError:
            continue
        if other.kind == TCP and other.port == address.port and hosts_clash(other.host, address.host):
            return True
    return False


def describe(bind):
    """Facts about a bind for templates and rules on the controller (the gunicorn_bind filter)."""
    address = parse(bind)
    facts = {
        "kind": address.kind,
        "host": address.host,
        "port": address.port,
        "path": address.path,
        "address": str(address),
        "loopback": is_loopback(address),
        "ip_literal": is_ip_literal(address),
        "listen_stream": listen_stream(address),
        "url": None if address.kind == UNIX else url(address),
    }
    return facts
