"""The releases view's filters: rows of a fleet and their Markdown table."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.djangoops.gunicorn.plugins.filter.releases import (
    NO_RELEASES, gunicorn_releases_markdown, gunicorn_releases_rows)

from markdown_cells import table_cells


def cells(line):
    return table_cells([line])[0]


RELEASE = {"release_id": "20261202T101500Z", "started": "2026-12-02T10:15:00Z", "kind": "deploy",
           "result": "handed_over", "action": "handover", "healthy": True, "revision": "4f2c9e1",
           "rollout": "20261202T101455Z", "trial": False, "kept": "last-known-good",
           "app_dir": "/srv/shop/releases/4f2c9e1/app", "venv": "/srv/shop/releases/4f2c9e1/venv"}


def test_rows_per_host_and_a_row_for_a_host_without_a_result():
    hostvars = {"web1": {"releases_info": {"releases": [RELEASE, dict(RELEASE, kept="history", trial=True)]}},
                "web2": {"releases_info": {"failed": True, "msg": "unreachable"}}, "web3": {}}
    rows = gunicorn_releases_rows(hostvars, ["web1", "web2", "web3"])
    assert [(row["host"], row["status"]) for row in rows] == [
        ("web1", "ok"), ("web1", "ok"), ("web2", NO_RELEASES), ("web3", NO_RELEASES)]


def test_markdown_has_a_line_per_release():
    rows = gunicorn_releases_rows({"web1": {"releases_info": {"releases": [RELEASE, dict(
        RELEASE, release_id="20261201T090000Z", kept="history", trial=True, revision="3a1b")]}}, "web2": {}},
        ["web1", "web2"])
    lines = gunicorn_releases_markdown(rows).splitlines()
    assert lines[0] == ("| Host | Release | Started | Kind | Result | Action | Revision | Rollout | Kept | Code |")
    assert cells(lines[2]) == ["web1", "20261202T101500Z", "2026-12-02T10:15:00Z", "deploy", "handed_over",
                               "handover", "4f2c9e1", "20261202T101455Z", "last-known-good",
                               "/srv/shop/releases/4f2c9e1/app, /srv/shop/releases/4f2c9e1/venv"]
    assert cells(lines[3])[8] == "history (trial)"
    assert cells(lines[4])[:2] == ["web2", NO_RELEASES] and len(cells(lines[4])) == 10


def test_bad_input_is_refused():
    with pytest.raises(AnsibleFilterError):
        gunicorn_releases_rows(["not", "hostvars"], ["web1"])
    with pytest.raises(AnsibleFilterError):
        gunicorn_releases_markdown({"rows": []})


def test_markdown_names_the_revision_a_refused_release_asked_for():
    rows = gunicorn_releases_rows({"web1": {"releases_info": {"releases": [
        dict(RELEASE, result="rejected", revision="4f2c9e1", candidate_revision="5a0d3b7"),
        dict(RELEASE, candidate_revision="4f2c9e1")]}}}, ["web1"])
    lines = gunicorn_releases_markdown(rows).splitlines()
    assert cells(lines[2])[6] == "4f2c9e1 (asked: 5a0d3b7)"
    assert cells(lines[3])[6] == "4f2c9e1"
