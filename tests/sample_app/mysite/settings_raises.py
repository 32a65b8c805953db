"""A settings module that fails to import: the app-import fault of the rollback tests."""
from mysite.settings import *  # noqa: F401,F403  pylint: disable=wildcard-import,unused-wildcard-import

raise RuntimeError("settings_raises: simulated failure while importing the settings")
