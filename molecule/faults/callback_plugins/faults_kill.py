# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only callback of molecule/faults: numbers the tasks of a run as they start and, when told,
kills its own ansible-playbook (its whole process group) when task N starts.

FAULTS_TASK_LOG=<file>   append "<n>\t<task name>" when task n starts ("end" once all tasks ran)
FAULTS_KILL_AT=<n>|end   send FAULTS_SIGNAL (default SIGKILL) to the process group then
"""

from __future__ import annotations

DOCUMENTATION = r"""
name: faults_kill
type: aggregate
short_description: Kill ansible-playbook when task N starts (molecule/faults only)
description: Test-only; see the module docstring.
"""

import os
import signal

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "faults_kill"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.count = 0
        self.log = os.environ.get("FAULTS_TASK_LOG")
        self.kill_at = os.environ.get("FAULTS_KILL_AT")
        self.signal = getattr(signal, os.environ.get("FAULTS_SIGNAL") or "SIGKILL")

    def _point(self, number, name):
        if self.log:
            with open(self.log, "a", encoding="utf-8") as handle:
                handle.write("%s\t%s\n" % (number, name))
        if self.kill_at == str(number):
            os.killpg(os.getpgrp(), self.signal)

    def v2_playbook_on_task_start(self, task, is_conditional):
        self.count += 1
        self._point(self.count, task.get_name())

    def v2_playbook_on_stats(self, stats):
        self._point("end", "(all tasks done)")
