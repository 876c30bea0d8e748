"""A key's disabled reason becomes a code and its parameters (hypereal_site.reasons),
translated when shown, instead of an English sentence. The one sentence the code stored
becomes ``spending_limit_reached``; anything else is kept under ``legacy``."""

from django.db import migrations, models

KNOWN = {"Monthly spending limit reached (auto-disable is on).": "spending_limit_reached"}


def forwards(apps, schema_editor):
    ApiKey = apps.get_model("apikeys", "ApiKey")
    for key in ApiKey.objects.exclude(disabled_reason="").only("pk", "disabled_reason"):
        sentence = key.disabled_reason.strip()
        code = KNOWN.get(sentence)
        params = {} if code else {"text": sentence}
        ApiKey.objects.filter(pk=key.pk).update(
            disabled_code=code or "legacy", disabled_params=params
        )


def backwards(apps, schema_editor):
    ApiKey = apps.get_model("apikeys", "ApiKey")
    english = {code: sentence for sentence, code in KNOWN.items()}
    for key in ApiKey.objects.exclude(disabled_code=""):
        sentence = english.get(key.disabled_code) or key.disabled_params.get("text", "")
        ApiKey.objects.filter(pk=key.pk).update(disabled_reason=sentence[:255])


class Migration(migrations.Migration):
    dependencies = [
        ("apikeys", "0004_pending_settlement"),
    ]

    operations = [
        migrations.AddField(
            model_name="apikey",
            name="disabled_code",
            field=models.CharField(blank=True, max_length=40),
        ),
        migrations.AddField(
            model_name="apikey",
            name="disabled_params",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.RunPython(forwards, backwards),
        migrations.RemoveField(
            model_name="apikey",
            name="disabled_reason",
        ),
    ]
