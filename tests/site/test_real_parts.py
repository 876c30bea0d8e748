"""The real parts, not stand-ins: an alert email through Django's SMTP backend to a real
SMTP server on loopback, and the tasks that matter run by a real Celery worker process
that takes them from Redis.

The worker tests need PostgreSQL (a database the worker process can reach and where it
sees what the test committed) and Redis (the broker); CI's PostgreSQL + Redis run has
both. On SQLite they are skipped, saying why.
"""

import os
import subprocess
import sys
import time
import uuid
from datetime import timedelta
from email.utils import parseaddr
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection
from django.test import override_settings
from django.utils import timezone

from billing import ledger
from billing.models import Hold, LedgerEntry, Wallet
from billing.services import wallet_set_low_balance_threshold
from hypereal_site.celery import app as celery_app
from hypereal_site.models import SentEmail
from tests.billing.factories import CREDIT, fund, new_key, personal_wallet

from .smtp import smtp_server, smtp_settings

ROOT = Path(__file__).resolve().parents[2]


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


def _shared_backends() -> str | None:
    """Why a worker process cannot share this run's database and broker, or None."""
    if connection.vendor != "postgresql":
        return "a worker process needs PostgreSQL (the SQLite test database is in memory)"
    if not settings.REDIS_URL:
        return "a worker process needs Redis as its broker (REDIS_URL is not set)"
    return None


def _database_url() -> str:
    db = connection.settings_dict
    auth = db.get("USER") or ""
    if auth and db.get("PASSWORD"):
        auth += f":{db['PASSWORD']}"
    host = f"{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}"
    return f"postgres://{auth}@{host}/{db['NAME']}" if auth else f"postgres://{host}/{db['NAME']}"


@pytest.fixture
def worker(transactional_db, tmp_path):
    """A ``celery -A hypereal_site worker`` on a queue of its own, against the test
    database and Redis, with emails sent to a loopback SMTP server. Yields the inbox."""
    reason = _shared_backends()
    if reason:
        pytest.skip(reason)
    queue = f"test-{uuid.uuid4().hex[:12]}"
    with smtp_server() as (port, inbox):
        env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "tests.site.worker_settings",
            "DATABASE_URL": _database_url(),  # the test database, not the configured one
            "TEST_SMTP_PORT": str(port),
            "PYTHONPATH": str(ROOT),
        }
        log = tmp_path / "worker.log"
        with log.open("w") as out:
            process = subprocess.Popen(  # noqa: S603 - fixed argv, our own interpreter
                [
                    sys.executable,
                    "-m",
                    "celery",
                    "-A",
                    "hypereal_site",
                    "worker",
                    "--pool",
                    "solo",
                    "--queues",
                    queue,
                    "--loglevel",
                    "INFO",
                    "--without-gossip",
                    "--without-mingle",
                    "--without-heartbeat",
                ],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        saved = {k: celery_app.conf[k] for k in ("task_always_eager", "task_default_queue")}
        celery_app.conf.update(task_always_eager=False, task_default_queue=queue)
        try:
            inbox.worker_log = log
            inbox.process = process
            yield inbox
        finally:
            celery_app.conf.update(saved)
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def poll(check, *, seconds: float, worker) -> None:
    """Wait (bounded) for ``check()`` to hold, failing with the worker's log otherwise."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        assert worker.process.poll() is None, worker.worker_log.read_text()
        time.sleep(0.2)
    pytest.fail("the worker did not do it in time:\n" + worker.worker_log.read_text())


def test_a_worker_sends_the_low_balance_email(worker):
    wallet, owner_email = low_balance_scene()
    debit(wallet, 81)  # committed; the alert task is queued on commit, to Redis
    poll(lambda: len(worker.messages) >= 1, seconds=90, worker=worker)
    [message] = worker.messages
    assert_low_balance_email(message, to=owner_email)
    assert "send_low_balance_email" in worker.worker_log.read_text()  # run by the worker
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
    poll(
        lambda: Hold.objects.get(pk=hold.pk).status == Hold.Status.EXPIRED,
        seconds=90,
        worker=worker,
    )
    wallet = Wallet.objects.get(pk=wallet.pk)
    assert (wallet.held_microcredits, wallet.balance_microcredits) == (0, 100 * CREDIT)
    assert "billing.tasks.expire_holds" in worker.worker_log.read_text()
