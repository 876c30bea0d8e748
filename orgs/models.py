from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy

from hypereal_site.ids import new_public_id

from .permissions import Role


class Organization(models.Model):
    """The one kind of owner (docs/architecture.md): a team, or a user's personal account.

    A personal organization has ``personal_for`` set, no slug and exactly one member, its
    user, as owner. Deleting an organization is a soft delete: its keys are revoked and it
    disappears for members, while its ledger and audit history stay readable by staff.
    """

    class Kind(models.TextChoices):
        PERSONAL = "personal", gettext_lazy("Personal account")
        TEAM = "team", gettext_lazy("Organization")

    public_id = models.CharField(
        gettext_lazy("public id"), max_length=16, unique=True, default=new_public_id, editable=False
    )
    kind = models.CharField(
        gettext_lazy("kind"), max_length=16, choices=Kind.choices, default=Kind.TEAM
    )
    name = models.CharField(gettext_lazy("name"), max_length=100)
    slug = models.SlugField(
        gettext_lazy("address name"), max_length=48, unique=True, null=True, blank=True
    )
    personal_for = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="personal_org",
        verbose_name=gettext_lazy("personal account of"),
    )
    created_at = models.DateTimeField(gettext_lazy("created at"), default=timezone.now)
    deleted_at = models.DateTimeField(gettext_lazy("deleted at"), null=True, blank=True)
    # The monthly cap new keys start at (µcr); NULL: no default. Set by Perm.KEYS_DEFAULT_CAP.
    default_key_spending_limit_microcredits = models.BigIntegerField(
        gettext_lazy("default cap for new keys (µcr)"), null=True, blank=True
    )

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(kind="team", slug__isnull=False, personal_for__isnull=True)
                | Q(kind="personal", slug__isnull=True),
                name="orgs_org_kind_shape",
            ),
            models.CheckConstraint(
                condition=Q(default_key_spending_limit_microcredits__isnull=True)
                | Q(default_key_spending_limit_microcredits__gt=0),
                name="orgs_org_default_key_limit_positive",
            ),
        ]
        verbose_name = gettext_lazy("organization")
        verbose_name_plural = gettext_lazy("organizations")

    def __str__(self) -> str:
        return self.name

    @property
    def is_personal(self) -> bool:
        return self.kind == self.Kind.PERSONAL

    @property
    def is_deleted(self) -> bool:
        return self.deleted_at is not None


class Membership(models.Model):
    public_id = models.CharField(
        gettext_lazy("public id"), max_length=16, unique=True, default=new_public_id, editable=False
    )
    organization = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="memberships",
        verbose_name=gettext_lazy("organization"),
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="memberships",
        verbose_name=gettext_lazy("user"),
    )
    role = models.CharField(gettext_lazy("role"), max_length=16, choices=Role.choices)
    created_at = models.DateTimeField(gettext_lazy("created at"), default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "user"], name="orgs_membership_unique"),
        ]
        indexes = [models.Index(fields=["user", "organization"])]
        verbose_name = gettext_lazy("membership")
        verbose_name_plural = gettext_lazy("memberships")

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} as {self.role}"


class Invitation(models.Model):
    """An emailed invitation. Only the SHA-256 of its token is stored."""

    public_id = models.CharField(
        gettext_lazy("public id"), max_length=16, unique=True, default=new_public_id, editable=False
    )
    organization = models.ForeignKey(
        Organization,
        on_delete=models.CASCADE,
        related_name="invitations",
        verbose_name=gettext_lazy("organization"),
    )
    email = models.EmailField(gettext_lazy("email address"), max_length=254)
    role = models.CharField(gettext_lazy("role"), max_length=16, choices=Role.choices)
    token_hash = models.CharField(gettext_lazy("token hash"), max_length=64, unique=True)
    invited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=gettext_lazy("invited by"),
    )
    created_at = models.DateTimeField(gettext_lazy("created at"), default=timezone.now)
    expires_at = models.DateTimeField(gettext_lazy("expires at"))
    accepted_at = models.DateTimeField(gettext_lazy("accepted at"), null=True, blank=True)
    accepted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=gettext_lazy("accepted by"),
    )
    revoked_at = models.DateTimeField(gettext_lazy("revoked at"), null=True, blank=True)

    class Meta:
        constraints = [
            # One open invitation per address and organization; resending replaces its token.
            models.UniqueConstraint(
                "organization",
                Lower("email"),
                condition=Q(accepted_at__isnull=True, revoked_at__isnull=True),
                name="orgs_invitation_one_open_per_email",
            ),
        ]
        verbose_name = gettext_lazy("invitation")
        verbose_name_plural = gettext_lazy("invitations")

    def __str__(self) -> str:
        return f"{self.email} → {self.organization}"

    @property
    def is_open(self) -> bool:
        return self.accepted_at is None and self.revoked_at is None

    def status(self, now=None) -> str:
        if self.accepted_at:
            return "accepted"
        if self.revoked_at:
            return "revoked"
        if (now or timezone.now()) >= self.expires_at:
            return "expired"
        return "pending"


class AuditEvent(models.Model):
    """An append-only record of a sensitive change (on PostgreSQL a trigger refuses edits).

    ``actor`` becomes NULL when the person's account is deleted (the only change the
    trigger lets through); ``actor_label`` keeps who it was.
    """

    public_id = models.CharField(
        gettext_lazy("public id"), max_length=16, unique=True, default=new_public_id, editable=False
    )
    # NULL only for platform events that belong to no tenant (service tokens): staff see
    # them in the admin; every tenant's log filters by its organization.
    organization = models.ForeignKey(
        Organization,
        null=True,
        on_delete=models.PROTECT,
        related_name="audit_events",
        verbose_name=gettext_lazy("organization"),
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=gettext_lazy("actor"),
    )
    actor_label = models.CharField(gettext_lazy("recorded actor"), max_length=254, blank=True)
    action = models.CharField(gettext_lazy("action"), max_length=64)
    target_type = models.CharField(gettext_lazy("target type"), max_length=32, blank=True)
    target_id = models.CharField(gettext_lazy("target id"), max_length=64, blank=True)
    target_label = models.CharField(gettext_lazy("target"), max_length=254, blank=True)
    before = models.JSONField(gettext_lazy("before"), null=True, blank=True)
    after = models.JSONField(gettext_lazy("after"), null=True, blank=True)
    ip_address = models.GenericIPAddressField(gettext_lazy("IP address"), null=True, blank=True)
    user_agent = models.CharField(gettext_lazy("user agent"), max_length=512, blank=True)
    request_id = models.CharField(gettext_lazy("request id"), max_length=128, blank=True)
    created_at = models.DateTimeField(
        gettext_lazy("created at"), default=timezone.now, db_index=True
    )

    class Meta:
        indexes = [
            models.Index(fields=["organization", "-created_at", "-id"]),
            models.Index(fields=["organization", "action", "-created_at"]),
        ]
        verbose_name = gettext_lazy("audit event")
        verbose_name_plural = gettext_lazy("audit events")

    def __str__(self) -> str:
        return f"{self.action} by {self.actor_label or 'system'}"
