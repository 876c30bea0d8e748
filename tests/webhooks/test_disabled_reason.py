"""Why an endpoint (or an API key) is disabled is stored as a code and its parameters and
translated when shown: the page, the email and the API say it in the reader's language,
whoever (or whichever worker) disabled it. Older rows holding a sentence are recognised
by the data migration."""

import importlib
import re

import pytest
from django.core import mail
from django.utils import translation

from hypereal_site.reasons import REASONS, reason_text
from orgs.audit_text import audit_change_sentences
from orgs.models import AuditEvent
from webhooks.delivery import message_deliver

from .factories import endpoint_make
from .receiver import Answer
from .test_delivery import emit

pytestmark = pytest.mark.django_db

GONE_EN = "The endpoint answered 410 Gone on"
GONE_AR = "أجابت نقطة النهاية بـ 410 Gone في"
PARAM = re.compile(r"%\(([a-z_]+)\)s")


@pytest.fixture
def gone(team, receiver, django_capture_on_commit_callbacks):
    """The team's endpoint, disabled by a 410 while English was active (as in a worker);
    its admin reads Arabic, its owner English."""
    admin = team["admin"]
    admin.language = "ar"
    admin.save(update_fields=["language"])
    endpoint, secret = endpoint_make(team["org"], team["owner"], receiver.url())
    receiver.secrets = [secret]
    receiver.script(Answer(410, b"gone"))
    (message,) = emit(team["org"])
    with translation.override("en"), django_capture_on_commit_callbacks(execute=True):
        message_deliver(message_id=message.pk)
    endpoint.refresh_from_db()
    return endpoint


def test_the_row_keeps_a_code_and_each_reader_gets_their_language(gone, team):
    assert (gone.enabled, gone.disabled_code) == (False, "gone_410")
    when = gone.disabled_params["when"]
    with translation.override("en"):
        assert gone.disabled_reason == f"{GONE_EN} {when}."
    with translation.override("ar"):
        assert gone.disabled_reason == f"{GONE_AR} {when}."

    by_recipient = {m.to[0]: m.body for m in mail.outbox}
    assert set(by_recipient) == {team["owner"].email, team["admin"].email}
    assert GONE_EN in by_recipient[team["owner"].email]
    assert GONE_AR in by_recipient[team["admin"].email]
    assert GONE_EN not in by_recipient[team["admin"].email]


def test_the_page_and_the_api_translate_it(gone, as_member, team):
    page = as_member("admin", api=False).get(f"/settings/organization/webhooks/{gone.public_id}")
    assert page.status_code == 200 and GONE_AR in page.content.decode()

    api = as_member("owner")
    for language, sentence in (("ar", GONE_AR), ("en", GONE_EN)):
        body = api.get(f"/api/webhooks/{gone.public_id}", HTTP_ACCEPT_LANGUAGE=language).json()
        assert body["disabledCode"] == "gone_410"
        assert body["disabledReason"].startswith(sentence), (language, body)


def test_the_audit_event_stores_the_code_and_reads_in_the_viewers_language(gone):
    (event,) = AuditEvent.objects.filter(action="webhook.disabled")
    assert event.after["reason"] == {"code": "gone_410", "when": gone.disabled_params["when"]}
    with translation.override("ar"):
        sentences = audit_change_sentences(event.before, event.after)
    assert any(GONE_AR in s for s in sentences), sentences


def test_a_person_disabling_it_is_named_in_each_language(as_member, team, receiver):
    endpoint, _secret = endpoint_make(team["org"], team["owner"], receiver.url())
    response = as_member("owner").patch(
        f"/api/webhooks/{endpoint.public_id}", {"enabled": False}, format="json"
    )
    assert response.status_code == 200, response.content
    endpoint.refresh_from_db()
    assert endpoint.disabled_code == "disabled_by"
    assert endpoint.disabled_params == {"who": team["owner"].email}
    with translation.override("ar"):
        arabic = endpoint.disabled_reason
    # The email is isolated (FSI … PDI) inside the right-to-left sentence.
    assert arabic == f"عطّلها \u2068{team['owner'].email}\u2069."
    with translation.override("en"):
        assert endpoint.disabled_reason == f"Disabled by {team['owner'].email}."

    as_member("owner").patch(
        f"/api/webhooks/{endpoint.public_id}", {"enabled": True}, format="json"
    )
    endpoint.refresh_from_db()
    assert (endpoint.disabled_code, endpoint.disabled_params, endpoint.disabled_reason) == (
        "",
        {},
        "",
    )


def test_every_reason_has_an_arabic_sentence_with_the_same_parameters():
    for code, template in REASONS.items():
        with translation.override("en"):
            english = str(template)
        with translation.override("ar"):
            arabic = str(template)
        assert arabic != english, f"{code} is not translated"
        assert sorted(PARAM.findall(arabic)) == sorted(PARAM.findall(english)), code


def test_a_damaged_or_older_reason_is_still_shown():
    assert reason_text("legacy", {"text": "Turned off by support."}) == "Turned off by support."
    assert reason_text("no_such_code", {}) == "no_such_code"
    with translation.override("en"):
        assert reason_text("gone_410", {}) == f"{GONE_EN} …."  # a parameter went missing


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        (
            "The endpoint answered 410 Gone on 2026-11-29 18:02 UTC.",
            ("gone_410", {"when": "2026-11-29 18:02 UTC"}),
        ),
        (f"{GONE_AR} 2026-11-29 18:02 UTC.", ("gone_410", {"when": "2026-11-29 18:02 UTC"})),
        (
            "No delivery succeeded since 2026-11-26 09:00 UTC; every retry of a message failed.",
            ("repeated_failures", {"since": "2026-11-26 09:00 UTC"}),
        ),
        (
            "لم ينجح أي تسليم منذ 2026-11-26 09:00 UTC؛ فشلت كل محاولات إعادة إرسال الرسائل.",
            ("repeated_failures", {"since": "2026-11-26 09:00 UTC"}),
        ),
        ("Disabled by ops@example.com.", ("disabled_by", {"who": "ops@example.com"})),
        ("عطّلها \u2068ops@example.com\u2069.", ("disabled_by", {"who": "ops@example.com"})),
        ("Turned off by support.", ("legacy", {"text": "Turned off by support."})),
        ("", ("", {})),
    ],
)
def test_the_data_migration_recognises_the_sentences_stored_before(sentence, expected):
    migration = importlib.import_module("webhooks.migrations.0003_disabled_reason_code")
    assert migration.reason_code(sentence) == expected
