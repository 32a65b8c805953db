"""The state directory: kept releases replaced atomically, records, pending, the candidate."""
import json
import os
import stat

import pytest

from ansible_collections.djangoops.gunicorn.plugins.module_utils.release import plan, store as store_module
from ansible_collections.djangoops.gunicorn.plugins.module_utils.release.store import KeptReleaseError, Store

OLD = {"config": "workers = 2\n", "app_env": "A=1\n", "secret_env": "S=1\n", "unit": "[Service]\n", "socket": "",
       "probe_socket": "", "release": ""}
NEW = dict(OLD, config="workers = 3\n", socket="[Socket]\n")


@pytest.fixture
def store(tmp_path):
    state = tmp_path / "mysite"
    state.mkdir()
    return Store(str(state), "root")


class Killed(BaseException):
    """The module's process killed mid-operation (not an Exception: nothing may catch it)."""


FILE_OPERATIONS = ("rename", "remove_tree", "write_file", "write_json", "make_dir")


def kill_at(monkeypatch, number):
    """Make the `number`th file operation of the store die, as a kill -9 would at that point."""
    calls = {"n": 0}
    for name in FILE_OPERATIONS:
        real = getattr(store_module.fs, name)

        def dying(*args, _real=real, **kwargs):
            calls["n"] += 1
            if calls["n"] == number:
                raise Killed()
            return _real(*args, **kwargs)
        monkeypatch.setattr(store_module.fs, name, dying)
    return calls


def count_operations(monkeypatch, action):
    calls = kill_at(monkeypatch, 0)
    action()
    monkeypatch.undo()
    return calls["n"]


def test_keep_then_read_back(store):
    store.keep("r1", OLD, "passed the health gate", 5, config={"settings": {"workers": 2}})
    files, meta = store.last_known_good()
    assert files == OLD and meta["release_id"] == "r1" and meta["checksums"] == store.checksums(OLD)
    assert stat.S_IMODE(os.stat(os.path.join(store.lkg, "secret_env")).st_mode) == 0o600
    assert store.known_settings_of(plan.checksum(OLD["config"])) == {"workers": 2}
    assert store.known_settings_of(plan.checksum("other")) is None


def test_the_previous_release_moves_to_history_and_history_is_pruned(store):
    for number in range(1, 5):
        store.keep("r%d" % number, dict(OLD, config="workers = %d\n" % number), "ok", 2)
    assert sorted(os.listdir(store.history)) == ["r2", "r3"]
    assert store.history_entry("r3")[0]["config"] == "workers = 3\n"
    assert set(store.taken_ids()) >= {"r2", "r3", "r4"}


def test_finding_6_a_kill_anywhere_in_keep_leaves_a_whole_last_known_good(store, monkeypatch):
    """Kill the replacement at each of its file operations in turn: the next run must find the
    old or the new release, complete and verified - never none, never one without meta.json."""
    store.keep("r1", OLD, "ok", 5)
    operations = count_operations(monkeypatch, lambda: Store(store.state_dir, "root").keep("probe", NEW, "ok", 5))
    assert operations >= 6
    for number in range(1, operations + 1):
        fresh = Store(store.state_dir, "root")
        fresh.keep("r1", OLD, "ok", 5)
        kill_at(monkeypatch, number)
        with pytest.raises(Killed):
            fresh.keep("r2", NEW, "ok", 5)
        monkeypatch.undo()
        kept = Store(store.state_dir, "root").last_known_good()
        assert kept is not None, "no last-known-good after a kill at operation %d" % number
        assert kept[0] in (OLD, NEW), "operation %d" % number


def test_an_incomplete_staged_release_is_discarded(store):
    store.keep("r1", OLD, "ok", 5)
    os.makedirs(store.lkg + ".new")
    with open(os.path.join(store.lkg + ".new", "config"), "w", encoding="utf-8") as handle:
        handle.write("half written")
    assert store.last_known_good()[0] == OLD and not os.path.exists(store.lkg + ".new")


def test_check_mode_never_repairs(store):
    store.keep("r1", OLD, "ok", 5)
    os.rename(store.lkg, store.lkg + ".old")
    assert Store(store.state_dir, "root", read_only=True).last_known_good() is None
    assert Store(store.state_dir, "root").last_known_good()[0] == OLD


@pytest.mark.parametrize("damage, message", [
    (lambda lkg: os.remove(os.path.join(lkg, "meta.json")), "no meta.json: it was changed by hand"),
    (lambda lkg: open(os.path.join(lkg, "config"), "a", encoding="utf-8").write("# edited\n"), "config differ"),
    (lambda lkg: open(os.path.join(lkg, "socket"), "w", encoding="utf-8").write("[Socket]\n"), "socket differ"),
])
def test_a_damaged_last_known_good_is_refused(store, damage, message):
    store.keep("r1", OLD, "ok", 5)
    damage(store.lkg)
    with pytest.raises(KeptReleaseError, match=message):
        store.last_known_good()


@pytest.mark.parametrize("entry", ["", "../last-known-good", ".hidden", "a/b"])
def test_history_entries_are_names_not_paths(store, entry):
    with pytest.raises(KeptReleaseError, match="rollback_to must name an entry"):
        store.history_entry(entry)


def test_a_kept_release_without_a_socket_wants_none(store):
    store.keep("r1", OLD, "ok", 5)
    assert store.last_known_good()[0]["socket"] == ""


def test_records_keep_the_newest_and_current(store):
    for number in range(store_module.RECORDS_KEPT + 3):
        store.record({"release_id": "r%d" % number})
    with open(store.path("releases.json"), encoding="utf-8") as handle:
        records = json.load(handle)
    assert len(records) == store_module.RECORDS_KEPT and records[-1]["release_id"] == "r52"
    with open(store.path("current.json"), encoding="utf-8") as handle:
        assert json.load(handle)["release_id"] == "r52"


def test_pending_is_written_marked_and_cleared(store):
    assert store.read_pending() is None
    store.write_pending({"release_id": "r1"})
    store.mark_applied()
    assert store.read_pending() == {"release_id": "r1", "applied": True}
    store.clear_pending()
    store.clear_pending()
    assert store.read_pending() is None


def test_the_candidate_is_readable_by_the_group_and_removed(store):
    path = store.write_candidate(NEW)
    assert stat.S_IMODE(os.stat(os.path.join(path, "config")).st_mode) == 0o640
    assert stat.S_IMODE(os.stat(os.path.join(path, "unit")).st_mode) == 0o644
    assert sorted(os.listdir(path)) == ["app_env", "config", "secret_env", "socket", "unit"]
    store.remove_candidate()
    assert not os.path.exists(path)


def test_a_damaged_record_only_means_unknown_settings(store):
    store.keep("r1", OLD, "ok", 5, config={"settings": {"workers": 2}})
    with open(os.path.join(store.lkg, "meta.json"), "w", encoding="utf-8") as handle:
        handle.write("{truncated")
    assert store.known_settings_of(plan.checksum(OLD["config"])) is None
    with pytest.raises(store_module.fs.HostError, match="meta.json is not valid JSON"):
        store.last_known_good()


# -- finding 11: the secrets' copies and checksums ---------------------------------------------

def test_finding_11_the_candidates_secrets_are_root_only_and_removed_on_rejection(store):
    path = store.write_candidate(NEW)
    secret = os.stat(os.path.join(path, "secret_env"))
    assert (secret.st_uid, secret.st_gid, stat.S_IMODE(secret.st_mode)) == (0, 0, 0o600)
    store.remove_candidate_secrets()
    assert sorted(os.listdir(path)) == ["app_env", "config", "socket", "unit"]


def test_finding_11_secret_checksums_are_keyed_with_a_root_only_key_of_the_host(store, tmp_path):
    sums = store.checksums(OLD)
    plain = plan.checksum(OLD["secret_env"])
    assert sums["secret_env"].startswith("hmac-sha256:") and plain not in sums["secret_env"]
    # The other files keep their plain sha256: fleet reports compare configs across hosts.
    assert sums["config"] == plan.checksum(OLD["config"]) and sums["socket"] is None
    key = os.stat(store.path("private", "secret-key"))
    assert (key.st_uid, stat.S_IMODE(key.st_mode)) == (0, 0o600)
    assert stat.S_IMODE(os.stat(store.path("private")).st_mode) == 0o700
    # The same key on the next run; another host (state directory) has its own.
    assert Store(store.state_dir, "root").checksums(OLD) == sums
    other = tmp_path / "other"
    other.mkdir()
    assert Store(str(other), "root").checksums(OLD)["secret_env"] != sums["secret_env"]


def test_finding_11_records_and_last_known_good_hold_no_plain_sha256_of_the_secrets(store):
    meta = store.keep("r1", OLD, "ok", 5)
    plain = plan.checksum(OLD["secret_env"])
    with open(os.path.join(store.lkg, "meta.json"), encoding="utf-8") as handle:
        assert plain not in handle.read()
    assert meta["checksums"]["secret_env"].startswith("hmac-sha256:")


def test_finding_11_check_mode_creates_no_key(tmp_path):
    state = tmp_path / "fresh"
    state.mkdir()
    sums = Store(str(state), "root", read_only=True).checksums(OLD)
    assert sums["secret_env"] == store_module.UNKEYED_SECRET and sums["socket"] is None
    assert not os.path.exists(str(state / "private"))


def test_finding_11_a_last_known_good_kept_with_the_plain_sha256_still_verifies(store):
    """Migration: a host whose last-known-good was kept by an earlier version (the plain sha256
    of secret_env in meta.json) still restores it; the next kept release has the keyed one."""
    store.keep("r1", OLD, "ok", 5)
    meta_path = os.path.join(store.lkg, "meta.json")
    with open(meta_path, encoding="utf-8") as handle:
        meta = json.load(handle)
    meta["checksums"] = plan.checksums(OLD)  # what the earlier version wrote
    with open(meta_path, "w", encoding="utf-8") as handle:
        json.dump(meta, handle)
    files, _meta = store.last_known_good()
    assert files == OLD
    store.keep("r2", NEW, "ok", 5)
    assert store.last_known_good()[1]["checksums"]["secret_env"].startswith("hmac-sha256:")
    # and the legacy entry, now in history, still verifies too
    assert store.history_entry("r1")[0] == OLD


def test_finding_11_a_changed_secret_is_still_caught(store):
    store.keep("r1", OLD, "ok", 5)
    with open(os.path.join(store.lkg, "secret_env"), "w", encoding="utf-8") as handle:
        handle.write("S=changed by hand\n")
    with pytest.raises(KeptReleaseError, match="secret_env differ"):
        store.last_known_good()
