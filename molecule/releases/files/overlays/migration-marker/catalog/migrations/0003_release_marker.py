"""A release's migration: a table of its own. The row in django_migrations says on which host
`manage.py migrate` ran (molecule/releases: once per rollout)."""
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("catalog", "0002_seed_items")]
    operations = [migrations.RunSQL("CREATE TABLE catalog_release_marker (id INTEGER PRIMARY KEY)",
                                    "DROP TABLE catalog_release_marker")]
