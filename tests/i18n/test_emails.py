"""Every email we send exists in both languages, subject included, and goes out in the
recipient's language (their saved preference; else the language of the page that caused
it, or the inviter's for someone without an account)."""

import re
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from django.core import mail
from django.template.loader import render_to_string
from django.test import Client
from django.utils import translation
from django.utils.functional import lazy

from billing import ledger
from billing.models import LedgerEntry
from hypereal_site.reasons import reason_text
from orgs.services import invitation_create
from tests.accounts.factories import UserFactory
from tests.billing.factories import CREDIT, fund, member_join, new_key, team_wallet

ARABIC = re.compile(r"[\u0600-\u06FF]")

ORG = SimpleNamespace(name="Acme Inc", is_personal=False)
PERSONAL = SimpleNamespace(name="", is_personal=True)
KEY = SimpleNamespace(name="prod-eu", masked="ck_…a1b2")


#: An endpoint's reason as its property gives it: translated when the template reads it.
GONE_REASON = lazy(lambda: reason_text("gone_410", {"when": "2026-11-29 18:02 UTC"}), str)()


def alert(level: int, disabled: bool = False):
    return SimpleNamespace(level=level, key_disabled=disabled, period="2026-11")


#: (name, template prefix, context): every email template of ours, in each of its shapes.
EMAILS = [
    ("key-alert-80", "apikeys/email/alert", {"alert": alert(80), "key": KEY, "organization": ORG}),
    (
        "key-alert-100",
        "apikeys/email/alert",
        {"alert": alert(100, True), "key": KEY, "organization": PERSONAL},
    ),
    ("low-balance-team", "billing/email/low_balance", {"organization": ORG, "balance": "19"}),
    ("low-balance-personal", "billing/email/low_balance", {"organization": PERSONAL}),
    (
        "invitation",
        "orgs/email/invitation",
        {
            "organization": ORG,
            "inviter": "owner@example.com",
            "site_name": "Hypereal Console",
            "invitation": SimpleNamespace(
                email="new@example.com",
                get_role_display="Developer",
                expires_at=datetime(2026, 12, 6, 12, 0, tzinfo=UTC),
            ),
        },
    ),
    (
        "sso-domain-missing",
        "sso/email/domain",
        {
            "organization": ORG,
            "domain": "example.com",
            "unverified": False,
            "deadline": datetime(2026, 12, 6, tzinfo=UTC),
            "record": SimpleNamespace(name="_hypereal.example.com", value="v=1"),
        },
    ),
    (
        "sso-domain-unverified",
        "sso/email/domain",
        {
            "organization": ORG,
            "domain": "example.com",
            "unverified": True,
            "grace_days": 7,
            "record": SimpleNamespace(name="_hypereal.example.com", value="v=1"),
        },
    ),
    (
        "break-glass",
        "sso/email/break_glass",
        {"organization": ORG, "email": "owner@example.com", "moment": "2026-11-29 10:00"},
    ),
    ("password-reset-sso", "account/email/password_reset_sso", {"refusal": "Use SSO."}),
    (
        "webhook-disabled",
        "webhooks/email/disabled",
        {
            "endpoint": SimpleNamespace(
                url="https://hooks.example.com/in", disabled_reason=GONE_REASON
            ),
            "organization": ORG,
            "url": "https://console.example/settings/organization/webhooks/x",
            "site_name": "Hypereal Console",
        },
    ),
    (
        "webhook-disabled-personal",
        "webhooks/email/disabled",
        {
            "endpoint": SimpleNamespace(
                url="https://hooks.example.com/in", disabled_reason=GONE_REASON
            ),
            "organization": PERSONAL,
            "url": "https://console.example/settings/webhooks/x",
            "site_name": "Hypereal Console",
        },
    ),
]


def render(prefix: str, context: dict, language: str) -> tuple[str, str]:
    with translation.override(language):
        subject = render_to_string(f"{prefix}_subject.txt", context).strip()
        body = render_to_string(f"{prefix}_message.txt", context)
    return subject, body


@pytest.mark.parametrize(("name", "prefix", "context"), EMAILS, ids=[e[0] for e in EMAILS])
def test_every_email_renders_in_both_languages_with_a_translated_subject(name, prefix, context):
    en_subject, en_body = render(prefix, context, "en")
    ar_subject, ar_body = render(prefix, context, "ar")

    assert en_subject and not ARABIC.search(en_subject + en_body)
    assert ar_subject != en_subject
    assert ARABIC.search(ar_subject), f"{name}: the Arabic subject is not translated"
    assert ARABIC.search(ar_body), f"{name}: the Arabic body is not translated"
    # Names, ids and amounts are carried over as they are (Western digits).
    for value in ("Acme Inc", "prod-eu", "example.com", "19"):
        if value in en_subject:
            assert value in ar_subject


@pytest.mark.django_db
def test_the_low_balance_email_goes_to_each_recipient_in_their_language(
    django_capture_on_commit_callbacks,
):
    owner = UserFactory(email="owner@example.com", language="ar")
    wallet = team_wallet(owner=owner)
    member_join(wallet.organization, role="billing", user=UserFactory(email="b@example.com"))
    fund(wallet, 100 * CREDIT)
    wallet.low_balance_threshold_microcredits = 20 * CREDIT
    wallet.save(update_fields=["low_balance_threshold_microcredits"])

    with django_capture_on_commit_callbacks(execute=True):
        ledger.ledger_post(
            wallet=wallet,
            amount_microcredits=-90 * CREDIT,
            kind=LedgerEntry.Kind.USAGE,
            idempotency_key=new_key("usage"),
        )

    by_recipient = {tuple(m.to): m for m in mail.outbox}
    assert set(by_recipient) == {("owner@example.com",), ("b@example.com",)}
    arabic, english = by_recipient[("owner@example.com",)], by_recipient[("b@example.com",)]
    assert ARABIC.search(arabic.subject) and "10.00" in arabic.subject
    assert english.subject == "[Hypereal] Low balance: 10.00 credits left in Acme Inc"


@pytest.mark.django_db
def test_an_invitation_to_a_newcomer_follows_the_inviters_language(
    django_capture_on_commit_callbacks,
):
    owner = UserFactory(language="ar")
    wallet = team_wallet(owner=owner)

    with django_capture_on_commit_callbacks(execute=True):
        invitation_create(
            organization=wallet.organization, actor=owner, email="new@example.com", role="viewer"
        )

    (message,) = mail.outbox
    assert ARABIC.search(message.subject)
    assert "Acme Inc" in message.subject


@pytest.mark.django_db
def test_an_invitation_to_an_existing_account_follows_their_preference(
    django_capture_on_commit_callbacks,
):
    owner = UserFactory(language="ar")
    UserFactory(email="known@example.com", language="en")
    wallet = team_wallet(owner=owner)

    with django_capture_on_commit_callbacks(execute=True):
        invitation_create(
            organization=wallet.organization, actor=owner, email="known@example.com", role="viewer"
        )

    (message,) = mail.outbox
    assert not ARABIC.search(message.subject + message.body)


@pytest.mark.django_db
@pytest.mark.parametrize(("saved", "arabic"), [("", True), ("en", False), ("ar", True)])
def test_password_reset_mail_in_the_recipients_language(saved, arabic):
    UserFactory(email="reset@example.com", language=saved)

    Client(HTTP_ACCEPT_LANGUAGE="ar").post(
        "/accounts/password/reset/", {"email": "reset@example.com"}
    )

    (message,) = mail.outbox
    assert bool(ARABIC.search(message.subject)) is arabic


def test_a_negative_balance_keeps_its_minus_left_of_the_digits_in_arabic_mail():
    context = {"organization": ORG, "balance": "-12.50", "threshold": "20.00"}
    en_subject, en_body = render("billing/email/low_balance", context, "en")
    ar_subject, ar_body = render("billing/email/low_balance", context, "ar")
    assert "-12.50" in en_subject and "\u2066" not in en_subject + en_body
    # Left-to-right isolates (the plain-text <bdi dir="ltr">) around each figure.
    assert "\u2066-12.50\u2069" in ar_subject
    assert "\u2066-12.50\u2069" in ar_body and "\u206620.00\u2069" in ar_body
