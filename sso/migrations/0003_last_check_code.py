"""A domain's last check detail becomes a code and its parameters (hypereal_site.reasons),
translated when shown, instead of a sentence frozen in one language.

Existing sentences, in English or Arabic, are recognised; a DNS failure's text (English,
from the resolver) becomes ``dns_lookup_failed`` with it as ``error``; anything else is
kept as it was under ``legacy``.
"""

import re

from django.db import migrations, models

ISOLATES = "\u2066\u2067\u2068\u2069"
#: (code, parameter or None, pattern): the sentences the code used to store, both languages.
KNOWN = [
    ("txt_other_value", None, r"The TXT record holds another value\.$"),
    ("txt_other_value", None, r"يحمل سجل TXT قيمة أخرى\.$"),
    ("txt_missing", "name", r"No TXT record at (?P<value>.+)\.$"),
    ("txt_missing", "name", r"لا يوجد سجل TXT في (?P<value>.+)\.$"),
    ("domain_taken", None, r"Another organization has verified this domain\.$"),
    ("domain_taken", None, r"وثّقت مؤسسة أخرى هذا النطاق\.$"),
]


def detail_code(sentence: str, result: str) -> tuple[str, dict]:
    sentence = sentence.strip()
    if not sentence:
        return "", {}
    for code, name, pattern in KNOWN:
        match = re.match(pattern, sentence)
        if match:
            return code, ({name: match.group("value").strip(ISOLATES)} if name else {})
    if result == "lookup_failed":  # dnscheck's own (English) words
        return "dns_lookup_failed", {"error": sentence[:200]}
    return "legacy", {"text": sentence}


def forwards(apps, schema_editor):
    SsoDomain = apps.get_model("sso", "SsoDomain")
    rows = SsoDomain.objects.exclude(last_check_detail="")
    for domain in rows.only("pk", "last_check_detail", "last_check_result"):
        code, params = detail_code(domain.last_check_detail, domain.last_check_result)
        SsoDomain.objects.filter(pk=domain.pk).update(
            last_check_code=code, last_check_params=params
        )


def backwards(apps, schema_editor):
    SsoDomain = apps.get_model("sso", "SsoDomain")
    english = {
        "txt_other_value": "The TXT record holds another value.",
        "txt_missing": "No TXT record at {name}.",
        "domain_taken": "Another organization has verified this domain.",
        "dns_lookup_failed": "{error}",
        "legacy": "{text}",
    }
    for domain in SsoDomain.objects.exclude(last_check_code=""):
        try:
            sentence = english[domain.last_check_code].format(**domain.last_check_params)
        except (KeyError, IndexError):
            sentence = domain.last_check_code
        SsoDomain.objects.filter(pk=domain.pk).update(last_check_detail=sentence[:300])


class Migration(migrations.Migration):
    dependencies = [
        ("sso", "0002_signin"),
    ]

    operations = [
        migrations.AddField(
            model_name="ssodomain",
            name="last_check_code",
            field=models.CharField(blank=True, max_length=40),
        ),
        migrations.AddField(
            model_name="ssodomain",
            name="last_check_params",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.RunPython(forwards, backwards),
        migrations.RemoveField(
            model_name="ssodomain",
            name="last_check_detail",
        ),
    ]
