"""The account page's timezone: validated against zoneinfo, audited, and the usage page's
days follow it."""

from datetime import UTC, datetime, timedelta

import pytest

from orgs.models import AuditEvent
from tests.apikeys.factories import key_make, personal
from tests.usage.analytics import ev

pytestmark = pytest.mark.django_db


def test_timezone_defaults_to_utc_and_is_saved_and_audited(user, client_for):
    assert user.timezone == "UTC"
    client = client_for(user)
    assert 'name="timezone"' in client.get("/settings/account").content.decode()
    response = client.post("/settings/account", {"name": user.name, "timezone": "Asia/Kolkata"})
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.timezone == "Asia/Kolkata"
    event = AuditEvent.objects.get(action="account.profile_updated")
    assert event.before == {"timezone": "UTC"} and event.after == {"timezone": "Asia/Kolkata"}


def test_an_unknown_zone_is_refused(user, client_for):
    response = client_for(user).post("/settings/account", {"name": "", "timezone": "Mars/Base"})
    assert response.status_code == 200
    user.refresh_from_db()
    assert user.timezone == "UTC"


def test_the_usage_log_shows_times_in_the_zone(user, client_for):
    user.timezone = "Asia/Kolkata"
    user.save(update_fields=["timezone"])
    key, _ = key_make(org=personal(user), actor=user)
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)
    ev(key, at=at, request_id="tz-1")
    html = client_for(user).get("/usage").content.decode()
    local = at + timedelta(hours=5, minutes=30)
    assert local.strftime("%Y-%m-%d %H:%M:%S") in html
    assert "Asia/Kolkata" in html
