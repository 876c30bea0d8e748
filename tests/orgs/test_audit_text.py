"""The audit log reads as sentences: every action type in the code has a label and every
stored change renders without raw field names, µcr or cents. The page shows IP addresses and
user agents to owners and admins only."""

import re
from pathlib import Path

import pytest
from django.http import HttpResponse
from django.test import RequestFactory
from django.utils import translation

from apikeys.services import apikey_update
from orgs.audit import AuditOriginMiddleware
from orgs.audit_text import ACTION_LABELS, audit_action_label, audit_change_sentences
from orgs.models import AuditEvent
from orgs.permissions import PERMISSION_ROLES, Perm, Role
from tests.accounts.factories import UserFactory
from tests.apikeys.factories import join, key_make, team
from tests.orgs.conftest import IP, UA

ROOT = Path(__file__).resolve().parents[2]
APPS = (
    "accounts",
    "apikeys",
    "billing",
    "orgs",
    "usage",
    "infra",
    "sso",
    "webhooks",
    "hypereal_site",
)

#: What each service stores, as it stores it (see the ``audit_record`` calls).
PAYLOADS = {
    "org.default_key_limit_changed": (
        {"default_key_spending_limit_microcredits": None},
        {"default_key_spending_limit_microcredits": 50_000_000_000},
    ),
    "account.profile_updated": ({"name": "Ada"}, {"name": "Ada Lovelace"}),
    "service_token.created": (None, {"name": "gateway-eu", "prefix": "svc_7Kq2"}),
    "service_token.revoked": ({"revoked": False}, {"revoked": True}),
    "rate_limit.set": (None, {"requests_per_minute": 600, "tokens_per_minute": 2_000_000}),
    "rate_limit.changed": (
        {"requests_per_minute": 600, "tokens_per_minute": 2_000_000, "note": ""},
        {"requests_per_minute": 1200, "tokens_per_minute": 4_000_000, "note": "launch"},
    ),
    "rate_limit.removed": ({"requests_per_minute": 1200, "tokens_per_minute": 4_000_000}, None),
    "usage.expired": (None, {"month": "2025-09", "rows": 120_000, "retention_days": 400}),
    "usage.exported": (
        None,
        {
            "from_at": "2026-03-01T00:00:00+00:00",
            "to_at": "2026-03-31T00:00:00+00:00",
            "days": 30,
            "key": "k_7Kq2",
            "model": "gpt-5.5",
            "endpoint": "chat.completions",
            "status": "4xx",
            "min_latency_ms": 100,
            "max_latency_ms": 900,
            "min_cost_microcredits": 1_000,
            "max_cost_microcredits": 5_000_000,
            "request_id": "req_1",
            "rows": 12,
        },
    ),
    "org.created": (None, {"name": "Acme Inc", "slug": "acme-inc"}),
    "org.renamed": ({"name": "Acme", "slug": "acme"}, {"name": "Acme Inc", "slug": "acme-inc"}),
    "org.deleted": ({"members": 3}, None),
    "org.ownership_transferred": (
        {"owner": "a@example.com", "new_owner_role": "admin"},
        {"owner": "b@example.com", "previous_owner_role": "admin"},
    ),
    "member.joined": (None, {"role": "developer", "invitation": "inv_123"}),
    "member.invited": (None, {"email": "x@example.com", "role": "viewer"}),
    "member.role_changed": ({"role": "viewer"}, {"role": "admin"}),
    "member.removed": ({"role": "billing"}, None),
    "member.left": ({"role": "developer"}, {"reason": "account deleted"}),
    "invitation.resent": (None, None),
    "invitation.revoked": ({"email": "x@example.com", "role": "viewer"}, None),
    "account.deleted": (None, None),
    "key.created": (
        None,
        {
            "name": "prod-eu",
            "spending_limit_microcredits": 50_000_000_000,
            "auto_disable": True,
            "expires_at": "2027-01-01T00:00:00+00:00",
            "allowed_models": [],
            "status": "active",
        },
    ),
    "key.updated": (
        {"spending_limit_microcredits": 50_000_000_000, "auto_disable": True},
        {"spending_limit_microcredits": 999_999_000_000, "auto_disable": False},
    ),
    "key.rotated": (None, {"grace_seconds": 3600}),
    "key.revoked": ({"status": "active"}, {"status": "revoked"}),
    "key.enabled": ({"status": "disabled"}, {"status": "active"}),
    "key.disabled": (
        {"status": "active"},
        {"status": "disabled", "reason": {"code": "spending_limit_reached"}},
    ),
    "billing.grant": (
        None,
        {
            "amount_microcredits": 125,
            "reason": "goodwill",
            "balance_after_microcredits": 1_000_000_125,
        },
    ),
    "billing.adjustment": (None, {"amount_microcredits": -5_000_000, "reason": "fix"}),
    "billing.alert_threshold_set": (
        {"threshold_microcredits": None},
        {"threshold_microcredits": 20_000_000},
    ),
    "billing.topup_started": (None, {"payment": "pay_1", "amount_cents": 2500}),
    "billing.topup_paid": (None, {"payment": "pay_1", "credits": 2500}),
    "billing.refunded": (None, {"payment": "pay_1", "reference": "re_1", "amount_cents": -500}),
    "billing.dispute_opened": (
        None,
        {"payment": "pay_1", "reference": "dp_1", "amount_cents": -2500},
    ),
    "billing.dispute_reinstated": (
        None,
        {"payment": "pay_1", "reference": "dp_1", "amount_cents": 2500},
    ),
    "sso.domain_claimed": (None, {"domain": "example.com"}),
    "sso.domain_removed": ({"domain": "example.com", "verified": True}, None),
    "sso.domain_verified": (None, {"domain": "example.com"}),
    "sso.domain_record_missing": (None, {"domain": "example.com", "grace_days": 7}),
    "sso.domain_record_restored": (None, {"domain": "example.com"}),
    "sso.domain_unverified": (
        {"domain": "example.com", "verified": True},
        {"verified": False, "reason": "No TXT record at the challenge name."},
    ),
    "sso.connection_created": (
        None,
        {
            "type": "oidc",
            "enabled": True,
            "jit_enabled": False,
            "default_role": "viewer",
            "group_role_mapping": ["Engineering → developer"],
            "enforce": False,
            "idp_initiated": False,
            "require_signed_assertions": True,
            "attribute_email": "email",
            "attribute_first_name": "firstName",
            "attribute_last_name": "lastName",
            "attribute_groups": "",
            "metadata_url": "",
            "metadata_xml_sha256": "",
            "oidc_issuer": "https://login.example.com",
            "oidc_client_id": "console",
            "client_secret_set": True,
            "domains": ["example.com"],
            "break_glass_owners": [],
        },
    ),
    "sso.connection_updated": (
        {"enforce": False, "default_role": "viewer", "client_secret_set": True},
        {"enforce": True, "default_role": "developer", "client_secret_set": True},
    ),
    "sso.connection_deleted": ({"type": "saml", "domains": ["example.com"]}, None),
    "sso.break_glass_used": (None, {"email": "owner@example.com", "second_factor": "mfa"}),
    "sso.signed_in": (
        None,
        {
            "connection": "sso_4hTq9ZkW2mLp0xYb",
            "type": "saml",
            "role": "viewer",
            "created_user": True,
        },
    ),
    "sso.signin_refused": (
        None,
        {
            "connection": "sso_4hTq9ZkW2mLp0xYb",
            "reason": "This answer from your identity provider was already used.",
            "email": "jo@example.com",
        },
    ),
    "sso.identity_linked": (None, {"connection": "sso_4hTq9ZkW2mLp0xYb", "created_user": False}),
    "sso.member_provisioned": (
        None,
        {"connection": "sso_4hTq9ZkW2mLp0xYb", "role": "developer", "groups": ["Engineering"]},
    ),
    "sso.role_changed_by_groups": (
        {"role": "viewer"},
        {"role": "developer", "connection": "sso_4hTq9ZkW2mLp0xYb", "groups": ["Engineering"]},
    ),
    "sso.member_removed_by_groups": (
        {"role": "developer"},
        {"connection": "sso_4hTq9ZkW2mLp0xYb", "groups": []},
    ),
    "sso.connection_tested": (
        None,
        {"connection": "sso_4hTq9ZkW2mLp0xYb", "ok": True, "email": "jo@example.com"},
    ),
    "deployment.created": (
        None,
        {
            "name": "My Comfy",
            "docker_image": "runpod/worker-comfyui:5.1.0-base",
            "gpu_types": ["ADA_48_PRO", "AMPERE_80"],
            "gpu_count": 1,
            "min_workers": 0,
            "max_workers": 2,
            "idle_timeout_seconds": 5,
            "execution_timeout_seconds": 600,
            "env_names": ["HF_TOKEN"],
            "webhook_url": "https://hooks.example.com/gpu",
        },
    ),
    "deployment.updated": (
        {"max_workers": 2, "gpu_types": ["ADA_48_PRO"], "env_names": []},
        {"max_workers": 4, "gpu_types": ["ADA_48_PRO", "AMPERE_80"], "env_names": ["HF_TOKEN"]},
    ),
    "deployment.deleted": ({"status": "ready"}, {"status": "deleting"}),
    "webhook.created": (
        None,
        {
            "url": "https://example.com/hooks",
            "event_types": ["job.succeeded", "balance.low"],
            "enabled": True,
            "description": "Production",
        },
    ),
    "webhook.updated": ({"enabled": True}, {"enabled": False}),
    "webhook.deleted": (
        {
            "url": "https://example.com/hooks",
            "event_types": ["job.failed"],
            "enabled": False,
            "description": "",
        },
        None,
    ),
    "webhook.secret_rotated": (None, {"grace_seconds": 86400}),
    "webhook.disabled": (
        {"enabled": True},
        {"enabled": False, "reason": {"code": "gone_410", "when": "2026-11-29 18:02 UTC"}},
    ),
    "webhook.test_sent": (None, {"delivery": "msg_2Vx8QmLr0pTzYb4KcW7nHd1s"}),
    "webhook.delivery_resent": (
        None,
        {"delivery": "msg_2Vx8QmLr0pTzYb4KcW7nHd1s", "event_type": "job.failed"},
    ),
    "deployment.webhook_test_sent": (None, {"delivery": "msg_9Qp3ZkW2mLp0xYbT5rNcV8aE"}),
    "deployment.webhook_resent": (
        None,
        {"delivery": "msg_9Qp3ZkW2mLp0xYbT5rNcV8aE", "event_type": "job.succeeded"},
    ),
}

RAW = re.compile(r"[a-z]+_[a-z_]+|microcredit|µcr|\bcents\b")


def actions_in_code() -> set[str]:
    """Every audit action the code writes: literal ``action="…"`` arguments, the money
    actions passed to ``_audit_money`` and the staff ledger kinds (``billing.<kind>``)."""
    found = set()
    for app in APPS:
        for path in (ROOT / app).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            text = path.read_text()
            found |= set(re.findall(r'action="([a-z_]+\.[a-z_.]+)"', text))
            found |= set(re.findall(r'_audit_money\([^,]+, "([a-z_]+\.[a-z_]+)"', text))
    found |= {"billing.grant", "billing.adjustment"}  # f"billing.{kind}" in wallet_adjust
    return found


def test_every_action_in_the_code_has_a_label():
    in_code = actions_in_code()
    assert len(in_code) >= 26 and "key.updated" in in_code  # the scan finds them
    missing = in_code - set(ACTION_LABELS)
    assert not missing, f"give these audit actions a label in orgs/audit_text.py: {missing}"


def test_every_action_type_renders_without_raw_field_names():
    assert set(PAYLOADS) >= actions_in_code()
    for action, (before, after) in PAYLOADS.items():
        label = audit_action_label(action)
        assert not RAW.search(label) and "." not in label, label
        for sentence in audit_change_sentences(before, after):
            assert not RAW.search(sentence), (action, sentence)


def test_a_cap_change_reads_as_a_sentence():
    before, after = PAYLOADS["key.updated"]
    assert audit_change_sentences(before, after) == [
        "Monthly cap 50,000 → 999,999 credits",
        "Auto-disable at the cap on → off",
    ]
    assert audit_change_sentences(
        {"spending_limit_microcredits": None}, {"spending_limit_microcredits": 125}
    ) == ["Monthly cap no cap → 0.000125 credits"]
    assert audit_change_sentences(None, {"amount_cents": 2500}) == ["Amount: $25.00"]
    assert audit_change_sentences({"role": "viewer"}, {"role": "admin"}) == ["Role Viewer → Admin"]
    assert audit_change_sentences({"role": "billing"}, None) == ["Role was Billing"]


def test_a_negative_amount_keeps_its_sign_left_of_its_digits_in_arabic():
    with translation.override("ar"):
        (credits,) = audit_change_sentences(None, {"amount_microcredits": -5_000_000})
        (dollars,) = audit_change_sentences(None, {"amount_cents": -2500})
        (positive,) = audit_change_sentences(None, {"amount_microcredits": 5_000_000})
    # FIRST STRONG ISOLATE … POP DIRECTIONAL ISOLATE: digits hold no strong character, so
    # the figure is laid out left to right inside the Arabic sentence.
    assert "\u2068-5\u2069" in credits
    assert "\u2068-$25.00\u2069" in dollars
    assert "\u2068" not in positive
    assert audit_change_sentences(None, {"amount_microcredits": -5_000_000}) == [
        "Amount: -5 credits"
    ]


def test_a_field_added_later_is_still_named_without_its_unit():
    sentences = audit_change_sentences(None, {"default_cap_microcredits": 7_000_000})
    assert sentences == ["Default cap: 7 credits"]


# --- the page ------------------------------------------------------------------------------


@pytest.fixture
def acme(db):
    owner = UserFactory()
    org = team(owner, "Acme Inc")
    key, _ = key_make(org=org, actor=owner, name="prod-eu", limit_credits=50_000)

    def raise_cap(request):  # served like a request: the event records its IP and UA
        apikey_update(key=key, actor=owner, spending_limit_microcredits=999_999 * 1_000_000)
        return HttpResponse()

    request = RequestFactory().post("/", REMOTE_ADDR=IP, HTTP_USER_AGENT=UA)
    AuditOriginMiddleware(raise_cap)(request)
    event = AuditEvent.objects.get(organization=org, action="key.updated")
    assert (event.ip_address, event.user_agent) == (IP, UA)
    return org, owner


@pytest.mark.parametrize("role", list(Role))
def test_the_page_shows_sentences_and_origin_only_to_owners_and_admins(acme, web, role):
    org, owner = acme
    user = owner if role == Role.OWNER else join(org, role)
    response = web(user, org=org).get("/settings/organization/audit")
    if role not in PERMISSION_ROLES[Perm.AUDIT_VIEW]:
        assert response.status_code == 403
        return
    html = response.content.decode()
    # The arrow is mirrored in right-to-left pages (it points from the old value to the new).
    assert 'Monthly cap 50,000 <span class="dir-icon">→</span> 999,999 credits' in html
    assert "spending_limit" not in html and "microcredits" not in html
    assert "api_key" not in html and "API key" in html
    sees_origin = role in (Role.OWNER, Role.ADMIN)
    assert (IP in html) == sees_origin
    assert (UA in html) == sees_origin
