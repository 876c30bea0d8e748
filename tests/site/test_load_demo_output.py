"""``make run``'s demo data command: the logins are the last thing it prints, and nothing
(no demo email, no task log line) is written around them."""

import io
import logging

import pytest
from django.core import mail
from django.core.management import call_command

from hypereal_site.management.commands.load_demo import ACME_MEMBERS, DEMO_PASSWORD, DEMO_USERS

pytestmark = pytest.mark.django_db(transaction=True)


class _Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def test_the_logins_come_last_and_nothing_is_mailed_or_logged():
    out, err = io.StringIO(), io.StringIO()
    collect = _Collect()
    root = logging.getLogger()
    root.addHandler(collect)
    level = root.level
    root.setLevel(logging.DEBUG)
    try:
        call_command("load_demo", "--port", "8123", stdout=out, stderr=err)
    finally:
        root.removeHandler(collect)
        root.setLevel(level)

    assert mail.outbox == []  # the invitations were accepted without emailing anyone
    assert [r.getMessage() for r in collect.records if r.levelno < logging.ERROR] == []
    assert err.getvalue() == ""

    lines = [line for line in out.getvalue().splitlines() if line.strip()]
    emails = [email for email, *_ in DEMO_USERS] + [email for email, _ in ACME_MEMBERS[1:]]
    tail = lines[-(len(emails) + 1) :]
    assert set(tail[-1]) == {"="}  # the closing rule
    logins = tail[:-1]
    assert [line.split()[0] for line in logins] == emails
    assert all(f"password: {DEMO_PASSWORD}" in line for line in logins)
    assert "Sign in at http://127.0.0.1:8123/" in lines[-len(emails) - 2]
