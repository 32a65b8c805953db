"""A broken release: a migration that fails, so `manage.py migrate` exits 1 (a release command)."""
from django.db import migrations


def fail(apps, schema_editor):
    raise RuntimeError("molecule/releases: this migration fails on purpose")


class Migration(migrations.Migration):
    dependencies = [("catalog", "0003_release_marker")]
    operations = [migrations.RunPython(fail, migrations.RunPython.noop)]
