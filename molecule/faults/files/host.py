"""Runs on the test host (podman exec -i <host> python3 - <command>), for molecule/faults.

state                     print the service, the live files, last-known-good, the release
                          records, pending.json and the lock as JSON
watch <point> <action>    wait (polling every 3 ms) until the release running on the host
                          reaches <point>, then do <action> at once; print what was seen as JSON

Points: staged (candidate/config written), canary (the canary listens), promoted (pending.json
written and the live config is the candidate's), reloaded (the live master has a new worker:
the HUP happened), kept (last-known-good replaced).
Hand-over points (socket activation): partner (the partner master runs: its pidfile names a live
process), partner-gated (the partner has all its workers and answers /items/ through its own
probe socket, the live files not promoted yet), live-restarted (the live unit's MainPID changed:
the restart on the promoted files happened), partner-stop (the partner is being retired after
the live restart: its master is gone or has fewer workers).
Actions: none; kill-module / stop-module (SIGKILL / SIGSTOP the process holding the release lock:
the module); kill-master (SIGKILL the live Gunicorn master); kill-partner (SIGKILL the partner's
master); stop-module+kill-partner (freeze the module, SIGKILL the partner's master, wait until
systemd saw it die, then print: the caller lets the module go on).
"""
import fcntl
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

APP = "mysite"
STATE = "/var/lib/gunicorn/%s" % APP
CONF_DIR = "/etc/gunicorn/%s" % APP
UNIT = "gunicorn-%s.service" % APP
CANARY_UNIT_FILE = "/run/systemd/system/gunicorn-%s-canary.service" % APP
CANARY_SOCKET = "/run/gunicorn-%s-canary/canary.sock" % APP
PARTNER_UNIT = "gunicorn-%s-handover.service" % APP
PARTNER_UNIT_FILE = "/run/systemd/system/" + PARTNER_UNIT
PARTNER_SOCKET_UNIT_FILE = "/run/systemd/system/gunicorn-%s-handover.socket" % APP
PARTNER_PIDFILE = "/run/gunicorn-%s-handover/gunicorn.pid" % APP
PARTNER_PROBE = "/run/gunicorn-%s-probe/handover.sock" % APP
SOCKET_UNIT_FILE = "/etc/systemd/system/gunicorn-%s.socket" % APP
WORKERS = 3
SOCKET_UNIT = "gunicorn-%s.socket" % APP
LIVE = {
    "config": CONF_DIR + "/gunicorn.conf.py",
    "app_env": CONF_DIR + "/app.env",
    "secret_env": CONF_DIR + "/secret.env",
    "unit": "/etc/systemd/system/%s" % UNIT,
}
PAGE = "http://127.0.0.1:8000/items/"
PAGE_TEXT = "Catalog: 50 items"


def sha(path):
    """The checksum the release records for a file: sha256, or for a secret file the keyed one
    (HMAC-SHA256 under the host's private/secret-key, prefixed hmac-sha256:)."""
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        return None
    if not data:
        return None
    if os.path.basename(path) in ("secret.env", "secret_env"):
        try:
            with open(STATE + "/private/secret-key", encoding="ascii") as handle:
                key = handle.read().strip().encode("ascii")
        except FileNotFoundError:
            key = None
        if key:
            return "hmac-sha256:" + hmac.new(key, data, hashlib.sha256).hexdigest()
    return hashlib.sha256(data).hexdigest()


def read_json(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        return None
    except ValueError:
        return "(invalid JSON)"


def show(unit, *props):
    out = subprocess.run(["systemctl", "show", unit] + ["--property=%s" % p for p in props],
                         capture_output=True, text=True, check=False).stdout
    return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)


def children(pid):
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry, encoding="utf-8") as handle:
                    stat = handle.read()
            except OSError:
                continue
            fields = stat[stat.rfind(")") + 2:].split()
            if int(fields[1]) == pid:
                found.append(int(entry))
    return sorted(found)


def own_children(pid):
    """Children of `pid` from /proc/<pid>/task/*/children (cheap enough to poll)."""
    found = set()
    try:
        for task in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/children" % (pid, task), encoding="utf-8") as handle:
                found.update(int(x) for x in handle.read().split())
    except OSError:
        pass
    return found


def started_at(pid):
    """Epoch at which a process started (10 ms resolution), None once it has exited."""
    try:
        with open("/proc/%d/stat" % pid, encoding="utf-8") as handle:
            stat = handle.read()
    except OSError:
        return None
    ticks = int(stat[stat.rfind(")") + 2:].split()[19])
    with open("/proc/uptime", encoding="utf-8") as handle:
        uptime = float(handle.read().split()[0])
    return time.time() - uptime + ticks / os.sysconf("SC_CLK_TCK")


# The release lock is root-only (release/store.py): private/ is 0700, the file 0600.
LOCK = STATE + "/private/lock"


def lock_state():
    path = LOCK
    if not os.path.exists(path):
        return {"free": True, "holder": None, "holder_alive": False}
    with open(path, "a+", encoding="utf-8") as handle:
        handle.seek(0)
        holder = handle.read().strip() or None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            fcntl.flock(handle, fcntl.LOCK_UN)
            free = True
        except OSError:
            free = False
    pid = holder_pid(holder)
    return {"free": free, "holder": holder, "holder_alive": bool(pid) and os.path.exists("/proc/%d" % pid)}


def holder_pid(holder):
    if holder and holder.startswith("pid "):
        return int(holder.split()[1])
    return None


def partner_pid():
    """The partner master's pid from its pidfile, when that process runs (else None)."""
    try:
        with open(PARTNER_PIDFILE, encoding="utf-8") as handle:
            pid = int(handle.read().strip() or 0)
    except (OSError, ValueError):
        return None
    return pid if pid and os.path.exists("/proc/%d" % pid) else None


def unix_get(path, url):
    """(status, body) of GET url through a unix socket, or (None, error)."""
    import socket
    try:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(2)
        sock.connect(path)
        sock.sendall(("GET %s HTTP/1.0\r\nHost: localhost\r\n\r\n" % url).encode())
        data = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        sock.close()
        head, _separator, body = data.partition(b"\r\n\r\n")
        return int(head.split()[1]), body.decode("utf-8", "replace")
    except (OSError, ValueError, IndexError) as exc:
        return None, str(exc)


def page():
    try:
        with urllib.request.urlopen(PAGE, timeout=5) as response:
            return {"status": response.status, "ok": PAGE_TEXT in response.read().decode("utf-8", "replace")}
    except urllib.error.HTTPError as exc:
        return {"status": exc.code, "ok": False}
    except OSError as exc:
        return {"status": None, "ok": False, "error": str(exc)}


RECORD_KEYS = ("release_id", "started", "seconds", "result", "action", "healthy", "rolled_back", "changed_files",
               "checksums", "lock_wait_seconds")


def summarise(record):
    summary = dict((key, record.get(key)) for key in RECORD_KEYS)
    summary["steps"] = [step["step"] + ":" + step["result"] for step in record.get("steps", [])]
    summary["error"] = (record.get("error") or {}).get("detail")
    return summary


def config_value(name):
    """A setting as the live gunicorn.conf.py writes it (the text after `name = `)."""
    try:
        with open(LIVE["config"], encoding="utf-8") as handle:
            for line in handle:
                if line.startswith(name + " = "):
                    return line.split("=", 1)[1].strip()
    except OSError:
        pass
    return None


def state():
    service = show(UNIT, "ActiveState", "SubState", "MainPID", "NRestarts")
    pid = int(service.get("MainPID") or 0)
    workers = children(pid) if pid else []
    live = dict((name, sha(path)) for name, path in LIVE.items())
    try:
        config_mtime = os.stat(LIVE["config"]).st_mtime
    except OSError:
        config_mtime = None
    # Workers forked before the live config was written run an older config (no HUP since).
    stale = [w for w in workers if config_mtime and (started_at(w) or config_mtime) < config_mtime - 0.02]
    lkg_dir = STATE + "/last-known-good"
    meta = read_json(lkg_dir + "/meta.json")
    lkg_files = dict((name, sha(os.path.join(lkg_dir, name))) for name in LIVE)
    lkg_intact = isinstance(meta, dict) and all(meta["checksums"].get(n) == lkg_files[n] for n in LIVE)
    records = read_json(STATE + "/releases.json") or []
    canary = show("gunicorn-%s-canary.service" % APP, "ActiveState").get("ActiveState")
    partner = show(PARTNER_UNIT, "ActiveState", "MainPID")
    keepalive = None
    try:
        with open(LIVE["config"], encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("keepalive = "):
                    keepalive = int(line.split("=")[1])
    except OSError:
        pass
    return {
        "active": service.get("ActiveState"), "sub": service.get("SubState"), "main_pid": pid,
        "n_restarts": int(service.get("NRestarts") or 0), "workers": len(workers), "stale_workers": len(stale),
        "page": page(), "live": live, "keepalive": keepalive,
        "lkg": {"exists": os.path.isdir(lkg_dir), "meta": meta if isinstance(meta, dict) else None,
                "files": lkg_files, "intact": lkg_intact,
                "is_live": lkg_intact and all(meta["checksums"].get(n) == live[n] for n in LIVE)},
        "history": sorted(os.listdir(STATE + "/history")) if os.path.isdir(STATE + "/history") else [],
        "pending": read_json(STATE + "/pending.json"),
        "candidate": os.path.isdir(STATE + "/candidate"),
        "records": [summarise(r) for r in records] if isinstance(records, list) else records,
        "current": (read_json(STATE + "/current.json") or {}).get("release_id")
        if isinstance(read_json(STATE + "/current.json"), dict) else None,
        "lock": lock_state(),
        "canary": canary, "canary_unit_file": os.path.exists(CANARY_UNIT_FILE),
        "partner": partner.get("ActiveState"), "partner_pid": int(partner.get("MainPID") or 0),
        "partner_unit_file": os.path.exists(PARTNER_UNIT_FILE) or os.path.exists(PARTNER_SOCKET_UNIT_FILE),
        "socket_activation": os.path.exists(SOCKET_UNIT_FILE),
        "socket": show(SOCKET_UNIT, "ActiveState").get("ActiveState"),
        "worker_class": config_value("worker_class"), "preload_app": config_value("preload_app"),
        "temp_files": sorted(f for f in os.listdir(CONF_DIR) if f.startswith(".gunicorn") or f.startswith(".app")
                             or f.startswith(".secret")) if os.path.isdir(CONF_DIR) else [],
    }


def watch(point, action, timeout=300.0):
    pid = int(show(UNIT, "MainPID").get("MainPID") or 0)
    workers = own_children(pid)
    meta = read_json(STATE + "/last-known-good/meta.json") or {}
    lkg_id = meta.get("release_id") if isinstance(meta, dict) else None
    lkg_mtime = os.stat(STATE + "/last-known-good/meta.json").st_mtime if lkg_id else None
    live_config = sha(LIVE["config"])
    seen_partner, live_gone = None, False
    # A partner that already runs (left by an earlier fault) is not the one this release boots.
    stale_partner = partner_pid()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        hit = False
        if point == "staged":
            hit = os.path.exists(STATE + "/candidate/config")
        elif point == "canary":
            hit = os.path.exists(CANARY_UNIT_FILE) and os.path.exists(CANARY_SOCKET)
        elif point == "promoted":
            if os.path.exists(STATE + "/pending.json"):
                pending = read_json(STATE + "/pending.json")
                hit = isinstance(pending, dict) and sha(LIVE["config"]) == pending["candidate"]["config"]
        elif point == "reloaded":
            hit = bool(own_children(pid) - workers)
        elif point == "kept":
            try:
                mtime = os.stat(STATE + "/last-known-good/meta.json").st_mtime
            except OSError:
                mtime = None
            if mtime != lkg_mtime:
                meta = read_json(STATE + "/last-known-good/meta.json")
                hit = isinstance(meta, dict) and meta.get("release_id") != lkg_id
        elif point == "partner":
            hit = partner_pid() not in (None, stale_partner)
        elif point == "partner-gated":
            ppid = partner_pid()
            if ppid and ppid != stale_partner and len(own_children(ppid)) >= WORKERS:
                if sha(LIVE["config"]) != live_config:
                    hit = True  # late: already promoted (seen["promoted"] says so)
                else:
                    status, body = unix_get(PARTNER_PROBE, "/items/")
                    hit = status == 200 and PAGE_TEXT in body
                    if not hit:
                        time.sleep(0.02)
        elif point == "live-restarted":
            if not os.path.exists("/proc/%d" % pid):
                now = int(show(UNIT, "MainPID").get("MainPID") or 0)
                hit = now not in (0, pid)
                if not hit:
                    time.sleep(0.01)
        elif point == "partner-stop":
            ppid = partner_pid() or seen_partner
            if ppid and ppid != stale_partner:
                seen_partner = ppid
                live_gone = live_gone or not os.path.exists("/proc/%d" % pid)
                hit = live_gone and (not os.path.exists("/proc/%d" % ppid) or len(own_children(ppid)) < WORKERS)
        if hit:
            break
        time.sleep(0.003)
    else:
        print(json.dumps({"point": point, "hit": False}))
        return 1
    seen = {"point": point, "hit": True, "at": time.time(), "action": action}
    if action in ("kill-module", "stop-module"):
        with open(LOCK, encoding="utf-8") as handle:
            target = holder_pid(handle.read().strip())
        os.kill(target, signal.SIGKILL if action == "kill-module" else signal.SIGSTOP)
        seen["pid"] = target
    elif action == "kill-master":
        os.kill(pid, signal.SIGKILL)
        seen["pid"] = pid
    elif action in ("kill-partner", "stop-module+kill-partner"):
        if action == "stop-module+kill-partner":
            with open(LOCK, encoding="utf-8") as handle:
                seen["pid"] = holder_pid(handle.read().strip())
            os.kill(seen["pid"], signal.SIGSTOP)
        target = partner_pid() or seen_partner
        seen["partner_pid"] = target
        if target:
            os.kill(target, signal.SIGKILL)
            # Until systemd has seen the partner's master die (the module's next look sees it).
            until = time.monotonic() + 30
            while time.monotonic() < until:
                if show(PARTNER_UNIT, "ActiveState").get("ActiveState") in ("failed", "inactive"):
                    break
                time.sleep(0.05)
            seen["partner_state"] = show(PARTNER_UNIT, "ActiveState").get("ActiveState")
    # Whether the live files had been promoted when the action was taken (hand-over points).
    seen["promoted"] = sha(LIVE["config"]) != live_config
    # Whether the HUP had happened when the action was taken.
    seen["new_workers"] = bool(own_children(pid) - workers) if pid else None
    print(json.dumps(seen))
    return 0


if __name__ == "__main__":
    if sys.argv[1] == "state":
        print(json.dumps(state()))
    elif sys.argv[1] == "watch":
        sys.exit(watch(sys.argv[2], sys.argv[3]))
    elif sys.argv[1] == "signal":
        os.kill(int(sys.argv[2]), getattr(signal, sys.argv[3]))
