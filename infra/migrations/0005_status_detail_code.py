"""A deployment's status detail becomes a code and its parameters (hypereal_site.reasons),
translated when shown, instead of a sentence frozen in the language of whoever caused it
(often the beat task, in English).

Existing sentences, in English or in Arabic (the two languages they were written in), are
recognised and turned into their code, the provider's own words kept as ``error``; anything
else is kept as it was under ``legacy``.
"""

import re

from django.db import migrations, models

ISOLATES = "\u2066\u2067\u2068\u2069"
#: (code, pattern): the sentences the code used to store, both languages. Copied here (not
#: imported) so the migration keeps its meaning. Each names its parameter as a group.
KNOWN = [
    ("endpoint_create_failed", r"Creating the GPU endpoint failed \((?P<error>.*)\); retrying\.$"),
    ("endpoint_create_failed", r"فشل إنشاء نقطة نهاية GPU \((?P<error>.*)\)؛ جارٍ إعادة المحاولة\.$"),
    ("endpoint_update_failed", r"Updating the GPU endpoint failed \((?P<error>.*)\); retrying\.$"),
    ("endpoint_update_failed", r"فشل تحديث نقطة نهاية GPU \((?P<error>.*)\)؛ جارٍ إعادة المحاولة\.$"),
    ("endpoint_delete_failed", r"Deleting the GPU endpoint failed \((?P<error>.*)\); retrying\.$"),
    ("endpoint_delete_failed", r"فشل حذف نقطة نهاية GPU \((?P<error>.*)\)؛ جارٍ إعادة المحاولة\.$"),
    (
        "endpoint_create_refused",
        r"Creating the GPU endpoint was refused by the provider: (?P<error>.*)$",
    ),
    ("endpoint_create_refused", r"رفض المزوّد إنشاء نقطة نهاية GPU: (?P<error>.*)$"),
    (
        "endpoint_update_refused",
        r"Updating the GPU endpoint was refused by the provider: (?P<error>.*)$",
    ),
    ("endpoint_update_refused", r"رفض المزوّد تحديث نقطة نهاية GPU: (?P<error>.*)$"),
    ("endpoint_refused", r"The provider refused the endpoint: (?P<error>.*)$"),
    ("endpoint_refused", r"رفض المزوّد نقطة النهاية: (?P<error>.*)$"),
    ("no_worker_in_time", r"No worker came up within (?P<minutes>\d+) minutes\.$"),
    ("no_worker_in_time", r"لم يبدأ أي عامل خلال (?P<minutes>\d+) دقيقة\.$"),
    ("provider_no_answer", r"The provider did not answer \((?P<error>.*)\); retrying\.$"),
    ("provider_no_answer", r"لم يُجب المزوّد \((?P<error>.*)\)؛ جارٍ إعادة المحاولة\.$"),
]


def detail_code(sentence: str) -> tuple[str, dict]:
    """(code, params) of a stored sentence; ("", {}) for none."""
    sentence = sentence.strip()
    if not sentence:
        return "", {}
    for code, pattern in KNOWN:
        match = re.match(pattern, sentence, re.DOTALL)
        if match:
            params = {k: v.strip(ISOLATES) for k, v in match.groupdict().items()}
            if "minutes" in params:
                params["minutes"] = int(params["minutes"])
            return code, params
    return "legacy", {"text": sentence}


def forwards(apps, schema_editor):
    Deployment = apps.get_model("infra", "Deployment")
    rows = Deployment.objects.exclude(status_detail="")
    for sentence in list(rows.values_list("status_detail", flat=True).distinct()):
        code, params = detail_code(sentence)
        Deployment.objects.filter(status_detail=sentence).update(
            status_detail_code=code, status_detail_params=params
        )


ENGLISH = {
    "endpoint_create_failed": "Creating the GPU endpoint failed ({error}); retrying.",
    "endpoint_update_failed": "Updating the GPU endpoint failed ({error}); retrying.",
    "endpoint_delete_failed": "Deleting the GPU endpoint failed ({error}); retrying.",
    "endpoint_create_refused": "Creating the GPU endpoint was refused by the provider: {error}",
    "endpoint_update_refused": "Updating the GPU endpoint was refused by the provider: {error}",
    "endpoint_refused": "The provider refused the endpoint: {error}",
    "no_worker_in_time": "No worker came up within {minutes} minutes.",
    "provider_no_answer": "The provider did not answer ({error}); retrying.",
    "legacy": "{text}",
}


def backwards(apps, schema_editor):
    Deployment = apps.get_model("infra", "Deployment")
    for deployment in Deployment.objects.exclude(status_detail_code=""):
        code = deployment.status_detail_code
        try:
            sentence = ENGLISH[code].format(**deployment.status_detail_params)
        except (KeyError, IndexError):
            sentence = code
        Deployment.objects.filter(pk=deployment.pk).update(status_detail=sentence[:500])


class Migration(migrations.Migration):
    dependencies = [
        ("infra", "0004_gpujobs_serverless_seed"),
    ]

    operations = [
        migrations.AddField(
            model_name="deployment",
            name="status_detail_code",
            field=models.CharField(blank=True, max_length=40),
        ),
        migrations.AddField(
            model_name="deployment",
            name="status_detail_params",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.RunPython(forwards, backwards),
        migrations.RemoveField(
            model_name="deployment",
            name="status_detail",
        ),
    ]
