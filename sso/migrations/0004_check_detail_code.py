"""A connection's save-time check stored "<code>: <sentence>" in ``check_reason``, the
sentence frozen in the language of whoever saved. Now ``check_reason`` is the code alone and
the sentence is a code of hypereal_site.reasons and its parameters, translated when shown.

Existing sentences, in English or in Arabic (the two languages they were written in), are
recognised and turned into their code; anything else is kept as it was under ``legacy``.
"""

import re

from django.db import migrations, models

ISOLATES = "\u2066\u2067\u2068\u2069"
#: (code, parameter names, pattern): the sentences the check used to store, both languages.
#: Copied here (not imported) so the migration keeps its meaning.
KNOWN = [
    ("invalid_url", (), r"This is not a valid URL\.$"),
    ("invalid_url", (), r"هذا ليس عنوان URL صالحًا\.$"),
    ("https_only", (), r"Only https:// URLs can be fetched\.$"),
    ("https_only", (), r"لا يمكن جلب سوى عناوين https://\u200e?\.$"),
    ("url_credentials", (), r"A URL with a user name or password is not accepted\.$"),
    ("url_credentials", (), r"لا يُقبل عنوان URL يحتوي على اسم مستخدم أو كلمة مرور\.$"),
    ("unresolvable", ("host",), r"(?P<host>.+) could not be resolved\.$"),
    ("unresolvable", ("host",), r"تعذّر تحليل اسم (?P<host>.+)\.$"),
    (
        "private_address",
        ("host", "why"),
        r"(?P<host>.+) points to an address that is not public \((?P<why>.+)\)\.$",
    ),
    ("private_address", ("host", "why"), r"يشير (?P<host>.+) إلى عنوان غير عام \((?P<why>.+)\)\.$"),
    ("unreachable", ("host",), r"(?P<host>.+) could not be reached\.$"),
    ("unreachable", ("host",), r"تعذّر الوصول إلى (?P<host>.+)\.$"),
    ("tls_failed", ("host",), r"The TLS connection to (?P<host>.+) failed\.$"),
    ("tls_failed", ("host",), r"فشل اتصال TLS بـ (?P<host>.+)\.$"),
    ("connection_broken", ("host",), r"The connection to (?P<host>.+) broke off\.$"),
    ("connection_broken", ("host",), r"انقطع الاتصال بـ (?P<host>.+)\.$"),
    ("timed_out", ("host",), r"(?P<host>.+) took too long to answer\.$"),
    ("timed_out", ("host",), r"استغرق (?P<host>.+) وقتًا طويلًا للإجابة\.$"),
    ("too_large", ("host", "limit"), r"(?P<host>.+) sent more than (?P<limit>\d+) bytes\.$"),
    ("too_large", ("host", "limit"), r"أرسل (?P<host>.+) أكثر من (?P<limit>\d+) بايت\.$"),
    ("too_many_redirects", ("host",), r"(?P<host>.+) redirected too many times\.$"),
    ("too_many_redirects", ("host",), r"أعاد (?P<host>.+) التوجيه مرات كثيرة جدًا\.$"),
    (
        "unexpected_status",
        ("host", "status"),
        r"(?P<host>.+) answered with HTTP status (?P<status>\d+)\.$",
    ),
    ("unexpected_status", ("host", "status"), r"أجاب (?P<host>.+) برمز حالة HTTP (?P<status>\d+)\.$"),
    ("invalid_json", ("host",), r"(?P<host>.+) did not answer with valid JSON\.$"),
    ("invalid_json", ("host",), r"لم يُجب (?P<host>.+) بـ JSON صالح\.$"),
    ("discovery_not_object", (), r"The discovery document is not a JSON object\.$"),
    ("discovery_not_object", (), r"مستند الاكتشاف ليس كائن JSON\.$"),
    (
        "issuer_mismatch",
        ("theirs",),
        r"The discovery document is for another issuer \((?P<theirs>.*)\)\.$",
    ),
    ("issuer_mismatch", ("theirs",), r"مستند الاكتشاف يخص جهة مُصدِرة أخرى \((?P<theirs>.*)\)\.$"),
    ("discovery_incomplete", ("fields",), r"The discovery document lacks (?P<fields>.+)\.$"),
    ("discovery_incomplete", ("fields",), r"ينقص مستند الاكتشاف (?P<fields>.+)\.$"),
    (
        "no_supported_algorithm",
        (),
        r"The provider signs ID tokens with neither RS256 nor ES256\.$",
    ),
    ("no_supported_algorithm", (), r"لا يوقّع المزوّد رموز ID بـ RS256 ولا بـ ES256\.$"),
    ("sha1_only", (), r"The identity provider offers only SHA-1, which sign-in refuses\."),
    ("sha1_only", (), r"لا يقدّم مزوّد الهوية سوى SHA-1"),
    ("certificate_expired", (), r"Every signing certificate has expired\.$"),
    ("certificate_expired", (), r"انتهت صلاحية كل شهادات التوقيع\.$"),
]
#: Parameters stored as numbers.
NUMBERS = {"limit", "status"}


def detail_code(sentence: str) -> tuple[str, dict]:
    """(code, params) of a stored sentence; ("", {}) for none."""
    sentence = sentence.strip()
    if not sentence:
        return "", {}
    for code, names, pattern in KNOWN:
        match = re.match(pattern, sentence)
        if match:
            params = {}
            for name in names:
                value = match.group(name).strip(ISOLATES)
                params[name] = int(value) if name in NUMBERS else value
            return code, params
    return "legacy", {"text": sentence}


def split(stored: str) -> tuple[str, str]:
    """(code, sentence) of an old ``check_reason``: "<code>: <sentence>"."""
    code, sep, sentence = stored.partition(": ")
    return (code, sentence) if sep else ("", stored)


def forwards(apps, schema_editor):
    SsoConnection = apps.get_model("sso", "SsoConnection")
    for connection in SsoConnection.objects.exclude(check_reason="").only("pk", "check_reason"):
        reason, sentence = split(connection.check_reason)
        code, params = detail_code(sentence)
        SsoConnection.objects.filter(pk=connection.pk).update(
            check_reason=reason[:40], check_detail_code=code, check_detail_params=params
        )


ENGLISH = {
    "invalid_url": "This is not a valid URL.",
    "https_only": "Only https:// URLs can be fetched.",
    "url_credentials": "A URL with a user name or password is not accepted.",
    "unresolvable": "{host} could not be resolved.",
    "private_address": "{host} points to an address that is not public ({why}).",
    "unreachable": "{host} could not be reached.",
    "tls_failed": "The TLS connection to {host} failed.",
    "connection_broken": "The connection to {host} broke off.",
    "timed_out": "{host} took too long to answer.",
    "too_large": "{host} sent more than {limit} bytes.",
    "too_many_redirects": "{host} redirected too many times.",
    "unexpected_status": "{host} answered with HTTP status {status}.",
    "invalid_json": "{host} did not answer with valid JSON.",
    "discovery_not_object": "The discovery document is not a JSON object.",
    "issuer_mismatch": "The discovery document is for another issuer ({theirs}).",
    "discovery_incomplete": "The discovery document lacks {fields}.",
    "no_supported_algorithm": "The provider signs ID tokens with neither RS256 nor ES256.",
    "sha1_only": (
        "The identity provider offers only SHA-1, which sign-in refuses. Switch its "
        "signing algorithm (and certificate) to SHA-256."
    ),
    "certificate_expired": "Every signing certificate has expired.",
    "legacy": "{text}",
}


def backwards(apps, schema_editor):
    SsoConnection = apps.get_model("sso", "SsoConnection")
    for connection in SsoConnection.objects.exclude(check_reason=""):
        code = connection.check_detail_code
        try:
            sentence = ENGLISH[code].format(**connection.check_detail_params)
        except (KeyError, IndexError):
            sentence = code
        stored = f"{connection.check_reason}: {sentence}" if sentence else connection.check_reason
        SsoConnection.objects.filter(pk=connection.pk).update(check_reason=stored[:500])


class Migration(migrations.Migration):
    dependencies = [
        ("sso", "0003_last_check_code"),
    ]

    operations = [
        migrations.AddField(
            model_name="ssoconnection",
            name="check_detail_code",
            field=models.CharField(blank=True, max_length=40),
        ),
        migrations.AddField(
            model_name="ssoconnection",
            name="check_detail_params",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.RunPython(forwards, backwards),
        migrations.AlterField(
            model_name="ssoconnection",
            name="check_reason",
            field=models.CharField(blank=True, max_length=40),
        ),
    ]
