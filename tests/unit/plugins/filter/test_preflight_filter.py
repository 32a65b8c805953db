# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gunicorn_preflight returns the rules' problems as mappings an assert can list."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.djangoops.gunicorn.plugins.filter.preflight import FilterModule

FILTERS = FilterModule().filters()


def test_problems_are_mappings_of_variable_and_message():
    problems = FILTERS["gunicorn_preflight"]({"gunicorn_django_bind": "0.0.0.0:8000", "gunicorn_django_workers": 0})
    variables = [problem["variable"] for problem in problems]
    assert "gunicorn_django_bind" in variables and "gunicorn_django_workers" in variables
    assert all(problem["variable"] in problem["message"] for problem in problems)


def test_the_variables_must_be_a_mapping():
    with pytest.raises(AnsibleFilterError, match="gunicorn_preflight: expected the role's variables as a mapping"):
        FILTERS["gunicorn_preflight"](["gunicorn_django_bind"])
