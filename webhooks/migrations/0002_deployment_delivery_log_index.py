from django.db import migrations, models


class Migration(migrations.Migration):
    """An index for a deployment's delivery log (its latest messages, newest first)."""

    dependencies = [
        ("webhooks", "0001_initial"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="webhookmessage",
            index=models.Index(
                fields=["deployment", "-created_at"], name="webhooks_msg_deployment_idx"
            ),
        ),
    ]
