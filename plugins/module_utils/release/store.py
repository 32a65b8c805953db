# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a release keeps in the app's state directory (root-owned, 0750 root:<group>).

- ``candidate/``        the files being validated (readable by the app's group for the checks,
                        its secret_env root-only); its secrets are removed once it is rejected
- ``last-known-good/``  the files that last passed the health gate, with ``meta.json``
- ``history/<id>/``     earlier last-known-good releases, the newest ``history_size`` kept; a
                        trial release (a tuning candidate) leaves no entry when it is replaced
- ``pending.json``      written before a candidate goes live, removed once it is verified or
                        rolled back: a run that finds it finishes the interrupted release first
- ``releases.json``, ``current.json``  release records (checksums and settings, never contents)
- ``private/lock``      root-only (0600 in a 0700 directory): serialises releases of the app
- ``private/secret-key`` root-only (0600), created on first use: the key of the secret files'
                        checksums (HMAC-SHA256), so records and diffs never hold a plain hash of
                        a secret that could be guessed offline

Every replacement is atomic: a file is written beside its target and renamed over it; a kept
release is staged in full (meta.json last), the old one renamed aside, the new one renamed in,
and only then is the old one deleted. A run interrupted anywhere leaves either the old or the
new last-known-good, and the next run finishes the replacement.
"""

from __future__ import annotations

import binascii
import os
import time

from ansible_collections.djangoops.gunicorn.plugins.module_utils.release import host as fs
from ansible_collections.djangoops.gunicorn.plugins.module_utils.release import listing, plan

RECORDS_KEPT = 50
KEYED_PREFIX = "hmac-sha256:"
# In check mode on a host without a key yet: say only whether there is a secret file.
UNKEYED_SECRET = "(secret, not hashed: no key on this host yet)"


class KeptReleaseError(Exception):
    """A kept release (last-known-good or history) is damaged; restoring it would be blind."""


class Store:
    def __init__(self, state_dir, group, read_only=False):
        # read_only (check mode): never finish an interrupted replacement, only read.
        self.read_only = read_only
        self.state_dir = state_dir
        self.group = group
        self.lkg = self.path("last-known-good")
        self.history = self.path("history")
        self.candidate = self.path("candidate")

    def path(self, *names):
        return os.path.join(self.state_dir, *names)

    def lock(self, timeout):
        return fs.Lock(self.path("private", "lock"), timeout)

    # -- checksums ----------------------------------------------------------------------------

    def secret_key(self):
        """The host's key for the secret files' checksums, created (root-only) on first use;
        None in check mode before any release created it."""
        path = self.path("private", "secret-key")
        text = fs.read_file(path)
        if text is None:
            if self.read_only:
                return None
            fs.make_dir(self.path("private"), mode=0o700)
            fs.write_file(path, binascii.hexlify(os.urandom(32)).decode("ascii") + "\n", mode=0o600)
            text = fs.read_file(path)
        return text.strip().encode("ascii")

    def checksums(self, files, like=None):
        """plan.checksums with the secret files keyed by this host's key: the other files keep
        their plain sha256 (comparable across hosts), a secret's checksum confirms no guess.

        `like`: checksums to compare with; when they are an earlier version's (a plain sha256 of
        a secret file, in a pending.json it left), the same kind, so that the comparison holds."""
        if like and any(isinstance(like.get(name), str) and not like[name].startswith(KEYED_PREFIX)
                        for name in plan.SECRET_FILES):
            return plan.checksums(files)
        key = self.secret_key()
        if key is None:
            sums = plan.checksums(files)
            for name in plan.SECRET_FILES:
                sums[name] = UNKEYED_SECRET if sums[name] else None
            return sums
        return plan.checksums(files, secret_key=key)

    def _matches(self, name, content, recorded):
        """Whether a kept file matches its meta.json checksum; a secret file's may be the keyed one
        or, in a release kept by an earlier version, its plain sha256."""
        if name in plan.SECRET_FILES and isinstance(recorded, str) and recorded.startswith(KEYED_PREFIX):
            key = self.secret_key()
            return key is not None and plan.keyed_checksum(content, key) == recorded
        return plan.checksum(content) == recorded

    # -- kept releases ---------------------------------------------------------------------

    def _finish_replacement(self):
        """Complete a last-known-good replacement that a kill interrupted (see the module doc)."""
        staged, aside = self.lkg + ".new", self.lkg + ".old"
        if self.read_only:
            return
        if not fs.is_dir(self.lkg):
            if fs.read_file(os.path.join(staged, "meta.json")) is not None:
                fs.rename(staged, self.lkg)
            elif fs.is_dir(aside):
                fs.rename(aside, self.lkg)
        for leftover in (staged, aside):
            if fs.is_dir(leftover):
                fs.remove_tree(leftover)

    def read_kept(self, directory):
        """(files, meta) of a kept release after checking every file against its meta.json, None
        when there is none; KeptReleaseError when it was changed by hand or is corrupt. A file a
        kept release does not have is one it must not have ("")."""
        meta = fs.read_json(os.path.join(directory, "meta.json"))
        if meta is None:
            if fs.list_dir(directory):
                raise KeptReleaseError(
                    "%s has files but no meta.json: it was changed by hand. Inspect it, then remove it to "
                    "let the next healthy release become last-known-good" % directory)
            return None
        files = dict((name, fs.read_file(os.path.join(directory, name)) or "") for name in plan.MANAGED_FILES)
        sums = meta.get("checksums") if isinstance(meta, dict) else None
        bad = [name for name in plan.MANAGED_FILES
               if not isinstance(sums, dict) or not self._matches(name, files[name], sums.get(name))]
        if bad:
            raise KeptReleaseError(
                "%s is corrupt (%s differ from meta.json): refusing to restore it blindly. Inspect it, then "
                "remove it to let the next healthy release become last-known-good" % (directory, ", ".join(bad)))
        return files, meta

    def last_known_good(self):
        self._finish_replacement()
        return self.read_kept(self.lkg)

    def history_entry(self, entry):
        if not entry or os.sep in entry or entry.startswith("."):
            raise KeptReleaseError("rollback_to must name an entry of %s, got %r" % (self.history, entry))
        return self.read_kept(os.path.join(self.history, entry))

    def keep(self, release_id, files, why, history_size, config=None, extra=None):
        """Make `files` the last-known-good; the previous one moves to history/ unless it was a
        trial (meta "trial": a tuning candidate takes no history slot of a real release).
        `extra` adds to meta.json (revision, rollout, trial)."""
        self._finish_replacement()
        staged, aside = self.lkg + ".new", self.lkg + ".old"
        fs.make_dir(staged, mode=0o700)
        for name in plan.MANAGED_FILES:
            if files.get(name):
                fs.write_file(os.path.join(staged, name), files[name], mode=0o600)
        meta = {"release_id": release_id, "kept": time.time(), "why": why, "checksums": self.checksums(files)}
        if config is not None:
            meta["config"] = config
        meta.update(extra or {})
        # meta.json last: a staged directory with it is complete (see _finish_replacement).
        fs.write_json(os.path.join(staged, "meta.json"), meta)
        fs.make_dir(self.history)
        previous = fs.read_json(os.path.join(self.lkg, "meta.json")) if fs.is_dir(self.lkg) else None
        if previous is not None and previous.get("trial"):
            fs.rename(self.lkg, aside)
        elif previous is not None:
            target = os.path.join(self.history, str(previous.get("release_id")))
            # Into history by a rename (atomic); an entry of that id already there is the same release.
            fs.rename(self.lkg, target if not fs.is_dir(target) else aside)
        elif fs.is_dir(self.lkg):
            fs.rename(self.lkg, aside)
        fs.rename(staged, self.lkg)
        fs.remove_tree(aside)
        for name in plan.prune_history(fs.list_dir(self.history), history_size):
            doomed = os.path.join(self.history, "." + name + ".deleting")
            fs.rename(os.path.join(self.history, name), doomed)
            fs.remove_tree(doomed)
        for name in fs.list_dir(self.history):
            if name.startswith("."):
                fs.remove_tree(os.path.join(self.history, name))
        return meta

    def kept_index(self):
        """(history as [(id, meta)] oldest first, last-known-good as (id, meta) or None): the
        metadata only, for choosing a rollback target (files are checked when one is read)."""
        history = []
        for name in fs.list_dir(self.history):
            if not name.startswith("."):
                meta = fs.read_json(os.path.join(self.history, name, "meta.json"))
                history.append((name, meta if isinstance(meta, dict) else {}))
        meta = fs.read_json(os.path.join(self.lkg, "meta.json"))
        return history, ((meta.get("release_id"), meta) if isinstance(meta, dict) else None)

    def releases(self, limit=20):
        """The newest `limit` releases of the app with what is kept of them (listing.release_rows)."""
        history, last = self.kept_index()
        release_records = {}
        for entry, _meta in history:
            release_records[entry] = plan.read_release_record(
                fs.read_file(os.path.join(self.history, entry, "release")))
        if last:
            release_records[last[0]] = plan.read_release_record(fs.read_file(os.path.join(self.lkg, "release")))
        records = fs.read_json(self.path("releases.json"), default=[])
        return listing.release_rows(records if isinstance(records, list) else [], history, last, release_records,
                                    limit)

    def kept_directories(self):
        """The app's code directories that last-known-good and history still need (from their
        "release" files): a deploy tool's clean-up must keep them for a rollback to work."""
        needed = []
        directories = [self.lkg] + [os.path.join(self.history, name) for name in fs.list_dir(self.history)
                                    if not name.startswith(".")]
        for directory in directories:
            record = plan.read_release_record(fs.read_file(os.path.join(directory, "release")))
            for key in ("app_dir_resolved", "venv_resolved"):
                if record.get(key) and record[key] not in needed:
                    needed.append(record[key])
        return needed

    def taken_ids(self):
        records = fs.read_json(self.path("releases.json"), default=[])
        taken = [record.get("release_id") for record in records if isinstance(record, dict)]
        taken.extend(fs.list_dir(self.history))
        meta = fs.read_json(os.path.join(self.lkg, "meta.json"))
        if isinstance(meta, dict):
            taken.append(meta.get("release_id"))
        return taken

    def known_settings_of(self, config_checksum):
        """The recorded settings of the config with this checksum (last-known-good, the newest
        record), or None when the collection did not record that config."""
        if not config_checksum:
            return None
        kept_records = []
        for path in (os.path.join(self.lkg, "meta.json"), self.path("current.json")):
            try:
                kept_records.append(fs.read_json(path))
            except fs.HostError:
                # A damaged record is reported where it matters (reading last-known-good); here
                # it only means the settings must be read from the config itself.
                continue
        for kept in kept_records:
            if isinstance(kept, dict) and (kept.get("checksums") or {}).get("config") == config_checksum:
                config = kept.get("config") or {}
                if isinstance(config.get("settings"), dict):
                    return config["settings"]
        return None

    # -- pending ----------------------------------------------------------------------------

    def read_pending(self):
        return fs.read_json(self.path("pending.json"))

    def write_pending(self, pending):
        fs.write_json(self.path("pending.json"), pending)

    def mark_applied(self):
        """Note that the candidate was reloaded or started (see Transaction.recover)."""
        pending = self.read_pending()
        if isinstance(pending, dict):
            pending["applied"] = True
            self.write_pending(pending)

    def clear_pending(self):
        fs.remove_file(self.path("pending.json"))

    # -- candidate --------------------------------------------------------------------------

    def write_candidate(self, files):
        fs.remove_tree(self.candidate)
        fs.make_dir(self.candidate, group=self.group)
        for name in plan.MANAGED_FILES:
            if files.get(name):
                if name in plan.UNIT_FILES:
                    owner_group, mode = "root", 0o644
                elif name in plan.SECRET_FILES:
                    # systemd reads it as PID 1 (the checks' EnvironmentFile=, the canary's): root-only.
                    owner_group, mode = "root", 0o600
                else:
                    owner_group, mode = self.group, 0o640
                fs.write_file(os.path.join(self.candidate, name), files[name], "root", owner_group, mode)
        return self.candidate

    def remove_candidate(self):
        # The candidate holds a copy of the secrets: keep none once it is live.
        fs.remove_tree(self.candidate)

    def remove_candidate_secrets(self):
        """A rejected or failed candidate stays as evidence, without its copy of the secrets."""
        for name in plan.SECRET_FILES:
            fs.remove_file(os.path.join(self.candidate, name))

    # -- records ----------------------------------------------------------------------------

    def last_record(self):
        """The record of the newest release (current.json), or None."""
        record = fs.read_json(self.path("current.json"))
        return record if isinstance(record, dict) else None

    def record(self, record):
        records = fs.read_json(self.path("releases.json"), default=[])
        records.append(record)
        fs.write_json(self.path("releases.json"), records[-RECORDS_KEPT:])
        fs.write_json(self.path("current.json"), record)
        return record
