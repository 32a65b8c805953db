"""The releases view: records and kept releases merged, newest first (listing.py, Store.releases)."""
from ansible_collections.djangoops.gunicorn.plugins.module_utils.release import listing

from release_fakes import SOCKET, config_spec, release_files


def deploy(app, rev, workers=2, **params):
    spec = config_spec(workers=workers)
    return app.deploy(spec, release_files(spec, socket=SOCKET, revision=rev), **params)


def test_rows_say_what_each_release_did_and_which_is_kept(app):
    first = deploy(app, "v1", rollout_id="r-1")["record"]["release_id"]
    second = deploy(app, "v2", rollout_id="r-2")["record"]["release_id"]
    rows = app.store.releases()
    assert [row["release_id"] for row in rows] == [second, first]
    assert [(row["revision"], row["rollout"], row["kept"], row["result"]) for row in rows] == [
        ("v2", "r-2", listing.KEPT_LAST_KNOWN_GOOD, "handed_over"), ("v1", "r-1", listing.KEPT_HISTORY, "started")]
    assert rows[0]["app_dir"] == "/srv/mysite/app" and rows[0]["venv"] == "/srv/mysite/venv"


def test_a_rejected_release_is_listed_but_not_kept(app):
    deploy(app, "v1")
    bad = config_spec(python="# BROKEN\n")
    try:
        app.deploy(bad, release_files(bad, socket=SOCKET, revision="v2"))
    except Exception:  # noqa: BLE001 - the release fails on purpose
        pass
    rows = app.store.releases()
    assert rows[0]["result"] == "rejected" and rows[0]["kept"] is None
    assert rows[1]["kept"] == listing.KEPT_LAST_KNOWN_GOOD


def test_a_kept_release_whose_record_is_gone_still_has_a_row():
    rows = listing.release_rows([], [("20260101T000000Z", {"revision": "old", "rollout": "r-0"})], None,
                                {"20260101T000000Z": {"app_dir_resolved": "/srv/a/releases/old/app"}})
    assert rows == [{"release_id": "20260101T000000Z", "started": None, "kind": None, "result": None,
                     "action": None, "healthy": None, "revision": "old", "candidate_revision": None,
                     "rollout": "r-0", "trial": False,
                     "kept": listing.KEPT_HISTORY, "app_dir": "/srv/a/releases/old/app", "venv": None}]


def test_the_limit_keeps_the_newest():
    records = [{"release_id": "2026010%dT000000Z" % day} for day in range(1, 8)]
    rows = listing.release_rows(records, [], None, {}, limit=3)
    assert [row["release_id"] for row in rows] == ["20260107T000000Z", "20260106T000000Z", "20260105T000000Z"]
