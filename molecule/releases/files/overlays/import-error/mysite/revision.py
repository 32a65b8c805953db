"""A broken release: its revision module imports a package the venv does not have. Settings
import it, so gunicorn --check-config fails (the release is rejected at check-config)."""
import djangoops_no_such_package  # noqa: F401  pylint: disable=import-error,unused-import

REVISION = "import-error"
