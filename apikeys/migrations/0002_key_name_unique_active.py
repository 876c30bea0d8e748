import django.db.models.functions.text
from django.db import migrations, models
from django.db.models.functions import Lower


def rename_duplicates(apps, schema_editor):
    """Active keys sharing a name (case-insensitively) in one owner get " (2)", " (3)"…
    so the new constraint can be created; the oldest keeps its name."""
    ApiKey = apps.get_model("apikeys", "ApiKey")
    seen = set()
    for key in ApiKey.objects.filter(revoked_at__isnull=True).order_by("created_at", "pk"):
        ident = (key.organization_id, key.name.lower())
        if ident not in seen:
            seen.add(ident)
            continue
        n = 2
        while True:
            name = f"{key.name[: 100 - len(f' ({n})')]} ({n})"
            if (key.organization_id, name.lower()) not in seen and not ApiKey.objects.filter(
                organization_id=key.organization_id, revoked_at__isnull=True
            ).annotate(lname=Lower("name")).filter(lname=name.lower()).exists():
                break
            n += 1
        key.name = name
        key.save(update_fields=["name"])
        seen.add((key.organization_id, name.lower()))


class Migration(migrations.Migration):
    dependencies = [("apikeys", "0001_initial")]

    operations = [
        migrations.RunPython(rename_duplicates, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="apikey",
            constraint=models.UniqueConstraint(
                models.F("organization"),
                django.db.models.functions.text.Lower("name"),
                condition=models.Q(("revoked_at__isnull", True)),
                name="apikeys_name_unique_active",
            ),
        ),
    ]
