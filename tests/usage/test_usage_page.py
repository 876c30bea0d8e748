"""``/usage`` tells the truth until the usage capability replaces it: the counts are the
database's own and no empty state is claimed for an account with requests."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db.models import Sum

from billing.templatetags.money import credits
from tests.apikeys.factories import key_make, personal
from tests.site.pages import figure, usage_event
from usage.models import UsageEvent
from usage.selectors import month_start

pytestmark = pytest.mark.django_db


def test_usage_page_shows_the_databases_counts(user, client_for):
    org = personal(user)
    key, _ = key_make(org=org, actor=user)
    for cost in (1_000_000, 2_000_000, 7):
        usage_event(key, cost_microcredits=cost)
    usage_event(key, cost_microcredits=5_000_000, occurred_at=month_start() - timedelta(days=3))

    html = client_for(user).get("/usage").content.decode()
    start = datetime.now(UTC).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    month = UsageEvent.objects.filter(organization=org, occurred_at__gte=start)
    assert figure(html, "usage-month-requests") == str(month.count()) == "3"
    total = UsageEvent.objects.filter(organization=org).count()
    assert figure(html, "usage-total-requests") == str(total) == "4"
    spent = month.aggregate(s=Sum("cost_microcredits"))["s"]
    assert figure(html, "usage-month-spend") == credits(spent) == "3.00"
    assert "No requests recorded yet" not in html


def test_usage_page_of_an_empty_account_says_zero(user, client_for):
    html = client_for(user).get("/usage").content.decode()
    assert figure(html, "usage-month-requests") == "0"
    assert figure(html, "usage-total-requests") == "0"
