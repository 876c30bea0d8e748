"""Why a delivery attempt failed is stored as a code of hypereal_site.reasons and its
parameters (``WebhookAttempt.error_code``, ``WebhookMessage.last_error_code``) and
translated when shown: the delivery logs of an endpoint and of a deployment, and their
``/deliveries`` JSON, say it in the reader's language whichever language the sender had
(the worker's, a person's resend), with the stable code beside the sentence. Older rows
holding a sentence are converted by the data migration."""

import importlib

import pytest
from django.db import transaction
from django.utils import translation

from hypereal_site.crypto import encrypt
from tests.migrating import latest, migrate
from tests.sso.test_checks import dead_port
from webhooks import services
from webhooks.delivery import message_deliver
from webhooks.models import WebhookAttempt, WebhookEndpoint, WebhookMessage
from webhooks.signing import new_secret

from .factories import deployment_make, endpoint_make
from .receiver import Answer

pytestmark = pytest.mark.django_db

OTHER = {"en": "ar", "ar": "en"}
HTTP_503 = {"en": "HTTP status 503.", "ar": "رمز حالة HTTP 503."}
UNREACHABLE = {
    "en": "127.0.0.1 could not be reached.",
    "ar": "تعذّر الوصول إلى \u2068127.0.0.1\u2069.",
}


def reader(user, language: str) -> None:
    user.language = language
    user.save(update_fields=["language"])


def failed_at_endpoint(team, receiver, *, writer: str):
    """An event to the team's endpoint that answers 503, sent under ``writer``."""
    endpoint, secret = endpoint_make(team["org"], team["owner"], receiver.url())
    receiver.secrets = [secret]
    receiver.script(Answer(503, b"busy"))
    with transaction.atomic():
        (message,) = services.event_emit(
            organization=team["org"], event_type="balance.low", data={"x": 1}
        )
    with translation.override(writer):
        attempt = message_deliver(message_id=message.pk)
    return endpoint, attempt


def failed_at_deployment(team, *, writer: str):
    """A job event to the deployment ``comfy``'s own URL, where nothing listens."""
    deployment = deployment_make(
        team["org"], webhook_url=f"http://127.0.0.1:{dead_port()}/hook", secret=new_secret()
    )
    with transaction.atomic():
        (message,) = services.event_emit(
            organization=team["org"],
            event_type="job.succeeded",
            data={"jobId": "j"},
            deployment=deployment,
        )
    with translation.override(writer):
        return message_deliver(message_id=message.pk)


@pytest.mark.parametrize("writer", ["en", "ar"])
def test_an_endpoints_log_says_it_in_the_readers_language(team, receiver, as_member, writer):
    endpoint, attempt = failed_at_endpoint(team, receiver, writer=writer)
    assert (attempt.error_code, attempt.error_params) == ("http_status", {"status": 503})
    message = WebhookMessage.objects.get()
    assert (message.last_error_code, message.last_error_params) == (
        "http_status",
        {"status": 503},
    )

    reader(team["admin"], OTHER[writer])
    page = as_member("admin", api=False).get(
        f"/settings/organization/webhooks/{endpoint.public_id}"
    )
    html = page.content.decode()
    assert page.status_code == 200 and 'data-code="http_status"' in html
    assert HTTP_503[OTHER[writer]] in html and HTTP_503[writer] not in html

    api = as_member("owner")
    for language, sentence in HTTP_503.items():
        body = api.get(
            f"/api/webhooks/{endpoint.public_id}/deliveries", HTTP_ACCEPT_LANGUAGE=language
        ).json()
        (delivery,) = body["deliveries"]
        assert (delivery["lastError"], delivery["lastErrorCode"]) == (sentence, "http_status")
        (tried,) = delivery["attempts"]
        assert (tried["error"], tried["errorCode"], tried["errorParams"]) == (
            sentence,
            "http_status",
            {"status": 503},
        ), language


@pytest.mark.parametrize("writer", ["en", "ar"])
def test_a_deployments_log_says_it_in_the_readers_language(team, as_member, writer):
    attempt = failed_at_deployment(team, writer=writer)
    assert (attempt.error_code, attempt.error_params) == ("unreachable", {"host": "127.0.0.1"})

    reader(team["owner"], OTHER[writer])
    html = as_member("owner", api=False).get("/infra/deployments/comfy/webhooks").content.decode()
    assert 'data-code="unreachable"' in html
    assert UNREACHABLE[OTHER[writer]] in html and UNREACHABLE[writer] not in html

    reader(team["owner"], "")
    api = as_member("owner")
    for language, sentence in UNREACHABLE.items():
        body = api.get("/api/deployments/comfy/deliveries", HTTP_ACCEPT_LANGUAGE=language).json()
        (delivery,) = body["deliveries"]
        (tried,) = delivery["attempts"]
        assert (tried["error"], tried["errorCode"]) == (sentence, "unreachable"), language
        assert delivery["lastErrorCode"] == "unreachable"


def test_a_redirect_and_a_success_are_told_apart(team, receiver):
    _endpoint, secret = endpoint_make(team["org"], team["owner"], receiver.url())
    receiver.secrets = [secret]
    receiver.script(Answer(307, b"", {"Location": receiver.url("/elsewhere")}), Answer(200))
    with transaction.atomic():
        (message,) = services.event_emit(
            organization=team["org"], event_type="balance.low", data={"x": 1}
        )
    redirected = message_deliver(message_id=message.pk)
    assert (redirected.error_code, redirected.error_params) == ("http_redirect", {"status": 307})
    with translation.override("ar"):
        assert redirected.error == "رمز حالة HTTP 307. لا تُتّبع عمليات إعادة التوجيه."

    WebhookMessage.objects.filter(pk=message.pk).update(next_attempt_at=message.created_at)
    delivered = message_deliver(message_id=message.pk)
    assert delivered.succeeded and (delivered.error_code, delivered.error) == ("", "")
    message.refresh_from_db()
    assert (message.last_error_code, message.last_error_params, message.last_error) == (
        "",
        {},
        "",
    )


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("HTTP status 503.", ("http_status", {"status": 503})),
        ("رمز حالة HTTP 500.", ("http_status", {"status": 500})),
        (
            "HTTP status 302. Redirects are not followed.",
            ("http_redirect", {"status": 302}),
        ),
        (
            "رمز حالة HTTP 307. لا تُتّبع عمليات إعادة التوجيه.",
            ("http_redirect", {"status": 307}),
        ),
        (
            "hooks.example.com took too long to answer.",
            ("timed_out", {"host": "hooks.example.com"}),
        ),
        (
            "استغرق hooks.example.com وقتًا طويلًا للإجابة.",
            ("timed_out", {"host": "hooks.example.com"}),
        ),
        ("The TLS connection to a.example failed.", ("tls_failed", {"host": "a.example"})),
        ("تعذّر الوصول إلى 10.0.0.7.", ("unreachable", {"host": "10.0.0.7"})),
        ("a.example could not be resolved.", ("unresolvable", {"host": "a.example"})),
        (
            "a.example points to an address that is not public (loopback).",
            ("private_address", {"host": "a.example", "why": "loopback"}),
        ),
        ("The connection to a.example broke off.", ("connection_broken", {"host": "a.example"})),
        (
            "a.example sent more than 65536 bytes.",
            ("too_large", {"host": "a.example", "limit": 65536}),
        ),
        ("Only https:// URLs can be fetched.", ("https_only", {})),
        ("لا يمكن جلب سوى عناوين https://\u200e.", ("https_only", {})),
        ("The endpoint is disabled.", ("endpoint_disabled", {})),
        ("لم يعد لعملية النشر Webhook URL.", ("no_webhook_url", {})),
        ("سر التوقيع ليس سرًا من نوع whsec_.", ("secret_not_whsec", {})),
        ("The signing secret cannot be decrypted.", ("secret_undecryptable", {})),
        ("Something else.", ("legacy", {"text": "Something else."})),
        ("", ("", {})),
    ],
)
def test_the_data_migration_recognises_the_sentences_stored_before(sentence, expected):
    migration = importlib.import_module("webhooks.migrations.0004_delivery_error_code")
    assert migration.error_code(sentence) == expected


@pytest.mark.django_db(transaction=True)
def test_the_data_migration_converts_the_rows(team):
    endpoint = WebhookEndpoint.objects.create(  # by the ORM: no DNS look-up
        organization=team["org"],
        url="https://hooks.example.com/x",
        event_types=["balance.low"],
        secret_encrypted=encrypt(new_secret()),
    )
    message = WebhookMessage.objects.create(
        organization=team["org"], endpoint=endpoint, event_type="balance.low", body="{}"
    )
    for number in (1, 2, 3):
        WebhookAttempt.objects.create(message=message, number=number, url=endpoint.url)
    old = {
        1: "رمز حالة HTTP 503.",
        2: "hooks.example.com took too long to answer.",
        3: "The receiver was on fire.",
    }
    try:
        apps = migrate("webhooks", "0003_disabled_reason_code")
        OldAttempt = apps.get_model("webhooks", "WebhookAttempt")
        for number, sentence in old.items():
            OldAttempt.objects.filter(number=number).update(error=sentence)
        apps.get_model("webhooks", "WebhookMessage").objects.update(last_error=old[3])
        migrate("webhooks", "0004_delivery_error_code")
    finally:
        latest()

    attempts = {a.number: a for a in WebhookAttempt.objects.all()}
    assert (attempts[1].error_code, attempts[1].error_params) == ("http_status", {"status": 503})
    assert (attempts[2].error_code, attempts[2].error_params) == (
        "timed_out",
        {"host": "hooks.example.com"},
    )
    with translation.override("en"):
        assert attempts[1].error == "HTTP status 503."
    with translation.override("ar"):
        assert attempts[2].error == "استغرق \u2068hooks.example.com\u2069 وقتًا طويلًا للإجابة."
    assert attempts[3].error_code == "legacy" and attempts[3].error == old[3]
    message = WebhookMessage.objects.get()
    assert (message.last_error_code, message.last_error) == ("legacy", old[3])
