# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
"""The releases view of a fleet (playbooks/releases.yml): rows from the gunicorn_release_info results of many
hosts, and their Markdown table. Each filter's documentation is in gunicorn_releases_*.yml beside this file."""

from __future__ import annotations

from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

from ansible_collections.djangoops.gunicorn.plugins.plugin_utils.markdown import cell

NO_RELEASES = "no releases read"
COLUMNS = ("Host", "Release", "Started", "Kind", "Result", "Action", "Revision", "Rollout", "Kept", "Code")


def gunicorn_releases_rows(hostvars, hosts, result_var="releases_info"):
    """One row per release of every host, in host order then newest first; a host whose result is
    missing (unreachable, failed) gets one row saying so."""
    if not isinstance(hostvars, Mapping):
        raise AnsibleFilterError("gunicorn_releases_rows: the input must be hostvars, got %s" % type(hostvars).__name__)
    rows = []
    for host in hosts or []:
        result = (hostvars.get(host) or {}).get(result_var)
        releases = result.get("releases") if isinstance(result, Mapping) else None
        if not isinstance(releases, list) or (isinstance(result, Mapping) and result.get("failed")):
            rows.append({"host": host, "release_id": None, "status": NO_RELEASES})
            continue
        for release in releases:
            if isinstance(release, Mapping):
                rows.append(dict(release, host=host, status="ok"))
    return rows


def gunicorn_releases_markdown(rows):
    if not isinstance(rows, list):
        raise AnsibleFilterError("gunicorn_releases_markdown: the input must be a list of rows")
    lines = ["| %s |" % " | ".join(COLUMNS), "|%s" % " --- |" * len(COLUMNS)]
    for row in rows:
        if row.get("status") != "ok":
            lines.append("| %s | %s |%s" % (cell(row.get("host")), cell(row.get("status")), " - |" * (len(COLUMNS) - 2)))
            continue
        code = [path for path in (row.get("app_dir"), row.get("venv")) if path]
        kept = row.get("kept")
        if row.get("trial"):
            kept = "%s (trial)" % (kept or "-")
        lines.append("| %s |" % " | ".join(cell(value) for value in (
            row.get("host"), row.get("release_id"), row.get("started"), row.get("kind"), row.get("result"),
            row.get("action"), _revision(row), row.get("rollout"), kept, code)))
    return "\n".join(lines)


def _revision(row):
    """The revision live after the release, and the one it was asked for when that differs (refused)."""
    revision, asked = row.get("revision"), row.get("candidate_revision")
    return "%s (asked: %s)" % (revision or "-", asked) if asked and asked != revision else revision


class FilterModule:
    def filters(self):
        return {"gunicorn_releases_rows": gunicorn_releases_rows, "gunicorn_releases_markdown": gunicorn_releases_markdown}
