# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Nginx's real configuration as ``nginx -T`` prints it: which locations proxy to a Gunicorn bind, and the
``proxy_read_timeout`` each of them applies. Pure parsing, standard library only.

``nginx -T`` prints every file it read, each after a ``# configuration file <path>:`` line, with the
``include`` directives left in place: the parser starts at the first file and follows includes by matching
their patterns against the files that were printed.
"""

from __future__ import annotations

import fnmatch
import os
import re

# Nginx's own default for proxy_read_timeout (and proxy_send_timeout, proxy_connect_timeout).
DEFAULT_READ_TIMEOUT = 60.0
FILE_MARK = re.compile(r"^# configuration file (.+):$")
TIME_PART = re.compile(r"(\d+)(ms|s|m|h|d|w|M|y)?")
UNIT_SECONDS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "M": 2592000, "y": 31536000,
                None: 1}


class NginxConfigError(ValueError):
    """Output that is not ``nginx -T``'s."""


def split_files(text):
    """[(path, content)] in the order ``nginx -T`` printed them."""
    files, path, lines = [], None, []
    for line in (text or "").splitlines():
        mark = FILE_MARK.match(line)
        if mark:
            if path is not None:
                files.append((path, "\n".join(lines)))
            path, lines = mark.group(1), []
        elif path is not None:
            lines.append(line)
    if path is not None:
        files.append((path, "\n".join(lines)))
    if not files:
        raise NginxConfigError("no '# configuration file' line: not the output of nginx -T")
    return files


def tokens(text):
    """Words, quoted strings and the ``{ } ;`` of one file, comments dropped."""
    out, i, size = [], 0, len(text)
    while i < size:
        char = text[i]
        if char.isspace():
            i += 1
        elif char == "#":
            while i < size and text[i] != "\n":
                i += 1
        elif char in "{};":
            out.append(char)
            i += 1
        elif char in "\"'":
            end, word = i + 1, []
            while end < size and text[end] != char:
                if text[end] == "\\" and end + 1 < size:
                    end += 1
                word.append(text[end])
                end += 1
            out.append("".join(word))
            i = end + 1
        else:
            start = i
            while i < size and not text[i].isspace() and text[i] not in "{};":
                if text[i] == "\\" and i + 1 < size:
                    i += 1
                i += 1
            out.append(text[start:i])
    return out


def parse_block(words, pos=0):
    """[(name, args, children or None)] up to the matching ``}``; (directives, next position)."""
    directives = []
    while pos < len(words):
        word = words[pos]
        if word == "}":
            return directives, pos + 1
        args, pos = [], pos + 1
        while pos < len(words) and words[pos] not in ("{", ";", "}"):
            args.append(words[pos])
            pos += 1
        if pos < len(words) and words[pos] == "{":
            children, pos = parse_block(words, pos + 1)
            directives.append((word, args, children))
        else:
            directives.append((word, args, None))
            if pos < len(words) and words[pos] == ";":
                pos += 1
    return directives, pos


def seconds(value):
    """An nginx time (``90``, ``60s``, ``1m30s``, ``500ms``) in seconds."""
    text, total, pos = str(value).strip(), 0.0, 0
    if not text:
        raise NginxConfigError("empty time")
    while pos < len(text):
        part = TIME_PART.match(text, pos)
        if not part:
            raise NginxConfigError("not an nginx time: %r" % value)
        total += int(part.group(1)) * UNIT_SECONDS[part.group(2)]
        pos = part.end()
    return total


class Config:
    """The parsed files of one ``nginx -T`` output, includes resolved on demand."""

    def __init__(self, text):
        self.files = split_files(text)
        self.parsed = dict((path, parse_block(tokens(content))[0]) for path, content in self.files)
        self.main = self.files[0][0]
        self.prefix = os.path.dirname(self.main)

    def expand(self, directives, seen=()):
        """The directives with every ``include`` replaced by the included files' directives."""
        out = []
        for name, args, children in directives:
            if name == "include" and args and children is None:
                pattern = args[0] if args[0].startswith("/") else os.path.join(self.prefix, args[0])
                for path, _content in self.files:
                    if fnmatch.fnmatch(path, pattern) and path not in seen:
                        out.extend(self.expand(self.parsed[path], seen + (path,)))
            elif children is not None:
                out.append((name, args, self.expand(children, seen)))
            else:
                out.append((name, args, children))
        return out

    def tree(self):
        return self.expand(self.parsed[self.main], (self.main,))


def _values(directives, name):
    return [args for directive, args, children in directives if directive == name and children is None]


def _timeout(directives, inherited):
    found = _values(directives, "proxy_read_timeout")
    return seconds(found[-1][0]) if found and found[-1] else inherited


def normalize_address(address):
    """A proxy target or Gunicorn bind as ``host:port`` or ``unix:/path`` (localhost is 127.0.0.1)."""
    text = str(address).strip()
    for scheme in ("http://", "https://"):
        if text.startswith(scheme):
            text = text[len(scheme):]
    if text.startswith("unix:"):
        # proxy_pass http://unix:/run/app.sock:/uri -> the socket path ends at the colon before the URI.
        path = text[len("unix:"):]
        return "unix:" + path.split(":", 1)[0]
    text = text.split("/", 1)[0]
    host, _sep, port = text.rpartition(":")
    if not _sep:
        host, port = text, "80"
    if host in ("localhost", "[::ffff:127.0.0.1]"):
        host = "127.0.0.1"
    return "%s:%s" % (host, port)


def _upstreams(http):
    ups = {}
    for name, args, children in http:
        if name == "upstream" and args and children is not None:
            ups[args[0]] = [normalize_address(server[0]) for server in _values(children, "server") if server]
    return ups


def _locations(directives, timeout, server, path, found):
    for name, args, children in directives:
        if name != "location" or children is None:
            continue
        where = " ".join(args)
        here = _timeout(children, timeout)
        for target in _values(children, "proxy_pass"):
            if target:
                found.append({"server_name": server["server_name"], "listen": server["listen"],
                              "location": (path + " " + where).strip(), "proxy_pass": target[0],
                              "read_timeout": here})
        _locations(children, here, server, (path + " " + where).strip(), found)


def routes(text):
    """Every location that proxies somewhere: server_name, listen, location, proxy_pass, read_timeout (seconds,
    with nginx's inheritance: location, then server, then http, then the default of 60), and targets (the
    addresses behind it, upstream blocks expanded)."""
    found = []
    tree = Config(text).tree()
    for name, _args, http in tree:
        if name != "http" or http is None:
            continue
        ups = _upstreams(http)
        http_timeout = _timeout(http, DEFAULT_READ_TIMEOUT)
        for directive, _sargs, server in http:
            if directive != "server" or server is None:
                continue
            info = {"server_name": " ".join(sum(_values(server, "server_name"), [])),
                    "listen": " ".join(a[0] for a in _values(server, "listen") if a)}
            _locations(server, _timeout(server, http_timeout), info, "", found)
        for route in found:
            if "targets" not in route:
                target = route["proxy_pass"]
                host = re.sub(r"^https?://", "", target).split("/", 1)[0]
                route["targets"] = ups.get(host) or [normalize_address(target)]
    return found


def routes_to(text, bind):
    """The routes whose targets include the Gunicorn bind."""
    want = normalize_address(bind)
    return [route for route in routes(text) if want in route["targets"]]
