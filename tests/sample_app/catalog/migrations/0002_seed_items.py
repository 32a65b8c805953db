from django.db import migrations

SEED_COUNT = 50


def seed(apps, schema_editor):
    item = apps.get_model("catalog", "Item")
    item.objects.bulk_create(
        item(name=f"Item {n:03d}", price_cents=100 + 37 * n) for n in range(SEED_COUNT)
    )


def unseed(apps, schema_editor):
    apps.get_model("catalog", "Item").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("catalog", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
