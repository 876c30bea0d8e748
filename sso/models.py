"""Verified domains and SSO connections (docs/sso.md).

A domain is *claimed* by an organization (any number may claim one, each with its own
token) and *verified* by publishing ``_hypereal-challenge.<domain>`` TXT = token; at most one
organization holds a domain verified at a time (a unique constraint). Only a verified domain
routes sign-ins or provisions users.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from hypereal_site.crypto import EncryptedTextField
from hypereal_site.ids import base62, new_public_id
from hypereal_site.reasons import reason_text
from orgs.models import Membership, Organization
from orgs.permissions import Role

CHALLENGE_PREFIX = "_hypereal-challenge"


def new_provider_id() -> str:
    """Public, URL-safe: ``sso_`` and 16 base62 characters (~95 bits)."""
    return f"sso_{base62(16)}"


def new_domain_token() -> str:
    return f"hypereal-verification={base62(32)}"


class SsoDomain(models.Model):
    class CheckResult(models.TextChoices):
        FOUND = "found", _("Record found")
        MISSING = "missing", _("Record not found")
        LOOKUP_FAILED = "lookup_failed", _("DNS look-up failed")
        TAKEN = "taken", _("Verified by another organization")

    public_id = models.CharField(max_length=16, unique=True, default=new_public_id, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="sso_domains"
    )
    #: Lowercase ASCII (IDNA "xn--" form for international names), no trailing dot.
    name = models.CharField(max_length=253)
    token = models.CharField(max_length=80, default=new_domain_token, editable=False)
    #: The connection this domain's sign-ins go to (one at most).
    connection = models.ForeignKey(
        "SsoConnection",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="domains",
    )
    created_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    verified_at = models.DateTimeField(null=True, blank=True)
    #: When a check of a verified domain first failed to find the record (the grace period).
    missing_since = models.DateTimeField(null=True, blank=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_check_result = models.CharField(max_length=16, choices=CheckResult.choices, blank=True)
    #: What the last check found beyond its result, as a code of hypereal_site.reasons and
    #: its parameters, translated when shown (``last_check_detail``).
    last_check_code = models.CharField(max_length=40, blank=True)
    last_check_params = models.JSONField(default=dict, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "name"], name="sso_domain_one_claim"),
            # The rule the whole feature rests on: one verified owner per domain.
            models.UniqueConstraint(
                fields=["name"],
                condition=Q(verified_at__isnull=False),
                name="sso_domain_verified_once",
            ),
            models.CheckConstraint(
                condition=Q(missing_since__isnull=True) | Q(verified_at__isnull=False),
                name="sso_domain_grace_only_when_verified",
            ),
        ]
        indexes = [models.Index(fields=["verified_at", "last_checked_at"])]

    def __str__(self) -> str:
        return self.name

    @property
    def last_check_detail(self) -> str:
        """What the last check found, in the active language ("" when nothing to say)."""
        return reason_text(self.last_check_code, self.last_check_params)

    @property
    def is_verified(self) -> bool:
        return self.verified_at is not None

    @property
    def record_name(self) -> str:
        return f"{CHALLENGE_PREFIX}.{self.name}"

    @property
    def status(self) -> str:
        if self.verified_at is None:
            return "pending"
        return "grace" if self.missing_since is not None else "verified"


class SsoConnection(models.Model):
    class Type(models.TextChoices):
        SAML = "saml", _("SAML 2.0")
        OIDC = "oidc", _("OpenID Connect")

    class CheckStatus(models.TextChoices):
        OK = "ok", _("OK")
        FAILED = "failed", _("Failed")

    provider_id = models.CharField(
        max_length=32, unique=True, default=new_provider_id, editable=False
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="sso_connections"
    )
    type = models.CharField(max_length=8, choices=Type.choices)
    enabled = models.BooleanField(default=True)
    jit_enabled = models.BooleanField(default=False)
    default_role = models.CharField(max_length=16, choices=Role.choices, default=Role.VIEWER)
    #: IdP group name -> role (never owner), applied at sign-in.
    group_role_mapping = models.JSONField(default=dict, blank=True)
    enforce = models.BooleanField(default=False)
    #: Owners who may still sign in with a password while SSO is enforced.
    break_glass_owners = models.ManyToManyField(Membership, blank=True, related_name="+")
    idp_initiated = models.BooleanField(default=False)

    # SAML, as given and as parsed (the parsed fields are filled by the save-time check).
    metadata_xml = models.TextField(blank=True)
    metadata_url = models.URLField(max_length=2000, blank=True)
    saml_entity_id = models.CharField(max_length=1024, blank=True)
    saml_sso_url = models.URLField(max_length=2000, blank=True)
    saml_certificate = models.TextField(blank=True)
    saml_certificate_next = models.TextField(blank=True)  # the IdP's rollover certificate
    require_signed_assertions = models.BooleanField(default=True)
    attribute_email = models.CharField(max_length=255, default="email")
    attribute_first_name = models.CharField(max_length=255, default="firstName", blank=True)
    attribute_last_name = models.CharField(max_length=255, default="lastName", blank=True)
    attribute_groups = models.CharField(max_length=255, blank=True)

    # OIDC.
    oidc_issuer = models.URLField(max_length=2000, blank=True)
    oidc_client_id = models.CharField(max_length=255, blank=True)
    oidc_client_secret = EncryptedTextField()

    # The save-time check (discovery / metadata fetch). Empty status: not checked yet.
    check_status = models.CharField(max_length=8, choices=CheckStatus.choices, blank=True)
    #: Why it failed, as the API's code (``dns``, ``tls``, ``issuer_mismatch``, ``sha1_only``…).
    check_reason = models.CharField(max_length=40, blank=True)
    #: The same as a sentence: a code of hypereal_site.reasons and its parameters,
    #: translated when shown (``check_message``).
    check_detail_code = models.CharField(max_length=40, blank=True)
    check_detail_params = models.JSONField(default=dict, blank=True)
    checked_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~Q(default_role=Role.OWNER), name="sso_connection_default_not_owner"
            ),
            models.CheckConstraint(
                condition=Q(type__in=["saml", "oidc"]), name="sso_connection_type_known"
            ),
            models.CheckConstraint(
                condition=Q(check_status__in=["", "ok", "failed"]),
                name="sso_connection_check_status_known",
            ),
        ]

    def __str__(self) -> str:
        return self.provider_id

    @property
    def has_client_secret(self) -> bool:
        return bool(self.oidc_client_secret)

    @property
    def check_message(self) -> str:
        """Why the save-time check failed, in the active language ("" otherwise)."""
        return reason_text(self.check_detail_code, self.check_detail_params)


# --- Signing in (docs/sso.md, "Signing in") -------------------------------------------------


class SsoLoginAttempt(models.Model):
    """One trip to the IdP and back: the per-attempt secrets live here, not in the session,
    since the IdP's cross-site POST may not carry the session cookie. Single use."""

    class Purpose(models.TextChoices):
        SIGNIN = "signin", _("Sign-in")
        TEST = "test", _("Connection test")

    connection = models.ForeignKey(
        SsoConnection, on_delete=models.CASCADE, related_name="login_attempts"
    )
    purpose = models.CharField(max_length=8, choices=Purpose.choices)
    #: SAML: the AuthnRequest's ID (the response's InResponseTo). OIDC: empty.
    request_id = models.CharField(max_length=128, blank=True)
    #: OIDC: state, nonce and PKCE verifier. SAML: empty.
    state = models.CharField(max_length=128, blank=True)
    nonce = models.CharField(max_length=128, blank=True)
    code_verifier = models.CharField(max_length=128, blank=True)
    next_url = models.CharField(max_length=2000, blank=True)
    #: A signed-in user who asked to link this IdP identity to their account (the link step).
    link_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    #: Who started a connection test (only they see its result).
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    #: A test's outcome: the claims received or the reason of the refusal.
    result = models.JSONField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "request_id"],
                condition=~Q(request_id=""),
                name="sso_attempt_request_id_once",
            ),
            models.UniqueConstraint(
                fields=["state"], condition=~Q(state=""), name="sso_attempt_state_once"
            ),
            models.CheckConstraint(
                condition=Q(purpose__in=["signin", "test"]), name="sso_attempt_purpose_known"
            ),
        ]
        indexes = [models.Index(fields=["expires_at"])]

    def __str__(self) -> str:
        return f"{self.purpose} attempt at {self.connection_id}"


class SsoIdentity(models.Model):
    """A person at an IdP: (connection, NameID or ``sub``), never the email alone. The same
    subject at another connection is another identity."""

    connection = models.ForeignKey(
        SsoConnection, on_delete=models.CASCADE, related_name="identities"
    )
    subject = models.CharField(max_length=512)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sso_identities"
    )
    email = models.EmailField(max_length=254)
    created_at = models.DateTimeField(default=timezone.now)
    last_login_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["connection", "subject"], name="sso_identity_subject_once"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.subject} at {self.connection_id}"


class SsoReplay(models.Model):
    """SAML assertion and message ids seen, kept until their NotOnOrAfter (then pruned by the
    beat): a second response carrying one is a replay."""

    connection = models.ForeignKey(SsoConnection, on_delete=models.CASCADE, related_name="+")
    value = models.CharField(max_length=256)
    expires_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["connection", "value"], name="sso_replay_once"),
        ]
        indexes = [models.Index(fields=["expires_at"])]

    def __str__(self) -> str:
        return self.value
