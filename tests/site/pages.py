"""Helpers for page tests: read a figure a page shows by its ``data-testid``."""

import itertools
import re
from datetime import UTC, datetime

from django.test import Client

from orgs.context import SESSION_KEY
from usage.models import UsageEvent


def figure(html: str, testid: str) -> str:
    """The text of the element carrying ``data-testid=testid`` (up to its first tag)."""
    match = re.search(rf'data-testid="{testid}"[^>]*>\s*([^<]*)', html)
    assert match, f"no {testid} on the page"
    return match.group(1).strip()


def in_org(client: Client, org) -> Client:
    response = client.post("/context/switch", {"organization": org.public_id})
    assert response.status_code == 302
    assert client.session[SESSION_KEY] == org.public_id
    return client


_seq = itertools.count(1)


def usage_event(key, *, cost_microcredits: int, occurred_at: datetime | None = None):
    """A usage event as ingestion stores it (the page only reads these rows)."""
    return UsageEvent.objects.create(
        request_id=f"page-test-{key.public_id}-{next(_seq)}",
        occurred_at=occurred_at or datetime.now(UTC),
        organization=key.organization,
        key=key,
        endpoint="chat.completions",
        model="gpt-5.5",
        status_code=200,
        cost_microcredits=cost_microcredits,
    )
