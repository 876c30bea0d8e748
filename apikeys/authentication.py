"""DRF authentication for the machine surfaces: ``svc_`` tokens on ``/internal/``,
``ck_`` keys on ``/v1/``. Neither accepts a session, and neither accepts the other's
credential."""

from dataclasses import dataclass

from django.utils.translation import gettext
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from hypereal_site.api.errors import ApplicationError

from . import verification
from .credentials import extract_key
from .models import ApiKey


@dataclass(frozen=True)
class ServicePrincipal:
    token_id: int
    name: str
    is_authenticated: bool = True
    is_anonymous: bool = False
    is_active: bool = True
    pk: None = None  # not a user: DRF's user throttles and Django's user tracking skip it


@dataclass(frozen=True)
class CustomerKeyPrincipal:
    key: ApiKey
    is_authenticated: bool = True
    is_anonymous: bool = False
    is_active: bool = True
    pk: None = None


class ServiceTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        header = request.headers.get("Authorization", "")
        if not header:
            return None
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise exceptions.AuthenticationFailed(gettext("Use Authorization: Bearer svc_…."))
        found = verification.service_token_check(token.strip())
        if found is None:
            raise exceptions.AuthenticationFailed(gettext("Invalid or revoked service token."))
        return ServicePrincipal(token_id=found.pk, name=found.name), found

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="internal"'


class IsService(permissions.BasePermission):
    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, ServicePrincipal)


class CustomerKeyAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        key = extract_key(request._request)
        if not key:
            return None
        try:
            row = verification.key_for_customer(key=key)
        except ApplicationError as exc:
            failed = exceptions.AuthenticationFailed(exc.message)
            failed.application_error = exc
            raise failed from None
        return CustomerKeyPrincipal(key=row), row

    def authenticate_header(self, request) -> str:
        return 'Bearer realm="api"'


class IsCustomerKey(permissions.BasePermission):
    def has_permission(self, request, view) -> bool:
        return isinstance(request.user, CustomerKeyPrincipal)


class ServiceTokenScheme(OpenApiAuthenticationExtension):
    """``Authorization: Bearer svc_…`` in the OpenAPI document (defining it registers it)."""

    target_class = ServiceTokenAuthentication
    name = "serviceToken"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "bearerFormat": "svc_…"}


class CustomerKeyScheme(OpenApiAuthenticationExtension):
    """A ``ck_`` key: Bearer, ``x-api-key``, ``x-goog-api-key`` or ``?key=``."""

    target_class = CustomerKeyAuthentication
    name = "customerKey"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "ck_…",
            "description": "Also accepted as x-api-key, x-goog-api-key or ?key=.",
        }
