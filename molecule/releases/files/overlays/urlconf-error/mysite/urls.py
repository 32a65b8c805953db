"""A broken release: the URLconf imports views that do not exist. Django imports the URLconf at
the first request only, so --check-config passes and every request answers 500 (the canary)."""
from catalog import no_such_views  # noqa: F401  pylint: disable=no-name-in-module,unused-import

urlpatterns = []
