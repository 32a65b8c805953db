# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The releases of an app on a host, newest first: what each release did (its record) and which
one is kept (last-known-good, or a history entry a rollback can restore), with its revision,
rollout and code directories. Pure: the store gathers the inputs."""

from __future__ import annotations

KEPT_LAST_KNOWN_GOOD = "last-known-good"
KEPT_HISTORY = "history"
RECORD_FIELDS = ("release_id", "started", "kind", "result", "action", "healthy", "revision", "candidate_revision",
                 "rollout", "trial")


def release_rows(records, history, last_known_good, release_records, limit=20):
    """Rows of the newest `limit` releases.

    `records` are the release records (releases.json, oldest first); `history` the (id, meta) of
    the history entries and `last_known_good` that of the current one (or None); `release_records`
    maps a kept release's id to the fields of its "release" file (revision, directories). A kept
    release without a record (the records keep the newest 50 only) still gets a row.
    """
    kept = dict((entry, (KEPT_HISTORY, meta or {})) for entry, meta in history)
    if last_known_good:
        kept[last_known_good[0]] = (KEPT_LAST_KNOWN_GOOD, last_known_good[1] or {})
    rows, seen = [], set()
    for record in reversed([record for record in records or [] if isinstance(record, dict)]):
        release_id = record.get("release_id")
        if release_id in seen:
            continue
        seen.add(release_id)
        rows.append(_row(dict((field, record.get(field)) for field in RECORD_FIELDS), kept.get(release_id),
                         release_records.get(release_id) or {}))
    for release_id, (where, meta) in kept.items():
        if release_id not in seen:
            row = {"release_id": release_id, "started": None, "kind": None, "result": None, "action": None,
                   "healthy": None, "revision": meta.get("revision"), "candidate_revision": None,
                   "rollout": meta.get("rollout"),
                   "trial": bool(meta.get("trial"))}
            rows.append(_row(row, (where, meta), release_records.get(release_id) or {}))
    rows.sort(key=lambda row: str(row["release_id"]), reverse=True)
    return rows[:max(limit, 1)]


def _row(row, kept, release):
    row["kept"] = kept[0] if kept else None
    row["revision"] = row.get("revision") or release.get("revision")
    row["app_dir"] = release.get("app_dir_resolved") or release.get("app_dir")
    row["venv"] = release.get("venv_resolved") or release.get("venv")
    row["trial"] = bool(row.get("trial"))
    return row
