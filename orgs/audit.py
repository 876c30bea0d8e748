"""Writing audit events. Services call ``audit_record`` inside their own transaction.

Who did it comes from the service's ``actor``; where from (IP, user agent, request id) is
picked up from the request being served, through a context variable the middleware sets,
so services need no request argument and Celery tasks simply record none.
"""

import contextvars
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.utils import timezone

from accounts.models import User
from hypereal_site.csvstream import Column, stream_csv
from hypereal_site.requestid import get_request_id

from .models import AuditEvent, Invitation, Membership, Organization

#: The dates an audit filter accepts. Nothing older exists, and a date near the calendar's
#: end only overflows (``until=9999-12-31`` is turned into the next day's midnight).
FILTER_EARLIEST = date(2000, 1, 1)
FILTER_LATEST = date(2999, 12, 31)
FILTER_EARLIEST_TIME = datetime.combine(FILTER_EARLIEST, time.min, tzinfo=UTC)
FILTER_LATEST_TIME = datetime.combine(FILTER_LATEST, time.max, tzinfo=UTC)


@dataclass(frozen=True)
class RequestOrigin:
    ip_address: str | None
    user_agent: str


_origin: contextvars.ContextVar[RequestOrigin | None] = contextvars.ContextVar(
    "audit_origin", default=None
)


class AuditOriginMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _origin.set(
            RequestOrigin(
                ip_address=request.META.get("REMOTE_ADDR") or None,
                # PostgreSQL refuses NUL in text: a header holding one must not turn every
                # audited change of the request into a 500.
                user_agent=request.headers.get("User-Agent", "").replace("\x00", "")[:512],
            )
        )
        try:
            return self.get_response(request)
        finally:
            _origin.reset(token)


@dataclass(frozen=True)
class Target:
    type: str
    id: str
    label: str


def target_of(obj) -> Target:
    """The audit target for the project's models, by their opaque ids."""
    if isinstance(obj, Organization):
        return Target("organization", obj.public_id, obj.name)
    if isinstance(obj, Membership):
        return Target("member", obj.public_id, obj.user.email)
    if isinstance(obj, Invitation):
        return Target("invitation", obj.public_id, obj.email)
    if isinstance(obj, User):
        return Target("user", obj.public_id, obj.email)
    raise TypeError(f"no audit target for {type(obj).__name__}")


def audit_record(
    *,
    organization: Organization | None,
    actor: User | None,
    action: str,
    target: Target | None = None,
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEvent:
    """``organization`` None records a platform event of no tenant (service tokens)."""
    origin = _origin.get()
    request_id = get_request_id()
    return AuditEvent.objects.create(
        organization=organization,
        actor=actor,
        actor_label=actor.email if actor else "system",
        action=action,
        target_type=target.type if target else "",
        target_id=target.id if target else "",
        target_label=target.label if target else "",
        before=before,
        after=after,
        ip_address=origin.ip_address if origin else None,
        user_agent=origin.user_agent if origin else "",
        request_id="" if request_id == "-" else request_id,
    )


# --- reading: the CSV export ---------------------------------------------------------------

_CSV_COLUMNS = (
    Column("id", "public_id"),
    Column("time", "created_at", "time"),
    Column("action", "action"),
    Column("actor", "actor_label"),
    Column("target_type", "target_type"),
    Column("target_id", "target_id"),
    Column("target", "target_label"),
    Column("before", "before", "json"),
    Column("after", "after", "json"),
    Column("ip_address", "ip_address", "ip"),
    Column("user_agent", "user_agent"),
    Column("request_id", "request_id"),
)
_ORIGIN_FIELDS = {"ip_address", "user_agent"}


def audit_csv_columns(*, show_origin: bool) -> list[Column]:
    """The export's columns; without ``show_origin`` (``Perm.AUDIT_VIEW_ORIGIN``) no IP
    address and no user agent."""
    return [c for c in _CSV_COLUMNS if show_origin or c.field not in _ORIGIN_FIELDS]


def audit_csv_response(
    *, events: QuerySet[AuditEvent], organization: Organization, show_origin: bool
) -> StreamingHttpResponse:
    """The filtered events as a streamed CSV download (the page's and the API's export)."""
    return stream_csv(
        events,
        audit_csv_columns(show_origin=show_origin),
        filename=f"hypereal-audit-{organization.slug}-{timezone.now():%Y-%m-%d}.csv",
    )
