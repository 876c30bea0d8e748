"""The real parts, not stand-ins: an alert email through Django's SMTP backend to a real
SMTP server on loopback, and the tasks that matter run by a real Celery worker process
that takes them from Redis.

The worker tests need PostgreSQL (a database the worker process can reach and where it
sees what the test committed) and Redis (the broker); CI's PostgreSQL + Redis run has
both. On SQLite they are skipped, saying why.
"""

from datetime import timedelta
from email.utils import parseaddr

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import timezone

from billing import ledger
from billing.models import Hold, LedgerEntry, Wallet
from billing.services import wallet_set_low_balance_threshold
from hypereal_site.celery import app as celery_app
from hypereal_site.models import SentEmail
from tests.billing.factories import CREDIT, fund, new_key, personal_wallet
from tests.celeryworker import celery_worker

from .smtp import smtp_server, smtp_settings


def low_balance_scene() -> tuple[Wallet, str]:
    """A personal wallet with 100 credits and an alert below 20; returns it and its
    owner's email."""
    wallet = personal_wallet()
    owner = wallet.organization.personal_for
    fund(wallet, 100 * CREDIT)
    wallet = wallet_set_low_balance_threshold(
        wallet=wallet, actor=owner, threshold_microcredits=20 * CREDIT
    )
    return wallet, owner.email


def debit(wallet: Wallet, credits: int) -> None:
    ledger.ledger_post(
        wallet=wallet,
        amount_microcredits=-credits * CREDIT,
        kind=LedgerEntry.Kind.USAGE,
        idempotency_key=new_key("real-parts"),
    )


def assert_low_balance_email(message, *, to: str) -> None:
    assert message["To"] == to
    assert message["From"] == settings.DEFAULT_FROM_EMAIL
    assert message["Subject"] == "[Hypereal] Low balance: 19.00 credits left"
    body = message.get_content()
    assert "19.00" in body and "20.00" in body
    assert f"{settings.SITE_URL}/billing" in body


# --- SMTP ---------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_low_balance_alert_goes_out_over_smtp(django_capture_on_commit_callbacks):
    wallet, owner_email = low_balance_scene()
    with smtp_server() as (port, inbox), override_settings(**smtp_settings(port)):
        with django_capture_on_commit_callbacks(execute=True):
            debit(wallet, 81)  # 19 credits left: below the threshold of 20
        [message] = inbox.wait_for(1, seconds=10)
    assert inbox.envelopes == [(parseaddr(settings.DEFAULT_FROM_EMAIL)[1], [owner_email])]
    assert_low_balance_email(message, to=owner_email)
    assert SentEmail.objects.filter(recipients=owner_email).count() == 1


# --- a real Celery worker -------------------------------------------------------------------


@pytest.fixture
def worker(transactional_db, tmp_path):
    """A ``celery -A hypereal_site worker`` (tests/celeryworker.py) against the test database
    and Redis, with emails sent to a loopback SMTP server. Yields the inbox; the worker is
    ``inbox.worker``."""
    with (
        smtp_server() as (port, inbox),
        celery_worker(
            settings_module="tests.site.worker_settings",
            tmp_path=tmp_path,
            env={"TEST_SMTP_PORT": str(port)},
        ) as process,
    ):
        inbox.worker = process
        yield inbox


def test_a_worker_sends_the_low_balance_email(worker):
    wallet, owner_email = low_balance_scene()
    debit(wallet, 81)  # committed; the alert task is queued on commit, to Redis
    worker.worker.wait_for(lambda: len(worker.messages) >= 1, seconds=90)
    [message] = worker.messages
    assert_low_balance_email(message, to=owner_email)
    assert "send_low_balance_email" in worker.worker.log_text()  # run by the worker
    assert SentEmail.objects.filter(recipients=owner_email).count() == 1


def test_a_worker_expires_holds(worker):
    wallet = personal_wallet()
    fund(wallet, 100 * CREDIT)
    hold, _ = ledger.hold_place(
        wallet=wallet, amount_microcredits=30 * CREDIT, reference=new_key("job")
    )
    Hold.objects.filter(pk=hold.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert Wallet.objects.get(pk=wallet.pk).held_microcredits == 30 * CREDIT

    # As beat sends it every minute: by name, through the broker.
    celery_app.send_task("billing.tasks.expire_holds")
    worker.worker.wait_for(
        lambda: Hold.objects.get(pk=hold.pk).status == Hold.Status.EXPIRED, seconds=90
    )
    wallet = Wallet.objects.get(pk=wallet.pk)
    assert (wallet.held_microcredits, wallet.balance_microcredits) == (0, 100 * CREDIT)
    assert "billing.tasks.expire_holds" in worker.worker.log_text()
