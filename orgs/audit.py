"""Writing audit events. Services call ``audit_record`` inside their own transaction.

Who did it comes from the service's ``actor``; where from (IP, user agent, request id) is
picked up from the request being served, through a context variable the middleware sets,
so services need no request argument and Celery tasks simply record none.
"""

import contextvars
from collections.abc import Callable
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse

from accounts.models import User
from hypereal_site.requestid import get_request_id

from .models import AuditEvent, Invitation, Membership, Organization


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
                user_agent=request.headers.get("User-Agent", "")[:512],
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
    organization: Organization,
    actor: User | None,
    action: str,
    target: Target | None = None,
    before: dict | None = None,
    after: dict | None = None,
) -> AuditEvent:
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
