# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Text helpers shared by the collection's Markdown filters (report, baseline, deploy summary, tuning)."""

from __future__ import annotations

from ansible_collections.djangoops.gunicorn.plugins.module_utils.sizing import MIB

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


def cell(value, separator=", "):
    """One Markdown table cell: white space (line breaks too) folded to single spaces, pipes escaped, "-" when
    empty or None; a list or tuple is its items joined by ``separator`` (", ", or "<br>" for one line each)."""
    if isinstance(value, (list, tuple)):
        value = separator.join("" if item is None else str(item) for item in value)
    text = "" if value is None else str(value)
    return " ".join(text.split()).replace("|", "\\|") or "-"
