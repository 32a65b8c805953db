"""A sample of Gunicorn units' journal (journalctl --output json), shared by the baseline tests."""
import json


def journal_line(message, unit="gunicorn-mysite.service", when=1795708206272363, systemd=False):
    entry = {"MESSAGE": message, "__REALTIME_TIMESTAMP": str(when), "PRIORITY": "6"}
    if systemd:
        entry.update(_SYSTEMD_UNIT="init.scope", UNIT=unit)
    else:
        entry["_SYSTEMD_UNIT"] = unit
    return json.dumps(entry)


JOURNAL = "\n".join([
    journal_line("[2026-11-26 15:50:05 +0000] [1495] [INFO] Booting worker with pid: 1497",
                 unit="gunicorn-mysite-canary.service"),
    journal_line("Started gunicorn-mysite-canary.service - Canary", unit="gunicorn-mysite-canary.service",
                 systemd=True),
    journal_line("Started gunicorn-mysite.service - Gunicorn serving the Django app mysite.", systemd=True),
    journal_line("[2026-11-26 15:50:06 +0000] [1534] [INFO] Booting worker with pid: 1535"),
    journal_line("[2026-11-26 15:50:06 +0000] [1534] [INFO] Booting worker with pid: 1537"),
    journal_line("[2026-11-26 16:01:00 +0000] [1534] [CRITICAL] WORKER TIMEOUT (pid:1535)", when=1795708860000000),
    journal_line("[2026-11-26 16:01:01 +0000] [1534] [ERROR] Worker (pid:1537) was sent SIGKILL! Perhaps out of "
                 "memory?", when=1795708861000000),
    journal_line("[2026-11-26 16:01:02 +0000] [1534] [ERROR] Worker (pid:1540) exited with code 1.",
                 when=1795708862000000),
    journal_line("Reloaded gunicorn-mysite.service - Gunicorn serving the Django app mysite.", systemd=True),
    journal_line("gunicorn-mysite.service: Main process exited, code=exited, status=3/NOTIMPLEMENTED",
                 systemd=True, when=1795708863000000),
    json.dumps({"MESSAGE": [87, 79, 82, 75, 69, 82, 32, 84, 73, 77, 69, 79, 85, 84, 32, 255],
                "_SYSTEMD_UNIT": "gunicorn-mysite.service", "__REALTIME_TIMESTAMP": "1795708864000000"}),
    "not json",
    journal_line("[2026-11-26 16:02:00 +0000] [1534] [INFO] an access log line"),
])
