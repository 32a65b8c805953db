# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The release engine of gunicorn_release.

plan         pure decisions over structured settings (no I/O)
host         systemd, processes, HTTP and files: the only I/O
store        last-known-good, history, records, pending: atomic replacements
transaction  the state machine over a Host
"""
