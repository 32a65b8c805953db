# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run each module test as a fresh module process on a target would, whatever else ran before."""

from __future__ import annotations

import pytest

from ansible.module_utils.common import warnings

try:
    from ansible.module_utils import _internal  # ansible-core 2.19+
except ImportError:  # 2.16-2.18 have no controller flag: module.warn() always returns the warning
    _internal = None


@pytest.fixture(autouse=True)
def target_side_module_utils(monkeypatch):
    """A module process runs once, on a target. In one pytest process two things leak between tests:

    * importing controller code (ansible.errors, as the filter plugins do) flips a process-wide flag
      that makes module.warn() print on the controller's display instead of returning the warning;
    * warnings and deprecations are kept in process-wide registries, so one test's warnings would
      show up in the next test's result.
    """
    if _internal is not None:
        monkeypatch.setattr(_internal, "is_controller", False)
    # Dicts since 2.19, lists before: start each test with an empty one of the same type.
    monkeypatch.setattr(warnings, "_global_warnings", type(warnings._global_warnings)())
    monkeypatch.setattr(warnings, "_global_deprecations", type(warnings._global_deprecations)())
