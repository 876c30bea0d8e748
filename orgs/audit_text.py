"""Audit events as sentences people read: "Monthly cap 50,000 → 999,999 credits".

Services store ``before``/``after`` as plain field dicts (``spending_limit_microcredits``,
``amount_cents`` …). This is the one renderer for every event type: a field is named by
``FIELD_LABELS`` (or, for a field added later, by its name without the unit suffix) and
its value is formatted by its unit, so no page ever shows a raw field name, µcr or cents.
"""

from datetime import datetime
from decimal import Decimal

from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from hypereal_site.reasons import reason_of
from hypereal_site.text import isolate

from .permissions import Perm, Role

#: Who sees where a change came from (IP address, user agent): those who manage people.
AUDIT_ORIGIN_PERM = Perm.AUDIT_VIEW_ORIGIN

ACTION_LABELS = {
    "org.created": gettext_lazy("Organization created"),
    "org.renamed": gettext_lazy("Organization settings changed"),
    "org.deleted": gettext_lazy("Organization deleted"),
    "org.ownership_transferred": gettext_lazy("Ownership transferred"),
    "member.joined": gettext_lazy("Member joined"),
    "member.invited": gettext_lazy("Member invited"),
    "member.role_changed": gettext_lazy("Role changed"),
    "member.removed": gettext_lazy("Member removed"),
    "member.left": gettext_lazy("Member left"),
    "invitation.resent": gettext_lazy("Invitation resent"),
    "invitation.revoked": gettext_lazy("Invitation revoked"),
    "account.deleted": gettext_lazy("Account deleted"),
    "key.created": gettext_lazy("API key created"),
    "key.updated": gettext_lazy("API key changed"),
    "key.rotated": gettext_lazy("API key rotated"),
    "key.revoked": gettext_lazy("API key revoked"),
    "key.enabled": gettext_lazy("API key enabled"),
    "key.disabled": gettext_lazy("API key disabled"),
    "billing.grant": gettext_lazy("Credits granted by staff"),
    "billing.adjustment": gettext_lazy("Balance adjusted by staff"),
    "billing.alert_threshold_set": gettext_lazy("Low-balance alert changed"),
    "billing.topup_started": gettext_lazy("Top-up started"),
    "billing.topup_paid": gettext_lazy("Top-up paid"),
    "billing.refunded": gettext_lazy("Payment refunded"),
    "billing.dispute_opened": gettext_lazy("Payment disputed"),
    "billing.dispute_reinstated": gettext_lazy("Dispute settled in our favour"),
    "org.default_key_limit_changed": gettext_lazy("Default cap for new keys changed"),
    "account.profile_updated": gettext_lazy("Profile updated"),
    "service_token.created": gettext_lazy("Service token created"),
    "service_token.revoked": gettext_lazy("Service token revoked"),
    "rate_limit.set": gettext_lazy("Rate limit set"),
    "rate_limit.changed": gettext_lazy("Rate limit changed"),
    "rate_limit.removed": gettext_lazy("Rate limit removed"),
    "usage.exported": gettext_lazy("Usage exported"),
    "webhook.created": gettext_lazy("Webhook endpoint created"),
    "webhook.updated": gettext_lazy("Webhook endpoint changed"),
    "webhook.deleted": gettext_lazy("Webhook endpoint deleted"),
    "webhook.secret_rotated": gettext_lazy("Webhook signing secret rotated"),
    "webhook.disabled": gettext_lazy("Webhook endpoint disabled after failed deliveries"),
    "webhook.test_sent": gettext_lazy("Webhook test event sent"),
    "webhook.delivery_resent": gettext_lazy("Webhook delivery resent"),
    "sso.domain_claimed": gettext_lazy("Domain claimed"),
    "sso.domain_removed": gettext_lazy("Domain claim removed"),
    "sso.domain_verified": gettext_lazy("Domain verified"),
    "sso.domain_record_missing": gettext_lazy("Domain verification record missing"),
    "sso.domain_record_restored": gettext_lazy("Domain verification record back"),
    "sso.domain_unverified": gettext_lazy("Domain no longer verified"),
    "sso.connection_created": gettext_lazy("SSO connection created"),
    "sso.connection_updated": gettext_lazy("SSO connection changed"),
    "sso.connection_deleted": gettext_lazy("SSO connection deleted"),
    "usage.expired": gettext_lazy("Usage past retention deleted"),
    "sso.break_glass_used": gettext_lazy("Break-glass password sign-in"),
    # Signing in (sso/signin.py)
    "sso.signed_in": gettext_lazy("Signed in through SSO"),
    "sso.signin_refused": gettext_lazy("SSO sign-in refused"),
    "sso.identity_linked": gettext_lazy("SSO identity linked"),
    "sso.member_provisioned": gettext_lazy("Member added at SSO sign-in"),
    "sso.role_changed_by_groups": gettext_lazy("Role changed by the identity provider's groups"),
    "sso.member_removed_by_groups": gettext_lazy(
        "Member removed: no group at the identity provider gives access"
    ),
    "sso.connection_tested": gettext_lazy("SSO connection tested"),
    # GPU deployments (infra/services.py)
    "deployment.created": gettext_lazy("Deployment created"),
    "deployment.updated": gettext_lazy("Deployment changed"),
    "deployment.deleted": gettext_lazy("Deployment deleted"),
    "deployment.webhook_test_sent": gettext_lazy("Deployment's webhook test event sent"),
    "deployment.webhook_resent": gettext_lazy("Deployment's webhook delivery resent"),
}

FIELD_LABELS = {
    "name": gettext_lazy("Name"),
    "slug": gettext_lazy("Address name"),
    "role": gettext_lazy("Role"),
    "email": gettext_lazy("Email"),
    "invitation": gettext_lazy("Invitation"),
    "members": gettext_lazy("Members"),
    "owner": gettext_lazy("Owner"),
    "new_owner_role": gettext_lazy("New owner's previous role"),
    "previous_owner_role": gettext_lazy("Previous owner's new role"),
    "reason": gettext_lazy("Reason"),
    "spending_limit_microcredits": gettext_lazy("Monthly cap"),
    "default_key_spending_limit_microcredits": gettext_lazy("Default monthly cap for new keys"),
    "requests_per_minute": gettext_lazy("Requests per minute"),
    "tokens_per_minute": gettext_lazy("Tokens per minute"),
    "note": gettext_lazy("Note"),
    "prefix": gettext_lazy("Prefix"),
    "revoked": gettext_lazy("Revoked"),
    "auto_disable": gettext_lazy("Auto-disable at the cap"),
    "expires_at": gettext_lazy("Expires"),
    "allowed_models": gettext_lazy("Allowed models"),
    "status": gettext_lazy("Status"),
    "grace_seconds": gettext_lazy("Old secret still valid for"),
    "threshold_microcredits": gettext_lazy("Low-balance alert below"),
    "amount_microcredits": gettext_lazy("Amount"),
    "balance_after_microcredits": gettext_lazy("Balance after"),
    "amount_cents": gettext_lazy("Amount"),
    "credits": gettext_lazy("Credits"),
    "payment": gettext_lazy("Payment"),
    "reference": gettext_lazy("Reference"),
    "from_at": gettext_lazy("From"),
    "to_at": gettext_lazy("To"),
    "min_latency_ms": gettext_lazy("Latency at least (ms)"),
    "max_latency_ms": gettext_lazy("Latency at most (ms)"),
    "min_cost_microcredits": gettext_lazy("Cost at least"),
    "max_cost_microcredits": gettext_lazy("Cost at most"),
    "request_id": gettext_lazy("Request id"),
    "rows": gettext_lazy("Rows"),
    "month": gettext_lazy("Month"),
    "retention_days": gettext_lazy("Retention (days)"),
    "timezone": gettext_lazy("Timezone"),
    "url": gettext_lazy("URL"),
    "event_types": gettext_lazy("Events"),
    "event_type": gettext_lazy("Event"),
    "delivery": gettext_lazy("Delivery"),
    "description": gettext_lazy("Description"),
    "domain": gettext_lazy("Domain"),
    "domains": gettext_lazy("Domains"),
    "verified": gettext_lazy("Verified"),
    "grace_days": gettext_lazy("Grace period (days)"),
    "type": gettext_lazy("Type"),
    "enabled": gettext_lazy("Enabled"),
    "jit_enabled": gettext_lazy("Create accounts at first sign-in"),
    "default_role": gettext_lazy("Default role"),
    "group_role_mapping": gettext_lazy("Group roles"),
    "enforce": gettext_lazy("SSO enforced"),
    "break_glass_owners": gettext_lazy("Break-glass owners"),
    "idp_initiated": gettext_lazy("IdP-initiated sign-in"),
    "require_signed_assertions": gettext_lazy("Signed assertions required"),
    "attribute_email": gettext_lazy("Email attribute"),
    "attribute_first_name": gettext_lazy("First name attribute"),
    "attribute_last_name": gettext_lazy("Last name attribute"),
    "attribute_groups": gettext_lazy("Groups attribute"),
    "metadata_url": gettext_lazy("Metadata URL"),
    "metadata_xml_sha256": gettext_lazy("Metadata XML (fingerprint)"),
    "oidc_issuer": gettext_lazy("Issuer"),
    "oidc_client_id": gettext_lazy("Client id"),
    "client_secret_set": gettext_lazy("Client secret set"),
    "connection": gettext_lazy("SSO connection"),
    "created_user": gettext_lazy("Account created"),
    "groups": gettext_lazy("Groups"),
    "ok": gettext_lazy("Succeeded"),
    "docker_image": gettext_lazy("Docker image"),
    "gpu_types": gettext_lazy("GPU types"),
    "gpu_count": gettext_lazy("GPUs per worker"),
    "min_workers": gettext_lazy("Minimum workers"),
    "max_workers": gettext_lazy("Maximum workers"),
    "idle_timeout_seconds": gettext_lazy("Idle timeout"),
    "execution_timeout_seconds": gettext_lazy("Execution timeout"),
    "env_names": gettext_lazy("Environment variables"),
    "webhook_url": gettext_lazy("Webhook URL"),
}

#: What an empty value means, per field (a cap of None is no cap, not "none").
EMPTY = {
    "spending_limit_microcredits": gettext_lazy("no cap"),
    "default_key_spending_limit_microcredits": gettext_lazy("no cap"),
    "threshold_microcredits": gettext_lazy("off"),
    "expires_at": gettext_lazy("never"),
    "allowed_models": gettext_lazy("all models"),
    "env_names": gettext_lazy("none"),
    "webhook_url": gettext_lazy("none"),
}

STATUS_LABELS = {
    "active": gettext_lazy("active"),
    "disabled": gettext_lazy("disabled"),
    "revoked": gettext_lazy("revoked"),
    "deploying": gettext_lazy("deploying"),
    "ready": gettext_lazy("ready"),
    "failed": gettext_lazy("failed"),
    "deleting": gettext_lazy("deleting"),
}

TARGET_LABELS = {
    "organization": gettext_lazy("organization"),
    "member": gettext_lazy("member"),
    "invitation": gettext_lazy("invitation"),
    "user": gettext_lazy("user"),
    "api_key": gettext_lazy("API key"),
    "service_token": gettext_lazy("service token"),
    "webhook_endpoint": gettext_lazy("webhook endpoint"),
    "sso_domain": gettext_lazy("domain"),
    "sso_connection": gettext_lazy("SSO connection"),
    "deployment": gettext_lazy("deployment"),
}

_UNITS = ("_microcredits", "_cents", "_seconds")


def field_label(field: str) -> str:
    if field in FIELD_LABELS:
        return str(FIELD_LABELS[field])
    base = field
    for suffix in _UNITS:
        base = base.removesuffix(suffix)
    return capfirst(base.replace("_", " ").replace(".", " ").strip())


def _credits_number(microcredits: int) -> str:
    """Whole credits without decimals, otherwise every micro-credit: 50,000 or 0.000125."""
    value = Decimal(int(microcredits)) / 1_000_000
    if value == value.to_integral_value():
        return f"{int(value):,}"
    text = f"{value:,.6f}".rstrip("0")
    return text


def _number_and_unit(field: str, value) -> tuple[str, str] | None:
    """(number, unit) for a field with a unit, or None. A negative number is isolated: in a
    right-to-left sentence its minus sign would otherwise be drawn right of the digits."""
    found = _unsigned_number_and_unit(field, value)
    if found is None or not found[0].startswith("-"):
        return found
    return isolate(found[0]), found[1]


def _unsigned_number_and_unit(field: str, value) -> tuple[str, str] | None:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    if field.endswith("_microcredits"):
        return _credits_number(number), _("credits")
    if field.endswith("_cents"):
        sign = "-" if number < 0 else ""
        return f"{sign}${abs(number) // 100:,}.{abs(number) % 100:02d}", ""
    if field.endswith("_seconds"):
        if number % 3600 == 0 and number:
            return f"{number // 3600:,}", _("hours")
        if number % 60 == 0 and number:
            return f"{number // 60:,}", _("minutes")
        return f"{number:,}", _("seconds")
    if field == "credits":
        return f"{number:,}", _("credits")
    return None


def field_value(field: str, value) -> str:
    if value is None or value == [] or value == "":
        return str(EMPTY.get(field, _("none")))
    with_unit = _number_and_unit(field, value)
    if with_unit is not None:
        number, unit = with_unit
        return f"{number} {unit}".strip()
    if isinstance(value, bool):
        return _("on") if value else _("off")
    if field.endswith("role") or field == "role":
        try:
            return str(Role(value).label)
        except ValueError:
            return str(value)
    if field == "status":
        return str(STATUS_LABELS.get(value, value))
    if field == "reason":
        return reason_of(value)  # a reason code and its parameters, or an older sentence
    if field.endswith("_at") and isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            return value
        return moment.strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{field_label(k)} {field_value(k, v)}" for k, v in value.items())
    return str(value)


def _change(field: str, before, after) -> str:
    label = field_label(field)
    b_unit, a_unit = _number_and_unit(field, before), _number_and_unit(field, after)
    if b_unit and a_unit and b_unit[1] == a_unit[1]:
        # "Monthly cap 50,000 → 999,999 credits": the unit once, at the end.
        return f"{label} {b_unit[0]} → {a_unit[0]} {a_unit[1]}".strip()
    return f"{label} {field_value(field, before)} → {field_value(field, after)}"


def audit_change_sentences(before: dict | None, after: dict | None) -> list[str]:
    """One sentence per field: a change, a new value ("Role: Admin") or a former one."""
    before, after = before or {}, after or {}
    sentences = []
    for field in list(before) + [f for f in after if f not in before]:
        if field in before and field in after:
            if before[field] != after[field]:
                sentences.append(_change(field, before[field], after[field]))
        elif field in after:
            sentences.append(f"{field_label(field)}: {field_value(field, after[field])}")
        else:
            sentences.append(
                _("%(field)s was %(value)s")
                % {"field": field_label(field), "value": field_value(field, before[field])}
            )
    return sentences


def audit_action_label(action: str) -> str:
    if action in ACTION_LABELS:
        return str(ACTION_LABELS[action])
    return capfirst(action.replace(".", " ").replace("_", " "))


def audit_target_label(target_type: str) -> str:
    return str(TARGET_LABELS.get(target_type, target_type.replace("_", " ")))
