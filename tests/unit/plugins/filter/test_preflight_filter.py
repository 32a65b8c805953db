# -*- coding: utf-8 -*-
# Copyright: djangoops.gunicorn contributors
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""gunicorn_preflight reads the registered results of the role's look-ups as the rules' host facts."""
import pytest
from ansible.errors import AnsibleFilterError

from ansible_collections.djangoops.gunicorn.plugins.filter.preflight import FilterModule, host_facts

FILTERS = FilterModule().filters()
SKIPPED = {"changed": False, "skipped": True, "skip_reason": "Conditional result was False"}


@pytest.mark.parametrize(
    "lookups, facts",
    [
        ({}, {"user_exists": None, "group_exists": None, "gunicorn_executable": None, "app_dir_is_dir": None}),
        ({"user": SKIPPED, "gunicorn": SKIPPED}, {"user_exists": None, "group_exists": None,
                                                  "gunicorn_executable": None, "app_dir_is_dir": None}),
        ({"user": {"ansible_facts": {"getent_passwd": {"mysite": ["x", "999", "999", "", "/", "/bin/false"]}}},
          "group": {"ansible_facts": {"getent_group": {"nosuch": None}}},
          "gunicorn": {"stat": {"exists": True, "executable": True}},
          "app_dir": {"stat": {"exists": False}}},
         {"user_exists": True, "group_exists": False, "gunicorn_executable": True, "app_dir_is_dir": False}),
        # getent answers a uid with the account's name as the key.
        ({"user": {"ansible_facts": {"getent_passwd": {"root": ["x", "0", "0", "root", "/root", "/bin/sh"]}}}},
         {"user_exists": True, "group_exists": None, "gunicorn_executable": None, "app_dir_is_dir": None}),
    ],
)
def test_host_facts(lookups, facts):
    assert host_facts(lookups) == facts


def test_problems_are_mappings_of_variable_and_message():
    problems = FILTERS["gunicorn_preflight"]({"gunicorn_django_bind": "0.0.0.0:8000"},
                                             {"app_dir": {"stat": {"exists": False}}})
    variables = [problem["variable"] for problem in problems]
    assert "gunicorn_django_bind" in variables and "gunicorn_django_app_dir" in variables
    assert all(problem["variable"] in problem["message"] for problem in problems)


def test_the_variables_must_be_a_mapping():
    with pytest.raises(AnsibleFilterError, match="gunicorn_preflight: expected the role's variables as a mapping"):
        FILTERS["gunicorn_preflight"](["gunicorn_django_bind"])
