"""When a key is refused, written once.

Verification (``/internal/v1/keys/verify``), holds (``/internal/v1/holds``) and the
customer's own ``/v1/key`` all refuse a key through these functions, so the rule, its
error type, its status and its message are the same everywhere. Each raises an
``ApplicationError`` in the gateway's vocabulary (docs/inference-plane.md) or returns.

Times are POSIX timestamps (floats): the verification cache stores them so, and they
compare without building datetimes on the hot path.
"""

from django.utils.translation import gettext as _

from hypereal_site.api.errors import ApplicationError

REVOKED = "revoked"
DISABLED = "disabled"


def _error(type_: str, message: str, status: int, **extra) -> ApplicationError:
    return ApplicationError(type_, message, status=status, extra=extra)


def not_enough_credits(*, needed: int, available: int) -> str:
    """The insufficient_credits message (amounts in µcr, Western digits in every language)."""
    return _(
        "Not enough credits: this call needs %(needed)s µcr available, "
        "the balance has %(available)s µcr."
    ) % {"needed": needed, "available": available}


def refuse_unusable(
    *,
    status: str,
    expires_at: float | None,
    previous_valid_until: float | None,
    is_previous_secret: bool,
    now: float,
) -> None:
    """Revoked (or its owner deleted: pass ``status="revoked"``), a rotated-out secret past
    its grace period, expired, disabled — checked in that order."""
    if status == REVOKED:
        raise _error("key_revoked", _("This API key was revoked."), 401)
    if is_previous_secret and (previous_valid_until is None or previous_valid_until <= now):
        raise _error("key_revoked", _("This API key was rotated; use the new key."), 401)
    if expires_at is not None and expires_at <= now:
        raise _error("key_expired", _("This API key has expired."), 401)
    if status == DISABLED:
        raise _error(
            "key_disabled", _("This API key is disabled. Re-enable it in the console."), 401
        )


def refuse_over_cap(*, limit: int | None, spend: int) -> None:
    """The key's monthly spending limit is reached."""
    if limit is not None and spend >= limit:
        raise _error(
            "spending_limit_exceeded",
            _("This key reached its monthly spending limit."),
            402,
            spending_limit_microcredits=limit,
            period_spend_microcredits=spend,
        )


def refuse_model(*, model: str, allowed: list[str] | None) -> None:
    """The key is restricted to other models (``allowed`` empty or None: every model)."""
    if allowed and model not in allowed:
        raise _error(
            "model_not_allowed",
            _("This key may not call %(model)s.") % {"model": model},
            403,
            allowed_models=allowed,
        )


def refuse_low_balance(*, needed: int, available: int) -> None:
    """The owner's available balance cannot cover what the call needs up front."""
    if needed and available < needed:
        raise _error(
            "insufficient_credits",
            not_enough_credits(needed=needed, available=available),
            402,
            needed_microcredits=needed,
            available_microcredits=available,
        )
