from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, BaseUserManager, PermissionsMixin
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy

from hypereal_site.ids import new_public_id


def normalize_email(email: str) -> str:
    """The identity form of an address: trimmed and lower-cased as a whole.

    ``Alice@X.com`` and ``alice@x.com`` are one account; mailbox case sensitivity is a
    theoretical RFC allowance that no real provider uses, and honouring it invites
    look-alike account takeovers.
    """
    return (email or "").strip().lower()


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def get_by_natural_key(self, email: str) -> "User":
        return self.get(email__iexact=normalize_email(email))

    def create_user(self, email: str, password: str | None = None, **extra) -> "User":
        if not email:
            raise ValueError("An email address is required.")
        user = self.model(email=normalize_email(email), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_superuser(self, email: str, password: str | None = None, **extra) -> "User":
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self.create_user(email, password, **extra)


class User(AbstractBaseUser, PermissionsMixin):
    """A person. The email address is the identity; there are no usernames."""

    public_id = models.CharField(
        gettext_lazy("public id"), max_length=16, unique=True, default=new_public_id, editable=False
    )
    email = models.EmailField(gettext_lazy("email address"), max_length=254, unique=True)
    name = models.CharField(gettext_lazy("name"), max_length=150, blank=True)
    is_active = models.BooleanField(gettext_lazy("active"), default=True)
    is_staff = models.BooleanField(
        gettext_lazy("staff status"),
        default=False,
        help_text=gettext_lazy("May sign in to the Django admin."),
    )
    date_joined = models.DateTimeField(gettext_lazy("date joined"), default=timezone.now)
    #: An IANA zone name (checked against zoneinfo by the account form): the viewer's days
    #: on the usage page and in ``/api/api-usage``'s ``daily``.
    timezone = models.CharField(gettext_lazy("time zone"), max_length=64, default="UTC")
    #: The console's language for this person ("en", "ar"), ahead of the switcher's cookie
    #: and the browser's Accept-Language; blank follows them. Emails go out in it too.
    language = models.CharField(
        gettext_lazy("language"), max_length=8, blank=True, default="", choices=settings.LANGUAGES
    )

    objects = UserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    class Meta:
        constraints = [
            # The case-insensitive guarantee, enforced by the database itself.
            models.UniqueConstraint(Lower("email"), name="accounts_user_email_ci_unique"),
        ]
        verbose_name = gettext_lazy("user")
        verbose_name_plural = gettext_lazy("users")

    def __str__(self) -> str:
        return self.email

    def clean(self) -> None:
        super().clean()
        self.email = normalize_email(self.email)

    def get_full_name(self) -> str:
        return self.name or self.email

    def get_short_name(self) -> str:
        return self.name or self.email.split("@")[0]
