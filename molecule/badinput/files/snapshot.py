"""Snapshot what a gunicorn_django release of one app may touch, and compare with a saved one.

Installed on the test host as /usr/local/lib/djangoops-snapshot.py and run with python3:

    snapshot.py save FILE     write the snapshot to FILE
    snapshot.py diff FILE     print {"changed": [paths], "service": {"before", "after"},
                                     "record": {"result", "error": {"step"}, "seconds"} of current.json}

Files: every entry under the config and state directories (the state directory's `lock` is
left out: every release rewrites it), the app's units in /etc/systemd/system and
/run/systemd/system, and /etc/passwd and /etc/group: type, mode, owner:group and the sha256 of
regular files. Service: MainPID, its workers' PIDs, ActiveState, SubState, NRestarts and the
start time of the main process, and every loaded gunicorn-* unit (a canary left behind shows).
Bad-input tests run it before and after each case (molecule/badinput).
"""
import argparse
import glob
import grp
import hashlib
import json
import os
import pwd
import stat
import subprocess

parser = argparse.ArgumentParser()
parser.add_argument("action", choices=["save", "diff"])
parser.add_argument("file")
parser.add_argument("--app", default="mysite")
parser.add_argument("--config-dir", default="/etc/gunicorn")
parser.add_argument("--state-dir", default="/var/lib/gunicorn")
args = parser.parse_args()

SERVICE_PROPERTIES = ("MainPID", "ActiveState", "SubState", "NRestarts", "ExecMainStartTimestampMonotonic")


def describe(path):
    info = os.lstat(path)
    try:
        owner = pwd.getpwuid(info.st_uid).pw_name
    except KeyError:
        owner = str(info.st_uid)
    try:
        group = grp.getgrgid(info.st_gid).gr_name
    except KeyError:
        group = str(info.st_gid)
    mode = "%04o %s:%s" % (stat.S_IMODE(info.st_mode), owner, group)
    if stat.S_ISLNK(info.st_mode):
        return "link %s -> %s" % (mode, os.readlink(path))
    if stat.S_ISDIR(info.st_mode):
        return "dir %s" % mode
    with open(path, "rb") as handle:
        return "file %s %s" % (mode, hashlib.sha256(handle.read()).hexdigest())


def files():
    paths = ["/etc/passwd", "/etc/group"]
    for root in (args.config_dir, args.state_dir):
        for directory, subdirs, names in os.walk(root):
            paths.append(directory)
            paths.extend(os.path.join(directory, name) for name in subdirs if os.path.islink(os.path.join(directory, name)))
            paths.extend(os.path.join(directory, name) for name in names)
    for units in ("/etc/systemd/system", "/run/systemd/system"):
        paths.extend(glob.glob(os.path.join(units, "gunicorn-*")))
    lock = os.path.join(args.state_dir, args.app, "lock")
    return dict((path, describe(path)) for path in sorted(set(paths)) if path != lock and os.path.lexists(path))


def workers(pid):
    """PIDs of the master's children (its workers); a HUP replaces every one of them."""
    children = "/proc/%s/task/%s/children" % (pid, pid)
    if pid == "0" or not os.path.exists(children):
        return []
    with open(children, encoding="ascii") as handle:
        return sorted(handle.read().split())


def service():
    unit = "gunicorn-%s.service" % args.app
    out = subprocess.run(["systemctl", "show", unit] + ["--property=%s" % name for name in SERVICE_PROPERTIES],
                         check=True, capture_output=True, text=True).stdout
    values = dict(line.partition("=")[::2] for line in out.splitlines() if "=" in line)
    values["workers"] = workers(values.get("MainPID", "0"))
    loaded = subprocess.run(["systemctl", "list-units", "--all", "--plain", "--no-legend", "gunicorn-*"],
                            check=True, capture_output=True, text=True).stdout
    values["units"] = sorted(line.split()[0] for line in loaded.splitlines() if line.strip())
    return values


def record():
    """Result, failed step and seconds of the newest release record (current.json), if any."""
    try:
        with open(os.path.join(args.state_dir, args.app, "current.json"), encoding="utf-8") as handle:
            current = json.load(handle)
    except FileNotFoundError:
        return {}
    return {"result": current.get("result"), "error": {"step": (current.get("error") or {}).get("step")},
            "seconds": current.get("seconds")}


def snapshot():
    return {"files": files(), "service": service()}


if args.action == "save":
    with open(args.file, "w", encoding="utf-8") as out_file:
        json.dump(snapshot(), out_file, indent=1, sort_keys=True)
else:
    with open(args.file, encoding="utf-8") as in_file:
        before = json.load(in_file)
    after = snapshot()
    changed = sorted(path for path in set(before["files"]) | set(after["files"])
                     if before["files"].get(path) != after["files"].get(path))
    print(json.dumps({"changed": changed, "service": {"before": before["service"], "after": after["service"]},
                      "record": record()}, sort_keys=True))
