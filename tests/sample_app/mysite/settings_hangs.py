"""A settings module that blocks at import, as one does whose database connect never answers:
the hang case of the badinput tests (every run of the app's code is bounded)."""
import time

from mysite.settings import *  # noqa: F401,F403  pylint: disable=wildcard-import,unused-wildcard-import

time.sleep(3600)
