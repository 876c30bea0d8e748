"""Why a delivery attempt failed (``WebhookAttempt.error``, ``WebhookMessage.last_error``)
becomes a code and its parameters (hypereal_site.reasons), translated when shown, instead
of a sentence frozen in the language of whoever sent (the Celery worker, in English; a
person's language for a test event or a resend).

Existing sentences, in English or in Arabic (the two languages they were written in), are
recognised and turned into their code; anything else is kept as it was under ``legacy``.
Rows are converted one distinct sentence at a time (a log holds few different ones).
"""

import re

from django.db import migrations, models

ISOLATES = "\u2066\u2067\u2068\u2069"
#: (code, pattern): every sentence an attempt used to store, both languages, its parameters
#: as named groups. Copied here (not imported) so the migration keeps its meaning.
KNOWN = [
    # webhooks.delivery
    ("endpoint_disabled", r"The endpoint is disabled\.$"),
    ("endpoint_disabled", r"نقطة النهاية معطّلة\.$"),
    ("secret_undecryptable", r"The signing secret cannot be decrypted\.$"),
    ("secret_undecryptable", r"تعذّر فك تشفير سر التوقيع\.$"),
    ("no_webhook_url", r"The deployment has no webhook URL any more\.$"),
    ("no_webhook_url", r"لم يعد لعملية النشر Webhook URL\.$"),
    ("secret_not_whsec", r"The signing secret is not a whsec_ secret\.$"),
    ("secret_not_whsec", r"سر التوقيع ليس سرًا من نوع whsec_\.$"),
    ("http_redirect", r"HTTP status (?P<status>\d+)\. Redirects are not followed\.$"),
    ("http_redirect", r"رمز حالة HTTP (?P<status>\d+)\. لا تُتّبع عمليات إعادة التوجيه\.$"),
    ("http_status", r"HTTP status (?P<status>\d+)\.$"),
    ("http_status", r"رمز حالة HTTP (?P<status>\d+)\.$"),
    # hypereal_site.outbound
    ("invalid_url", r"This is not a valid URL\.$"),
    ("invalid_url", r"هذا ليس عنوان URL صالحًا\.$"),
    ("https_only", r"Only https:// URLs can be fetched\.$"),
    ("https_only", r"لا يمكن جلب سوى عناوين https://\u200e?\.$"),
    ("url_credentials", r"A URL with a user name or password is not accepted\.$"),
    ("url_credentials", r"لا يُقبل عنوان URL يحتوي على اسم مستخدم أو كلمة مرور\.$"),
    ("unresolvable", r"(?P<host>.+) could not be resolved\.$"),
    ("unresolvable", r"تعذّر تحليل اسم (?P<host>.+)\.$"),
    ("private_address", r"(?P<host>.+) points to an address that is not public \((?P<why>.+)\)\.$"),
    ("private_address", r"يشير (?P<host>.+) إلى عنوان غير عام \((?P<why>.+)\)\.$"),
    ("unreachable", r"(?P<host>.+) could not be reached\.$"),
    ("unreachable", r"تعذّر الوصول إلى (?P<host>.+)\.$"),
    ("tls_failed", r"The TLS connection to (?P<host>.+) failed\.$"),
    ("tls_failed", r"فشل اتصال TLS بـ (?P<host>.+)\.$"),
    ("connection_broken", r"The connection to (?P<host>.+) broke off\.$"),
    ("connection_broken", r"انقطع الاتصال بـ (?P<host>.+)\.$"),
    ("timed_out", r"(?P<host>.+) took too long to answer\.$"),
    ("timed_out", r"استغرق (?P<host>.+) وقتًا طويلًا للإجابة\.$"),
    ("too_large", r"(?P<host>.+) sent more than (?P<limit>\d+) bytes\.$"),
    ("too_large", r"أرسل (?P<host>.+) أكثر من (?P<limit>\d+) بايت\.$"),
    ("too_many_redirects", r"(?P<host>.+) redirected too many times\.$"),
    ("too_many_redirects", r"أعاد (?P<host>.+) التوجيه مرات كثيرة جدًا\.$"),
    ("unexpected_status", r"(?P<host>.+) answered with HTTP status (?P<status>\d+)\.$"),
    ("unexpected_status", r"أجاب (?P<host>.+) برمز حالة HTTP (?P<status>\d+)\.$"),
]
#: Parameters stored as numbers.
NUMBERS = {"limit", "status"}


def error_code(sentence: str) -> tuple[str, dict]:
    """(code, params) of a stored sentence; ("", {}) for none."""
    sentence = sentence.strip()
    if not sentence:
        return "", {}
    for code, pattern in KNOWN:
        match = re.match(pattern, sentence)
        if match:
            params = {}
            for name, value in match.groupdict().items():
                value = value.strip(ISOLATES)
                params[name] = int(value) if name in NUMBERS else value
            return code, params
    return "legacy", {"text": sentence}


def _convert(model, text_field: str, code_field: str, params_field: str) -> None:
    rows = model.objects.exclude(**{text_field: ""})
    for sentence in list(rows.values_list(text_field, flat=True).distinct()):
        code, params = error_code(sentence)
        model.objects.filter(**{text_field: sentence}).update(
            **{code_field: code, params_field: params}
        )


def forwards(apps, schema_editor):
    _convert(apps.get_model("webhooks", "WebhookAttempt"), "error", "error_code", "error_params")
    _convert(
        apps.get_model("webhooks", "WebhookMessage"),
        "last_error",
        "last_error_code",
        "last_error_params",
    )


ENGLISH = {
    "endpoint_disabled": "The endpoint is disabled.",
    "secret_undecryptable": "The signing secret cannot be decrypted.",
    "no_webhook_url": "The deployment has no webhook URL any more.",
    "secret_not_whsec": "The signing secret is not a whsec_ secret.",
    "http_status": "HTTP status {status}.",
    "http_redirect": "HTTP status {status}. Redirects are not followed.",
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
    "legacy": "{text}",
}


def _english(code: str, params: dict) -> str:
    try:
        return ENGLISH[code].format(**params)[:500]
    except (KeyError, IndexError):
        return code


def backwards(apps, schema_editor):
    WebhookAttempt = apps.get_model("webhooks", "WebhookAttempt")
    for attempt in WebhookAttempt.objects.exclude(error_code="").iterator():
        sentence = _english(attempt.error_code, attempt.error_params)
        WebhookAttempt.objects.filter(pk=attempt.pk).update(error=sentence)
    WebhookMessage = apps.get_model("webhooks", "WebhookMessage")
    for message in WebhookMessage.objects.exclude(last_error_code="").iterator():
        sentence = _english(message.last_error_code, message.last_error_params)
        WebhookMessage.objects.filter(pk=message.pk).update(last_error=sentence)


class Migration(migrations.Migration):
    dependencies = [
        ("webhooks", "0003_disabled_reason_code"),
    ]

    operations = [
        migrations.AddField(
            model_name="webhookattempt",
            name="error_code",
            field=models.CharField(blank=True, max_length=40),
        ),
        migrations.AddField(
            model_name="webhookattempt",
            name="error_params",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.AddField(
            model_name="webhookmessage",
            name="last_error_code",
            field=models.CharField(blank=True, max_length=40),
        ),
        migrations.AddField(
            model_name="webhookmessage",
            name="last_error_params",
            field=models.JSONField(blank=True, default=dict),
        ),
        migrations.RunPython(forwards, backwards),
        migrations.RemoveField(
            model_name="webhookattempt",
            name="error",
        ),
        migrations.RemoveField(
            model_name="webhookmessage",
            name="last_error",
        ),
    ]
