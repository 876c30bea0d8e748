"""Changes the usage app makes besides ingestion: today, recording an export."""

from django.db import transaction

from accounts.models import User
from orgs.audit import audit_record

from .selectors import UsageFilter, usage_events


@transaction.atomic
def usage_export_record(*, f: UsageFilter, actor: User) -> int:
    """Audit an export of ``f`` (its range, filters and row count); returns the count.

    The count is taken just before the rows stream, over the same fixed range (its end is
    the request's time): only an event reported late with an earlier time could make the
    file hold a row more than the count says.
    """
    rows = usage_events(f).count()
    audit_record(
        organization=f.organization,
        actor=actor,
        action="usage.exported",
        after={**f.describe(), "rows": rows},
    )
    return rows
