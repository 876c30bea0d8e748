"""Ledger entries the console writes (top-ups, refunds, disputes, usage batches, hold
captures, GPU jobs) are stored with an English description, like the statement's CSV; the
billing pages show it in the reader's language. A person's own words (a staff adjustment's
reason) are shown as written."""

import pytest
from django.utils import translation

from billing.models import LedgerEntry

from .test_pages import personal_wallet_of, post

pytestmark = pytest.mark.django_db

K = LedgerEntry.Kind
# (kind, credits, the stored description, the English shown, a piece of the Arabic shown)
WRITTEN = [
    (K.TOPUP, 1000, "Top-up $1,234.50", "Top-up $1,234.50", "$1,234.50"),
    (K.REFUND, -5, "Refund $5.00", "Refund $5.00", "$5.00"),
    (K.DISPUTE, -7, "Dispute opened, $7.00 withdrawn", "Dispute opened, $7.00 withdrawn", "$7.00"),
    (
        K.DISPUTE_REVERSAL,
        7,
        "Dispute won, $7.00 reinstated",
        "Dispute won, $7.00 reinstated",
        "$7.00",
    ),
    (K.USAGE, -1, "Usage: 1 request(s)", "Usage: 1 request", "1"),
    (K.USAGE, -2, "Usage: 500 request(s)", "Usage: 500 requests", "500"),
    (K.HOLD_CAPTURE, -3, "Hold hld_Ab12 captured", "Hold hld_Ab12 captured", "hld_Ab12"),
    (K.HOLD_CAPTURE, -4, "GPU job job_Zx9", "GPU job job_Zx9", "job_Zx9"),
]


@pytest.mark.parametrize("kind,credits,stored,english,piece", WRITTEN)
def test_a_description_the_console_wrote_reads_in_each_language(
    user, kind, credits, stored, english, piece
):
    entry = post(personal_wallet_of(user), credits, kind=kind, description=stored)
    with translation.override("en"):
        assert entry.description_text() == english
    with translation.override("ar"):
        arabic = entry.description_text()
    assert arabic != english and piece in arabic
    assert any("\u0600" <= c <= "\u06ff" for c in arabic)  # Arabic letters


def test_a_persons_words_are_shown_as_written(user):
    wallet = personal_wallet_of(user)
    entry = post(wallet, 10, kind=K.ADJUSTMENT, description="Goodwill for the outage")
    look_alike = post(wallet, 10, kind=K.GRANT, description="Top-up $1.00")  # not a top-up
    with translation.override("ar"):
        assert entry.description_text() == "Goodwill for the outage"
        assert look_alike.description_text() == "Top-up $1.00"


@pytest.mark.parametrize("page", ["/billing", "/billing/statement"])
def test_the_billing_pages_show_descriptions_in_the_readers_language(user, in_context, page):
    post(personal_wallet_of(user), 1000, kind=K.TOPUP, description="Top-up $10.00")
    post(personal_wallet_of(user), -1, kind=K.USAGE, description="Usage: 3 request(s)")
    client = in_context(user)
    html = client.get(page, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert "Top-up $10.00" in html and "Usage: 3 requests" in html
    user.language = "ar"
    user.save(update_fields=["language"])
    html = client.get(page).content.decode()
    with translation.override("ar"):
        topup = LedgerEntry.objects.get(kind=K.TOPUP).description_text()
        usage = LedgerEntry.objects.get(kind=K.USAGE).description_text()
    assert topup in html and usage in html
    assert "Top-up $10.00" not in html and "Usage: 3 request" not in html
