"""Fault-injection cases of molecule/faults, run from the controller (docs/reliability.md, "Faults").

    faults.py <host> <case>      case: hup-kill, controller-kill, concurrent, lkg, disk-full, ssh-drop,
                                 handover-kill-partner, handover-kill-old-master, handover-controller,
                                 handover-kill-module, handover-bad-gate

The HUP cases run with socket activation off, the hand-over cases with it on (the role's
default): each case first moves the host to its mode if it is in the other (one resocket).

Every case injects a fault while (or before) the sample app is deployed with the role in a nested
ansible-playbook, then checks the host through `podman exec <host> python3 - state` (host.py).
Prints each check and a JSON summary of what was measured; exits 1 if a check failed.
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
SCENARIO = os.path.dirname(HERE)
PROJECT = os.environ.get("MOLECULE_PROJECT_DIRECTORY") or os.path.dirname(os.path.dirname(SCENARIO))
PLAYBOOK = os.path.join(PROJECT, "molecule", "shared", "deploy.yml")
with open(os.path.join(HERE, "host.py"), encoding="utf-8") as _handle:
    HOST_PY = _handle.read()
RELEASE_TASK = "Release gunicorn-mysite"
WORKERS = 3
# A good, config-only change (HUP): keepalive alternates between these values.
KEEPALIVES = (2, 3)
# A change that goes live and fails the health gate: the master dies after the HUP.
FAILING = {"gunicorn_django_worker_class": "nosuch", "gunicorn_django_canary": False}
# A change the canary must reject: /items/ answers 500 on an empty database.
CANARY_REJECTS = {"gunicorn_django_env": {"MYSITE_DB_PATH": "/tmp/empty.sqlite3",
                                          "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost"}}


SOCKET_ACTIVATION = "gunicorn_django_socket_activation"


class Suite:
    def __init__(self, host):
        self.host = host
        self.failed = []
        self.summary = {}
        # Extra vars every nested deploy gets first (the socket-activation mode of the case).
        self.base = {}

    # -- the host ---------------------------------------------------------------------------

    def on_host(self, *args, check=True, timeout=180):
        proc = subprocess.run(["podman", "exec", "-i", self.host, "python3", "-"] + list(args), input=HOST_PY,
                              capture_output=True, text=True, timeout=timeout, check=False)
        if check and proc.returncode != 0:
            raise RuntimeError("host.py %s: rc=%d %s %s" % (args, proc.returncode, proc.stdout, proc.stderr))
        return json.loads(proc.stdout) if proc.stdout.strip() else None

    def sh(self, command, check=True):
        proc = subprocess.run(["podman", "exec", self.host, "sh", "-c", command], capture_output=True, text=True,
                              check=False)
        if check and proc.returncode != 0:
            raise RuntimeError("%s: rc=%d %s" % (command, proc.returncode, proc.stderr))
        return proc

    def state(self):
        return self.on_host("state")

    def watcher(self, point, action):
        return subprocess.Popen(["podman", "exec", "-i", self.host, "python3", "-", "watch", point, action],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)

    def start_watcher(self, point, action):
        proc = self.watcher(point, action)
        proc.stdin.write(HOST_PY)
        proc.stdin.close()
        time.sleep(0.5)  # let it read the service's state before the deploy starts
        return proc

    @staticmethod
    def watcher_result(proc, timeout=330):
        out = proc.stdout.read()
        proc.wait(timeout)
        return json.loads(out) if out.strip() else {"hit": False}

    def wait_lock_free(self, timeout=120):
        deadline = time.monotonic() + timeout
        while True:
            lock = self.state()["lock"]
            if lock["free"] and not lock["holder_alive"]:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.5)

    def start_prober(self, seconds=120, concurrency=1, interval=0.05):
        self.sh("rm -f /run/djangoops-prober.json; systemd-run --unit=djangoops-prober --collect "
                "/usr/bin/python3 /usr/local/lib/djangoops-prober.py --out /run/djangoops-prober.json "
                "--seconds %d --concurrency %d --interval %s" % (seconds, concurrency, interval))

    def stop_prober(self):
        self.sh("systemctl stop djangoops-prober; cat /run/djangoops-prober.json > /dev/null")
        return json.loads(self.sh("cat /run/djangoops-prober.json").stdout)

    # -- deploys ------------------------------------------------------------------------------

    def deploy(self, extra=None, kill_at=None, sig="SIGKILL", task_log=None, background=False):
        """Deploy the sample app (plus `extra` vars) in its own ansible-playbook and process group."""
        env = dict(os.environ, ANSIBLE_STDOUT_CALLBACK="ansible.builtin.json",
                   ANSIBLE_CALLBACK_PLUGINS=os.path.join(SCENARIO, "callback_plugins"),
                   ANSIBLE_CALLBACKS_ENABLED="faults_kill", FAULTS_SIGNAL=sig)
        for name, value in (("FAULTS_KILL_AT", kill_at), ("FAULTS_TASK_LOG", task_log)):
            if value is not None:
                env[name] = str(value)
            else:
                env.pop(name, None)
        argv = ["ansible-playbook", "--inventory", os.environ["MOLECULE_INVENTORY_FILE"], "--limit", self.host,
                "--extra-vars", json.dumps(dict(self.base, **(extra or {}))), PLAYBOOK]
        proc = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                start_new_session=True)
        proc.started = time.monotonic()
        return proc if background else self.finish(proc)

    def finish(self, proc, timeout=300):
        out, err = proc.communicate(timeout=timeout)
        run = {"rc": proc.returncode, "seconds": round(time.monotonic() - proc.started, 1), "stdout": out,
               "stderr": err, "release": None, "failed": None}
        try:
            results = [task["hosts"][self.host] for play in json.loads(out)["plays"] for task in play["tasks"]
                       if self.host in task["hosts"]]
        except (ValueError, KeyError):
            results = []
        run["release"] = next((r for r in results if "changed_files" in r or r.get("error")), None)
        run["failed"] = next((r for r in results if r.get("failed")), None)
        return run

    @staticmethod
    def kill_group(proc, sig=signal.SIGKILL):
        os.killpg(proc.pid, sig)

    # -- checks -------------------------------------------------------------------------------

    def check(self, what, ok, detail=""):
        print("%s %s%s" % ("ok  " if ok else "FAIL", what, (" -- %s" % detail) if not ok and detail else ""),
              flush=True)
        if not ok:
            self.failed.append(what)
        return ok

    def check_healthy(self, label, st, keepalive=None):
        """The service runs, on the live files, which are last-known-good and intact; nothing half-done."""
        self.check("%s: service active with %d workers" % (label, WORKERS),
                   st["active"] == "active" and st["workers"] == WORKERS, "%s %s workers" % (st["active"], st["workers"]))
        self.check("%s: /items/ answers 200 with its content" % label, st["page"]["status"] == 200 and st["page"]["ok"],
                   json.dumps(st["page"]))
        self.check("%s: last-known-good intact (files match meta.json) and equal to the live files" % label,
                   st["lkg"]["intact"] and st["lkg"]["is_live"], json.dumps(st["lkg"]["files"]))
        self.check("%s: the workers run the live config (forked after it was written)" % label,
                   st["stale_workers"] == 0, "%d stale workers" % st["stale_workers"])
        self.check("%s: no pending release, lock free, no module left running" % label,
                   st["pending"] is None and st["lock"]["free"] and not st["lock"]["holder_alive"],
                   json.dumps({"pending": st["pending"], "lock": st["lock"]}))
        self.check("%s: no canary left, no temporary file in the config directory" % label,
                   st["canary"] in ("inactive", "failed") and not st["canary_unit_file"] and not st["temp_files"],
                   json.dumps({"canary": st["canary"], "unit_file": st["canary_unit_file"], "tmp": st["temp_files"]}))
        if keepalive is not None:
            self.check("%s: live config is the expected one (keepalive %d)" % (label, keepalive),
                       st["keepalive"] == keepalive, "keepalive %s" % st["keepalive"])
        ids = [r["release_id"] for r in st["records"]]
        self.check("%s: release ids are unique" % label, len(ids) == len(set(ids)), json.dumps(ids))
        if st["records"]:
            last = st["records"][-1]
            self.check("%s: current.json is the last record" % label, st["current"] == last["release_id"],
                       "%s != %s" % (st["current"], last["release_id"]))

    def other(self, st):
        return KEEPALIVES[1] if st["keepalive"] == KEEPALIVES[0] else KEEPALIVES[0]

    @staticmethod
    def ka(value):
        return {"gunicorn_django_keepalive": value}

    # == case 1 ================================================================================

    def case_hup_kill(self):
        """SIGKILL the live master as soon as the HUP of a good config change has forked a new worker."""
        before = self.state()
        new = self.other(before)
        self.start_prober()
        watch = self.start_watcher("reloaded", "kill-master")
        run = self.deploy(self.ka(new))
        seen = self.watcher_result(watch)
        probe = self.stop_prober()
        after = self.state()
        rel = run["release"] or {}
        self.check("hup-kill: the master was killed right after the HUP", seen.get("hit") is True,
                   json.dumps(seen))
        # The master dies milliseconds after the HUP, before its new workers can all be up: the gate
        # cannot pass, so only a rollback is right (a "reloaded" here would be a gate that missed it).
        rolled = run["rc"] != 0 and rel.get("result") == "rolled_back"
        self.check("hup-kill: the deploy rolled back and said so", rolled,
                   json.dumps({k: rel.get(k) for k in ("result", "msg", "healthy")}))
        self.check("hup-kill: the failure names the dead master", "did not survive the HUP" in rel.get("msg", ""),
                   rel.get("msg"))
        self.check("hup-kill: the play reports healthy on last-known-good", rel.get("healthy") is True)
        self.check_healthy("hup-kill", after, keepalive=before["keepalive"])
        last = after["records"][-1]
        self.check("hup-kill: the record is the play's result", last["result"] == rel.get("result")
                   and last["rolled_back"] == rolled and last["checksums"]["config"] == after["live"]["config"],
                   json.dumps(last))
        self.summary["hup_kill"] = {"outcome": rel.get("result"), "deploy_seconds": run["seconds"],
                                    "probe": {k: probe[k] for k in ("sent", "ok", "failed")},
                                    "outage_seconds": _outage(probe), "steps": last["steps"]}

    # == case 2 ================================================================================

    def case_controller_kill(self):
        """Kill ansible-playbook at every task boundary and at points inside the release module."""
        handle, log = tempfile.mkstemp(prefix="faults-tasks-")
        os.close(handle)
        st = self.state()
        run = self.deploy(self.ka(self.other(st)), task_log=log)
        with open(log, encoding="utf-8") as handle:
            points = [line.rstrip("\n").split("\t", 1) for line in handle]
        os.unlink(log)
        self.check("enumerate: a normal deploy ran every task", run["rc"] == 0 and points[-1][0] == "end",
                   run["stderr"][-500:])
        release_at = next(i for i, point in enumerate(points, 1) if point[1].endswith(RELEASE_TASK))
        self.summary["tasks"] = len(points) - 1
        measured = []
        # Before the release task nothing on the host may change: the host must be exactly as it was.
        for number, name in points[:release_at]:
            before = self.state()
            run = self.deploy(self.ka(self.other(before)), kill_at=number)
            after = self.state()
            keys = ("main_pid", "n_restarts", "live", "lkg", "pending", "candidate", "records", "history")
            same = dict((k, (before[k], after[k])) for k in keys if before[k] != after[k])
            self.check("kill -9 when task %s starts (%s): killed, the host unchanged" % (number, name),
                       run["rc"] == -signal.SIGKILL and not same and after["lock"]["free"],
                       "rc %s, changed %s" % (run["rc"], json.dumps(same)[:600]))
            measured.append({"point": number, "seconds": run["seconds"]})
        run = self.deploy(self.ka(self.other(after)))
        st = self.state()
        self.check("re-run after the kills before the release task: reloaded",
                   run["rc"] == 0 and (run["release"] or {}).get("result") == "reloaded", run["stderr"][-300:])
        self.check_healthy("re-run after the early kills", st, keepalive=self.other(after))
        # From the release task's end on, the release is done: a re-run finds nothing to do.
        for number, name in points[release_at:]:
            before = self.state()
            new = self.other(before)
            run = self.deploy(self.ka(new), kill_at=number)
            mid = self.state()
            last = mid["records"][-1]
            self.check("kill -9 when %s starts (%s): killed, the release had finished (recorded, live)" % (number, name),
                       run["rc"] == -signal.SIGKILL and len(mid["records"]) == len(before["records"]) + 1
                       and last["result"] == "reloaded" and last["checksums"]["config"] == mid["live"]["config"]
                       and mid["keepalive"] == new, "rc %s, last record %s" % (run["rc"], json.dumps(last)[:400]))
            self.rerun_and_check("kill -9 at %s" % number, new, expect="unchanged")
        # SIGINT (Ctrl-C) when the release task starts: the module never starts.
        before = self.state()
        run = self.deploy(self.ka(self.other(before)), kill_at=release_at, sig="SIGINT")
        after = self.state()
        self.check("SIGINT when the release task starts: interrupted, nothing changed on the host",
                   run["rc"] != 0 and after["live"] == before["live"] and after["main_pid"] == before["main_pid"]
                   and after["records"] == before["records"], "rc %s" % run["rc"])
        self.rerun_and_check("SIGINT at the release task", self.other(before), expect="reloaded")
        self.summary["kill_points"] = measured
        self.case_inside_module()

    def case_inside_module(self):
        """Points inside the release module: the controller's process group dies there, the module too or not.

        FAULTS_INSIDE=<regex> runs the matching points only ("<point> <action> <signal>").
        """
        only = re.compile(os.environ.get("FAULTS_INSIDE") or ".")
        # ("reloaded", "controller", SIGKILL) and ("staged", "controller", SIGINT) behave as the first
        # point (the module finishes by itself); run them with FAULTS_INSIDE_ALL=1. So does
        # ("staged", "kill-module"), covered by "canary" (nothing went live at either).
        extra = ((("reloaded", "controller", signal.SIGKILL), ("staged", "controller", signal.SIGINT),
                  ("staged", "kill-module", signal.SIGKILL)) if os.environ.get("FAULTS_INSIDE_ALL") else ())
        for point, action, sig in extra + (("staged", "controller", signal.SIGKILL),
                                           ("canary", "kill-module", signal.SIGKILL),
                                           ("promoted", "kill-module", signal.SIGKILL),
                                           ("reloaded", "kill-module", signal.SIGKILL),
                                           ("kept", "kill-module", signal.SIGKILL)):
            if only.search("%s %s %s" % (point, action, signal.Signals(sig).name)):
                self.kill_inside(point, action, sig)

    def kill_inside(self, point, action, sig):
        before = self.state()
        new = self.other(before)
        label = "%s the controller%s at '%s'" % (
            signal.Signals(sig).name, " and SIGKILL the module" if action == "kill-module" else "", point)
        # "controller": freeze the module at the point, kill the controller, then let the module go on:
        # what happens to a module whose controller died exactly there.
        watch = self.start_watcher(point, "stop-module" if action == "controller" else action)
        run = self.deploy(self.ka(new), background=True)
        seen = self.watcher_result(watch)
        self.kill_group(run, sig)
        result = self.finish(run)
        if action == "controller":
            self.on_host("signal", str(seen["pid"]), "SIGCONT")
        self.check("%s: reached and interrupted" % label, seen.get("hit") is True and result["rc"] != 0,
                   json.dumps(seen))
        finished = self.wait_lock_free()
        mid = self.state()
        self.check("%s: the lock is released (no module left running)" % label, finished, json.dumps(mid["lock"]))
        outcome = {"point": point, "action": action, "signal": signal.Signals(sig).name,
                   "hup_done_at_kill": seen.get("new_workers"), "pending_left": mid["pending"] is not None,
                   "records_added": len(mid["records"]) - len(before["records"]),
                   "last_result_before_rerun": mid["records"][-1]["result"]}
        if action == "controller":
            # The module is not killed with its controller: it finishes the release on its own.
            self.check("%s: the module finished the release by itself (recorded reloaded, nothing pending)" % label,
                       outcome["records_added"] == 1 and mid["records"][-1]["result"] == "reloaded"
                       and mid["pending"] is None, json.dumps(outcome))
        if point == "canary" and action == "kill-module":
            # The killed module's canary may still run: the next release must boot its own.
            outcome["canary_left_running"] = mid["canary"] == "active"
            bad = self.deploy(CANARY_REJECTS)
            rel = bad["release"] or {}
            after = self.state()
            self.check("%s: the next release's canary rejects a bad candidate (not a leftover canary)" % label,
                       bad["rc"] != 0 and rel.get("result") == "rejected"
                       and (rel.get("error") or {}).get("step") == "canary" and after["main_pid"] == mid["main_pid"],
                       json.dumps({k: rel.get(k) for k in ("result", "msg")}))
        rerun = self.rerun_and_check(label, new, expect=None)
        outcome["rerun"] = {"result": rerun["result"], "recovered": rerun.get("recovered"), "steps": rerun["steps"]}
        self.summary.setdefault("inside_module", []).append(outcome)

    def rerun_and_check(self, label, keepalive, expect):
        run = self.deploy(self.ka(keepalive))
        st = self.state()
        rel = run["release"] or {}
        self.check("%s: the re-run succeeded%s" % (label, " (%s)" % expect if expect else ""),
                   run["rc"] == 0 and (expect is None or rel.get("result") == expect),
                   "rc %s %s" % (run["rc"], json.dumps({k: rel.get(k) for k in ("result", "msg", "recovered")})))
        self.check_healthy("%s, re-run" % label, st, keepalive=keepalive)
        return {"result": rel.get("result"), "recovered": rel.get("recovered"),
                "steps": [s["step"] + ":" + s["result"] for s in rel.get("steps", [])]}

    # == SSH connection dropped (molecule/ssh) ===================================================

    def case_ssh_drop(self):
        """Drop the controller's SSH connection while the release module runs on the host.

        The module is frozen at each point, every ssh client process of the host's connection is
        SIGKILLed on the controller (the ControlPersist master too: the connection is gone), then the
        module is let go on. Without pipelining, become runs under a tty, so the drop sends SIGHUP
        to the module: it must finish the release by itself, and the next run must find it done.
        """
        port = os.environ.get("FAULTS_SSH_PORT", "22201")
        # With socket activation (the ssh scenario's default) a config change goes live by a
        # hand-over: the points are the hand-over's; without it, by HUP.
        handover = self.state()["socket_activation"]
        points = ("canary", "partner", "promoted", "live-restarted") if handover else ("canary", "promoted", "reloaded")
        expected = "handed_over" if handover else "reloaded"
        for point in points:
            label = "ssh-drop at '%s'" % point
            before = self.state()
            new = self.other(before)
            watch = self.start_watcher(point, "stop-module")
            run = self.deploy(self.ka(new), background=True)
            seen = self.watcher_result(watch)
            dropped = ssh_clients(port)
            for pid in dropped:
                os.kill(pid, signal.SIGKILL)
            # Let sshd notice the dead connection and hang up the session before the module goes on.
            time.sleep(2)
            # The hang-up may already have woken the module (the kernel sends SIGCONT with SIGHUP to a
            # stopped, orphaned process group) and it may be done by now, or it killed the module:
            # kill -CONT fails only when the module is gone, and the record below tells which.
            alive = bool(seen.get("pid")) and self.sh("kill -CONT %d" % seen["pid"], check=False).returncode == 0
            result = self.finish(run)
            self.check("%s: reached, and the connection dropped" % label,
                       seen.get("hit") is True and bool(dropped) and result["rc"] != 0,
                       json.dumps({"seen": seen, "ssh_pids": dropped, "rc": result["rc"]}))
            finished = self.wait_lock_free()
            mid = self.state()
            self.check("%s: the lock is released (no module left running)" % label, finished, json.dumps(mid["lock"]))
            last = mid["records"][-1] if mid["records"] else {}
            self.check("%s: the module finished the release by itself (recorded %s, nothing pending)" % (label, expected),
                       len(mid["records"]) == len(before["records"]) + 1 and last.get("result") == expected
                       and mid["pending"] is None,
                       json.dumps({"records_added": len(mid["records"]) - len(before["records"]),
                                   "last": last.get("result"), "pending": mid["pending"]}))
            self.check_healthy(label, mid, keepalive=new)
            self.check_clean(label, mid)
            rerun = self.rerun_and_check(label, new, expect="unchanged")
            self.summary.setdefault("ssh_drop", []).append(
                {"point": point, "ssh_pids": len(dropped), "running_after_drop": alive, "rerun": rerun["result"]})

    # == case 3 ================================================================================

    def case_concurrent(self):
        before = self.state()
        first, second = self.other(before), before["keepalive"]
        # Start both at once; each deploys another keepalive (a change against the other's result).
        a = self.deploy(dict(self.ka(first), gunicorn_django_max_requests_jitter=101), background=True)
        b = self.deploy(dict(self.ka(second), gunicorn_django_max_requests_jitter=102), background=True)
        ra, rb = self.finish(a), self.finish(b)
        st = self.state()
        new = st["records"][len(before["records"]):]
        self.check("concurrent: both deploys succeeded", ra["rc"] == 0 and rb["rc"] == 0,
                   "%s / %s" % (ra["stderr"][-300:], rb["stderr"][-300:]))
        self.check("concurrent: two records, both reloaded and healthy",
                   len(new) == 2 and all(r["result"] == "reloaded" and r["healthy"] for r in new), json.dumps(new))
        if len(new) == 2:
            t0 = [_epoch(r["started"]) for r in new]
            self.check("concurrent: the second release started after the first had finished (it waited for the lock)",
                       t0[1] >= t0[0] + new[0]["seconds"] - 1.0, json.dumps([(r["started"], r["seconds"]) for r in new]))
            self.check("concurrent: the second release says it waited for the lock",
                       (new[1]["lock_wait_seconds"] or 0) >= 1.0
                       and (new[1]["lock_wait_seconds"] or 0) > (new[0]["lock_wait_seconds"] or 0),
                       json.dumps([r["lock_wait_seconds"] for r in new]))
            winner = rb if new[1]["checksums"]["config"] == st["live"]["config"] else ra
            self.check("concurrent: the live config is the last record's",
                       new[1]["checksums"]["config"] == st["live"]["config"])
            self.check("concurrent: the first release went to history",
                       new[0]["release_id"] in st["history"] and st["lkg"]["meta"]["release_id"] == new[1]["release_id"],
                       json.dumps({"history": st["history"], "lkg": st["lkg"]["meta"]["release_id"]}))
            self.summary["concurrent"] = {"seconds": [ra["seconds"], rb["seconds"]], "records": new,
                                          "last": "second" if winner is rb else "first"}
        self.check_healthy("concurrent", st)

    # == case 4 ================================================================================

    def case_lkg(self):
        lkg = "/var/lib/gunicorn/mysite/last-known-good"
        results = {}
        self.sh("rm -rf /run/faults-lkg && cp -a %s /run/faults-lkg" % lkg)
        damages = (("truncated config", "truncate -s 20 %s/config" % lkg, "config differ from meta.json"),
                   ("meta.json deleted", "rm %s/meta.json" % lkg, "has files but no meta.json"),
                   ("meta.json truncated", "truncate -s 30 %s/meta.json" % lkg, "meta.json is not valid JSON"))
        for index, (name, damage, says) in enumerate(damages):
            before = self.state()
            self.sh(damage)
            damaged = _lkg_content(self.state())
            run = self.deploy(FAILING)
            after = self.state()
            msg = (run["failed"] or {}).get("msg", "")
            self.check("lkg %s: the failing deploy is refused with a clear error" % name,
                       run["rc"] != 0 and says in msg and "last-known-good" in msg, msg)
            self.check("lkg %s: nothing restored, the service untouched and healthy" % name,
                       after["live"] == before["live"] and after["main_pid"] == before["main_pid"]
                       and after["n_restarts"] == before["n_restarts"] and after["active"] == "active"
                       and after["page"]["ok"] and after["records"] == before["records"],
                       json.dumps({"main_pid": [before["main_pid"], after["main_pid"]]}))
            self.check("lkg %s: the damaged last-known-good is left as it was (evidence)" % name,
                       _lkg_content(after) == damaged and damaged != _lkg_content(before)
                       and not after["lkg"]["intact"])
            results[name] = msg
            if index == 0:
                good = self.deploy(self.ka(self.other(after)))
                gmsg = (good["failed"] or {}).get("msg", "")
                self.check("lkg %s: a good deploy is refused too, with the same error" % name,
                           good["rc"] != 0 and says in gmsg and self.state()["live"] == before["live"], gmsg)
            if index < len(damages) - 1:
                self.sh("rm -r %s && cp -a /run/faults-lkg %s" % (lkg, lkg))
        # As the error says: inspect, then remove it; the next healthy release becomes last-known-good.
        self.sh("rm -r %s /run/faults-lkg" % lkg)
        good = self.deploy(self.ka(self.other(after)))
        st = self.state()
        self.check("lkg removed as told: a good deploy re-establishes last-known-good",
                   good["rc"] == 0 and (good["release"] or {}).get("result") == "reloaded"
                   and st["lkg"]["meta"]["release_id"] == st["records"][-1]["release_id"],
                   (good["failed"] or {}).get("msg", ""))
        self.check_healthy("lkg removed as told", st, keepalive=self.other(after))
        # Deleted by hand entirely: the running (healthy) config is adopted before the change and is
        # what a failing deploy rolls back to.
        before = self.state()
        self.sh("rm -r %s" % lkg)
        run = self.deploy(FAILING)
        st = self.state()
        rel = run["release"] or {}
        self.check("lkg deleted: the failing deploy adopted the running config, went live, rolled back",
                   run["rc"] != 0 and rel.get("result") == "rolled_back" and rel.get("healthy") is True
                   and any(s["step"] == "last-known-good" and "adopted" in s["detail"] for s in rel.get("steps", [])),
                   json.dumps({k: rel.get(k) for k in ("result", "msg")}))
        self.check("lkg deleted: the live files are back to the running ones", st["live"] == before["live"])
        self.check_healthy("lkg deleted", st, keepalive=before["keepalive"])
        good = self.deploy(self.ka(self.other(st)))
        st2 = self.state()
        self.check("lkg deleted: a good deploy afterwards is kept as last-known-good",
                   good["rc"] == 0 and st2["lkg"]["meta"]["release_id"] == st2["records"][-1]["release_id"])
        self.check_healthy("lkg deleted, good deploy", st2, keepalive=self.other(st))
        results["deleted"] = rel.get("msg")
        self.summary["lkg"] = results

    # == case 5 ================================================================================

    def case_disk_full(self):
        conf = "/etc/gunicorn/mysite"
        before = self.state()
        # A 256 KiB tmpfs over the config directory, with the live files copied in, then filled.
        self.sh("set -e; rm -rf /run/faults-conf; cp -a %(c)s /run/faults-conf; "
                "mount -t tmpfs -o size=256k,mode=0750 faults-full %(c)s; cp -a /run/faults-conf/. %(c)s/; "
                "chown root:mysite %(c)s; dd if=/dev/zero of=%(c)s/.fill bs=4k 2>/dev/null || true" % {"c": conf})
        self.check("disk-full: the config directory is full",
                   self.sh("echo x > %s/.probe" % conf, check=False).returncode != 0)
        self.start_prober()
        new = self.other(before)
        run = self.deploy(self.ka(new))
        probe = self.stop_prober()
        mid = self.state()
        msg = (run["failed"] or {}).get("msg", "")
        self.check("disk-full: the deploy failed naming ENOSPC and the file",
                   run["rc"] != 0 and "No space left on device" in msg and "gunicorn.conf.py" in msg, msg)
        self.check("disk-full: the service kept running the old config, untouched",
                   mid["live"] == before["live"] and mid["main_pid"] == before["main_pid"]
                   and mid["n_restarts"] == before["n_restarts"] and probe["failed"] == 0,
                   json.dumps({"probe": probe, "pid": [before["main_pid"], mid["main_pid"]]}))
        self.check("disk-full: no half-written live file", not mid["temp_files"], json.dumps(mid["temp_files"]))
        self.check("disk-full: the failure is recorded, nothing left pending",
                   mid["pending"] is None and len(mid["records"]) == len(before["records"]) + 1
                   and mid["records"][-1]["result"] == "rejected" and not mid["records"][-1]["rolled_back"],
                   json.dumps({"pending": mid["pending"], "last": mid["records"][-1]}))
        self.check_healthy("disk-full, failed deploy", mid, keepalive=before["keepalive"])
        self.sh("rm -f %(c)s/.fill %(c)s/.probe" % {"c": conf})
        failed_seconds = run["seconds"]
        run = self.deploy(self.ka(new))
        st = self.state()
        rel = run["release"] or {}
        self.check("disk-full: after freeing space the deploy succeeds (reloaded, no recovery needed)",
                   run["rc"] == 0 and rel.get("result") == "reloaded" and not rel.get("recovered")
                   and st["main_pid"] == before["main_pid"], json.dumps({k: rel.get(k) for k in ("result", "recovered")}))
        self.check_healthy("disk-full, space freed", st, keepalive=new)
        # Put the files back on the real directory and drop the tmpfs.
        self.sh("set -e; rm -rf /run/faults-conf; cp -a %(c)s /run/faults-conf; umount %(c)s; "
                "cp -a /run/faults-conf/. %(c)s/; rm -rf /run/faults-conf" % {"c": conf})
        self.summary["disk_full"] = {"message": msg, "failed_deploy_seconds": failed_seconds,
                                     "good_deploy_seconds": run["seconds"],
                                     "probe": {k: probe[k] for k in ("sent", "ok", "failed")}}

    # == hand-over (socket activation) ===========================================================

    def check_clean(self, label, st):
        """No partner master left behind: its unit not running and no unit file under /run."""
        self.check("%s: no partner left (unit inactive, no unit file under /run/systemd/system)" % label,
                   st["partner"] in ("inactive", "failed", None, "") and not st["partner_unit_file"],
                   json.dumps({"partner": st["partner"], "unit_file": st["partner_unit_file"]}))

    def check_probe(self, label, probe):
        """The prober saw no refused connection (the listening socket never closed)."""
        self.check("%s: no connection refused (%d sent, %d failed: %d refused, %d HTTP errors, %d other)" % (
            label, probe["sent"], probe["failed"], probe["refused"], probe["http_error"], probe["other"]),
            probe["sent"] > 0 and probe["refused"] == 0, json.dumps(probe)[:800])

    def prepare_mode(self, socket_activation):
        """Make the live release use (or not use) socket activation, as the case needs: the first
        deploy of the other mode re-creates the listening socket (a resocket), once."""
        self.base = {SOCKET_ACTIVATION: socket_activation}
        st = self.state()
        if st["socket_activation"] == socket_activation:
            return
        run = self.deploy(self.ka(st["keepalive"] or KEEPALIVES[0]))
        after = self.state()
        self.check("mode: socket activation %s (moved over by one deploy: %s)" % (
            "on" if socket_activation else "off", (run["release"] or {}).get("service_action")),
            run["rc"] == 0 and after["socket_activation"] == socket_activation,
            (run["failed"] or {}).get("msg", run["stderr"][-300:]))
        self.summary["mode_switch"] = {"socket_activation": socket_activation, "seconds": run["seconds"],
                                       "action": (run["release"] or {}).get("service_action")}

    def start_load(self):
        self.start_prober(seconds=300, concurrency=4, interval=0.02)

    def handover_run(self, point, action, sig=None):
        """A good config change (keepalive) by hand-over under the 4-client prober, with `action`
        done on the host at `point`; sig: also send it to the controller's process group there."""
        before = self.state()
        new = self.other(before)
        self.start_load()
        watch = self.start_watcher(point, action)
        run = self.deploy(self.ka(new), background=True)
        seen = self.watcher_result(watch)
        if sig is not None:
            self.kill_group(run, sig)
        if action in ("stop-module", "stop-module+kill-partner") and seen.get("pid"):
            self.on_host("signal", str(seen["pid"]), "SIGCONT")
        result = self.finish(run)
        self.wait_lock_free()
        return before, new, seen, result

    def case_handover_kill_partner(self):
        """(a) The partner's master SIGKILLed during the overlap."""
        # Once as soon as the partner master runs (its workers booting), once when it serves (every
        # worker answers through its probe socket) with the module frozen until systemd saw it die.
        for point, action in (("partner", "kill-partner"), ("partner-gated", "stop-module+kill-partner")):
            label = "kill the partner at '%s'" % point
            before, new, seen, run = self.handover_run(point, action)
            probe = self.stop_prober()
            st = self.state()
            rel = run["release"] or {}
            self.check("%s: reached, the partner killed" % label, seen.get("hit") is True and seen.get("partner_pid"),
                       json.dumps(seen))
            rejected = (run["rc"] != 0 and rel.get("result") == "rejected"
                        and (rel.get("error") or {}).get("step") == "partner" and st["main_pid"] == before["main_pid"])
            # A partner killed after its gate passed (or booted again by its probe socket while the
            # gate asked it) is past its verdict: the release goes on without it.
            went_on = run["rc"] == 0 and rel.get("result") == "handed_over"
            self.check("%s: rejected at step partner with the live master untouched, or (killed after its "
                       "gate) handed over" % label, rejected or went_on,
                       json.dumps({k: rel.get(k) for k in ("result", "msg")}))
            if point == "partner":
                self.check("%s: rejected at step partner, the live master never stopped" % label, rejected,
                           json.dumps({"result": rel.get("result"), "pid": [before["main_pid"], st["main_pid"]]}))
            self.check_probe(label, probe)
            self.check_healthy(label, st, keepalive=new if went_on else before["keepalive"])
            self.check_clean(label, st)
            rerun = self.rerun_and_check(label, new, expect="unchanged" if went_on else "handed_over")
            self.check_clean("%s, re-run" % label, self.state())
            self.summary.setdefault("handover_kill_partner", []).append(
                {"point": point, "result": rel.get("result"), "step": (rel.get("error") or {}).get("step"),
                 "deploy_seconds": run["seconds"], "probe": _counts(probe), "rerun": rerun["result"]})

    def case_handover_kill_old_master(self):
        """(b) The live (old) master SIGKILLed while the partner serves: before and after the promotion."""
        for point in ("partner-gated", "promoted"):
            label = "kill the old master at '%s'" % point
            before, new, seen, run = self.handover_run(point, "kill-master")
            probe = self.stop_prober()
            st = self.state()
            rel = run["release"] or {}
            self.check("%s: reached, the old master killed" % label, seen.get("hit") is True, json.dumps(seen))
            self.check("%s: handed over to the new release" % label,
                       run["rc"] == 0 and rel.get("result") == "handed_over" and st["main_pid"] != before["main_pid"],
                       json.dumps({k: rel.get(k) for k in ("result", "msg")}))
            self.check_probe(label, probe)
            self.check_healthy(label, st, keepalive=new)
            self.check_clean(label, st)
            rerun = self.rerun_and_check(label, new, expect="unchanged")
            self.summary.setdefault("handover_kill_old_master", []).append(
                {"point": point, "result": rel.get("result"), "promoted_at_kill": seen.get("promoted"),
                 "deploy_seconds": run["seconds"], "n_restarts": st["n_restarts"] - before["n_restarts"],
                 "probe": _counts(probe), "rerun": rerun["result"]})

    def case_handover_controller(self):
        """(c) ansible-playbook SIGKILLed during the hand-over; the module, frozen there, goes on."""
        for point in ("partner", "live-restarted"):
            label = "kill the controller at '%s'" % point
            before, new, seen, run = self.handover_run(point, "stop-module", sig=signal.SIGKILL)
            probe = self.stop_prober()
            st = self.state()
            last = st["records"][-1] if st["records"] else {}
            self.check("%s: reached, the controller killed" % label,
                       seen.get("hit") is True and run["rc"] == -signal.SIGKILL, json.dumps(seen))
            self.check("%s: the module finished the hand-over by itself (one record, handed_over, nothing pending)"
                       % label, len(st["records"]) == len(before["records"]) + 1
                       and last.get("result") == "handed_over" and st["pending"] is None,
                       json.dumps({"last": last.get("result"), "pending": st["pending"]}))
            self.check_probe(label, probe)
            self.check_healthy(label, st, keepalive=new)
            self.check_clean(label, st)
            rerun = self.rerun_and_check(label, new, expect="unchanged")
            self.summary.setdefault("handover_controller", []).append(
                {"point": point, "probe": _counts(probe), "rerun": rerun["result"]})

    def case_handover_kill_module(self):
        """(d) The release module SIGKILLed on the host at each hand-over point, then a normal re-run."""
        only = re.compile(os.environ.get("FAULTS_INSIDE") or ".")
        for point in ("partner", "partner-gated", "promoted", "live-restarted", "partner-stop"):
            if not only.search(point):
                continue
            label = "kill the module at '%s'" % point
            before, new, seen, run = self.handover_run(point, "kill-module")
            mid = self.state()
            self.check("%s: reached, the module killed" % label, seen.get("hit") is True and run["rc"] != 0,
                       json.dumps(seen))
            rerun = self.deploy(self.ka(new))
            probe = self.stop_prober()
            st = self.state()
            rel = rerun["release"] or {}
            self.check("%s: the re-run succeeded (%s)" % (label, rel.get("result")),
                       rerun["rc"] == 0 and rel.get("result") in ("handed_over", "unchanged"),
                       "rc %s %s" % (rerun["rc"], json.dumps({k: rel.get(k) for k in ("result", "msg", "recovered")})))
            self.check("%s: the re-run recovered the interrupted release" % label,
                       mid["pending"] is None or (rel.get("recovered") or {}).get("release_id") == mid["pending"].get(
                           "release_id"), json.dumps({"pending": bool(mid["pending"]), "recovered": rel.get("recovered")}))
            self.check_probe("%s (kill and re-run)" % label, probe)
            self.check_healthy("%s, re-run" % label, st, keepalive=new)
            self.check_clean("%s, re-run" % label, st)
            self.summary.setdefault("handover_kill_module", []).append(
                {"point": point, "promoted_at_kill": seen.get("promoted"), "pending_left": mid["pending"] is not None,
                 "partner_left_running": mid["partner"] == "active", "rerun": rel.get("result"),
                 "recovered": (rel.get("recovered") or {}).get("outcome"), "probe": _counts(probe)})

    def case_handover_bad_gate(self):
        """(e) A new master that boots but fails its gate (/items/ 500 on an empty database, canary off)."""
        label = "bad partner"
        before = self.state()
        self.start_load()
        run = self.deploy(dict(CANARY_REJECTS, gunicorn_django_canary=False))
        probe = self.stop_prober()
        st = self.state()
        rel = run["release"] or {}
        self.check("%s: rejected at step partner" % label,
                   run["rc"] != 0 and rel.get("result") == "rejected" and (rel.get("error") or {}).get("step") == "partner",
                   json.dumps({k: rel.get(k) for k in ("result", "msg")}))
        self.check("%s: the live master never stopped (same MainPID, no restart)" % label,
                   st["main_pid"] == before["main_pid"] and st["n_restarts"] == before["n_restarts"]
                   and st["live"] == before["live"], "%s -> %s" % (before["main_pid"], st["main_pid"]))
        self.check_probe(label, probe)
        self.check("%s: only the bad master's own answers failed (500s, no timeout or reset)" % label,
                   probe["other"] == 0 and set(probe["statuses"]) <= {"500"}, json.dumps(probe)[:800])
        self.check_healthy(label, st, keepalive=before["keepalive"])
        self.check_clean(label, st)
        self.summary["handover_bad_gate"] = {"deploy_seconds": run["seconds"], "probe": _counts(probe)}


def ssh_clients(port):
    """PIDs of this controller's ssh processes to the test host's published port (clients and mux master)."""
    import psutil

    found = []
    for proc in psutil.process_iter(["pid", "name", "cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if proc.info["name"] == "ssh" and any(arg in ("Port=%s" % port, port) for arg in cmdline):
            found.append(proc.info["pid"])
    return found


def _counts(probe):
    counts = dict((k, probe.get(k)) for k in ("sent", "ok", "failed", "refused", "http_error", "other"))
    counts["errors"] = probe.get("errors", [])[:4]
    return counts


def _lkg_content(st):
    return st["lkg"]["files"], st["lkg"]["meta"]


def _outage(probe):
    stamps = [float(e.split()[0]) for e in probe.get("errors", [])]
    return round(max(stamps) - min(stamps), 2) if stamps else 0.0


def _epoch(stamp):
    return time.mktime(time.strptime(stamp, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone


# The HUP path (socket activation off: hosts without it still reload with HUP).
HUP_CASES = {"hup-kill": "case_hup_kill", "controller-kill": "case_controller_kill",
             "inside-module": "case_inside_module", "concurrent": "case_concurrent", "lkg": "case_lkg",
             "disk-full": "case_disk_full"}
# The hand-over (socket activation on, the role's default).
HANDOVER_CASES = {"handover-kill-partner": "case_handover_kill_partner",
                  "handover-kill-old-master": "case_handover_kill_old_master",
                  "handover-controller": "case_handover_controller",
                  "handover-kill-module": "case_handover_kill_module",
                  "handover-bad-gate": "case_handover_bad_gate"}
# Whatever the host runs (molecule/ssh: the default, socket activation).
ANY_MODE_CASES = {"ssh-drop": "case_ssh_drop"}
CASES = dict(HUP_CASES, **HANDOVER_CASES, **ANY_MODE_CASES)


def main():
    host, case = sys.argv[1], sys.argv[2]
    suite = Suite(host)
    started = time.monotonic()
    if case in HUP_CASES:
        suite.prepare_mode(False)
    elif case in HANDOVER_CASES:
        suite.prepare_mode(True)
    getattr(suite, CASES[case])()
    suite.summary["case_seconds"] = round(time.monotonic() - started, 1)
    print("SUMMARY " + json.dumps(suite.summary))
    if suite.failed:
        print("%d check(s) FAILED:\n  %s" % (len(suite.failed), "\n  ".join(suite.failed)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
