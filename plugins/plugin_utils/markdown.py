# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Text helpers shared by the collection's Markdown filters (report, baseline, deploy summary)."""

from __future__ import annotations

MIB = 1024 * 1024
GIB = 1024 * MIB


def format_bytes(value):
    """Bytes as "12 MiB" or "1.5 GiB"; "?" when unknown."""
    if value is None:
        return "?"
    if value >= GIB:
        return "%.1f GiB" % (value / float(GIB))
    return "%d MiB" % int(round(value / float(MIB)))


def plural(number, noun):
    return "%s %s%s" % (number, noun, "" if number == 1 else "s")


def escape_cell(text):
    """One Markdown table cell: white space folded to single spaces, pipes escaped, "-" when empty."""
    return " ".join(text.split()).replace("|", "\\|") or "-"
