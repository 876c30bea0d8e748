"""An endpoint's disabled reason becomes a code and its parameters (hypereal_site.reasons),
translated when shown, instead of a sentence frozen in one language.

Existing sentences, in English or in Arabic (the two languages they were written in), are
recognised and turned into their code; anything else is kept as it was under ``legacy``.
"""

import re

from django.db import migrations, models

#: (code, parameter, pattern) for every sentence the code used to store, in both languages.
#: The patterns are copied here (not imported) so the migration keeps its meaning.
KNOWN = [
    ("gone_410", "when", r"The endpoint answered 410 Gone on (?P<value>.+)\.$"),
    ("gone_410", "when", r"أجابت نقطة النهاية بـ 410 Gone في (?P<value>.+)\.$"),
    (
        "repeated_failures",
        "since",
        r"No delivery succeeded since (?P<value>.+); every retry of a message failed\.$",
    ),
    (
        "repeated_failures",
        "since",
        r"لم ينجح أي تسليم منذ (?P<value>.+)؛ فشلت كل محاولات إعادة إرسال الرسائل\.$",
    ),
    ("disabled_by", "who", r"Disabled by (?P<value>.+)\.$"),
    ("disabled_by", "who", r"عطّلها (?P<value>.+)\.$"),
]
ISOLATES = "\u2066\u2067\u2068\u2069"


def reason_code(sentence: str) -> tuple[str, dict]:
    """(code, params) for a stored sentence; ("", {}) for none."""
    sentence = sentence.strip()
    if not sentence:
        return "", {}
    for code, name, pattern in KNOWN:
        match = re.match(pattern, sentence)
        if match:
            return code, {name: match.group("value").strip(ISOLATES)}
    return "legacy", {"text": sentence}


def forwards(apps, schema_editor):
    Endpoint = apps.get_model("webhooks", "WebhookEndpoint")
    for endpoint in Endpoint.objects.exclude(disabled_reason="").only("pk", "disabled_reason"):
        code, params = reason_code(endpoint.disabled_reason)
        Endpoint.objects.filter(pk=endpoint.pk).update(disabled_code=code, disabled_params=params)


def backwards(apps, schema_editor):
    Endpoint = apps.get_model("webhooks", "WebhookEndpoint")
    english = {
        "gone_410": "The endpoint answered 410 Gone on {when}.",
        "repeated_failures": (
            "No delivery succeeded since {since}; every retry of a message failed."
        ),
        "disabled_by": "Disabled by {who}.",
        "legacy": "{text}",
    }
    for endpoint in Endpoint.objects.exclude(disabled_code=""):
        template = english.get(endpoint.disabled_code, endpoint.disabled_code)
        try:
            sentence = template.format(**endpoint.disabled_params)
        except (KeyError, IndexError):
            sentence = endpoint.disabled_code
        Endpoint.objects.filter(pk=endpoint.pk).update(disabled_reason=sentence[:300])


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0002_deployment_delivery_log_index"),
    ]

    operations = [
        migrations.AddField(
            model_name="webhookendpoint",
            name="disabled_code",
            field=models.CharField(blank=True, max_length=40),
        ),
        migrations.AddField(
            model_name="webhookendpoint",
            name="disabled_params",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.RunPython(forwards, backwards),
        migrations.RemoveField(
            model_name="webhookendpoint",
            name="disabled_reason",
        ),
    ]
