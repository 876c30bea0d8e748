"""Keys, owners, money and the inference plane's client, all made through the real services.

* ``key_make(org=…, actor=…)`` → ``(ApiKey, plaintext)`` through ``apikeys.services``.
* ``team(owner)`` and ``join(org, role)`` make organizations and memberships the way the
  product does (``org_create``, ``invitation_create`` + ``invitation_accept``).
* ``fund(org, credits)`` posts a grant through ``billing.ledger``.
* The ``internal`` fixture is a DRF client carrying a real ``svc_`` token, as the gateway
  sends it; ``customer(plaintext)`` sends a ``ck_`` key.
"""

import itertools
import uuid
from datetime import UTC, datetime

import pytest
from rest_framework.test import APIClient

from apikeys import services
from apikeys.models import ApiKey
from billing import ledger
from billing.models import MICROCREDITS_PER_CREDIT, LedgerEntry, Wallet
from orgs import services as org_services
from orgs.models import Membership, Organization
from orgs.permissions import Role
from tests.accounts.factories import UserFactory

CREDIT = MICROCREDITS_PER_CREDIT
_seq = itertools.count(1)


def personal(user) -> Organization:
    return org_services.personal_org_get_or_create(user=user)


def team(owner, name: str = "Acme Inc") -> Organization:
    return org_services.org_create(actor=owner, name=name)


def join(org: Organization, role: str, user=None):
    """A new (or given) user who joined ``org`` with ``role`` through an invitation."""
    user = user or UserFactory()
    owner = Membership.objects.filter(organization=org, role=Role.OWNER).first().user
    _invitation, token = org_services.invitation_create(
        organization=org, actor=owner, email=user.email, role=role
    )
    org_services.invitation_accept(token=token, user=user)
    return user


def key_make(
    *, org: Organization, actor, name: str = "prod-eu", limit_credits: int | None = None, **kw
) -> tuple[ApiKey, str]:
    return services.apikey_create(
        organization=org,
        actor=actor,
        name=name,
        spending_limit_microcredits=None if limit_credits is None else limit_credits * CREDIT,
        **kw,
    )


def wallet_of(org: Organization) -> Wallet:
    return ledger.wallet_get_or_create(organization=org)


def fund(org: Organization, credits: int) -> LedgerEntry:
    return ledger.ledger_post(
        wallet=wallet_of(org),
        amount_microcredits=credits * CREDIT,
        kind=LedgerEntry.Kind.GRANT,
        idempotency_key=f"test-grant:{next(_seq)}:{uuid.uuid4().hex[:12]}",
        description="test grant",
    )


def balance(org: Organization) -> int:
    return Wallet.objects.get(organization=org).balance_microcredits


def rid(prefix: str = "req") -> str:
    """A request id unique across runs on a shared database."""
    return f"{prefix}-{next(_seq)}-{uuid.uuid4().hex[:10]}"


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def event(key: ApiKey, **overrides) -> dict:
    """One usage event as the gateway reports it: a chat call, 1,000 in / 500 out."""
    body = {
        "request_id": rid(),
        "key_id": key.public_id,
        "occurred_at": now_iso(),
        "endpoint": "chat.completions",
        "model": "gpt-5.5",
        "provider": "openai",
        "status_code": 200,
        "latency_ms": 840,
        "input_tokens": 1000,
        "output_tokens": 500,
    }
    body.update(overrides)
    return body


def service_client(token: str) -> APIClient:
    client = APIClient()
    client.default_format = "json"
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def customer(plaintext: str, form: str = "bearer") -> tuple[APIClient, dict, str]:
    """A client, headers and path calling ``/v1/key`` with a ``ck_`` key in one of the four
    forms the gateway accepts."""
    client = APIClient()
    if form == "bearer":
        return client, {"HTTP_AUTHORIZATION": f"Bearer {plaintext}"}, "/v1/key"
    if form == "x-api-key":
        return client, {"HTTP_X_API_KEY": plaintext}, "/v1/key"
    if form == "x-goog-api-key":
        return client, {"HTTP_X_GOOG_API_KEY": plaintext}, "/v1/key"
    assert form == "query"
    return client, {}, f"/v1/key?key={plaintext}"


def assert_envelope(response, status: int, error_type: str | None = None) -> dict:
    assert response.status_code == status, (response.status_code, response.content[:600])
    body = response.json()
    assert set(body) == {"error"}, body
    assert body["error"]["message"], body
    if error_type is not None:
        assert body["error"]["type"] == error_type, body
    return body["error"]


# --- fixtures (imported by the conftests of tests/apikeys and tests/usage) ------------------


@pytest.fixture
def svc_token(db) -> str:
    _token, plaintext = services.service_token_create(name=f"gateway-{uuid.uuid4().hex[:8]}")
    return plaintext


@pytest.fixture
def internal(svc_token) -> APIClient:
    """The inference plane: a client sending ``Authorization: Bearer svc_…``."""
    return service_client(svc_token)


@pytest.fixture
def owner(db):
    return UserFactory()


@pytest.fixture
def acme(owner) -> Organization:
    return team(owner, "Acme Inc")


@pytest.fixture
def funded_key(owner):
    """A personal key of ``owner`` whose wallet holds 1,000 credits."""
    org = personal(owner)
    fund(org, 1000)
    key, plaintext = key_make(org=org, actor=owner)
    return key, plaintext
