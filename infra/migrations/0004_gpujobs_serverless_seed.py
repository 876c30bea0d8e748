from django.db import migrations


def seed_serverless(apps, schema_editor):
    from infra.serverless_seed import seed  # noqa: PLC0415 - the seed rows live with the app

    seed(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("infra", "0003_gpujobs_job_fields"),
        ("billing", "0002_seed_catalog"),
    ]

    operations = [migrations.RunPython(seed_serverless, migrations.RunPython.noop)]
