"""Formatting and parsing money at the edge. Nothing here feeds back into arithmetic.

Credits typed by a person (forms) and credits sent to a browser API are read by the same
``credits_input``: whole credits or decimals, up to 6 places (= 1 µcr, exact), at most a
billion. ``billing.forms.CreditsField`` and ``billing.serializers.CreditsInputField`` wrap it.
"""

from decimal import ROUND_DOWN, Decimal, DecimalException

from django.utils.translation import gettext as _

from .models import CREDITS_PER_USD, MICROCREDITS_PER_CREDIT


def microcredits_to_credits(amount: int) -> Decimal:
    return Decimal(amount) / MICROCREDITS_PER_CREDIT


def format_credits(amount_microcredits: int, places: int = 2) -> str:
    """``12_345_678`` µcr → ``"12.35"`` credits (display only; half-even)."""
    value = microcredits_to_credits(amount_microcredits).quantize(Decimal(1).scaleb(-places))
    return f"{value:,}"


def format_usd(amount_microcredits: int) -> str:
    usd = (microcredits_to_credits(amount_microcredits) / CREDITS_PER_USD).quantize(Decimal("0.01"))
    sign = "-" if usd < 0 else ""
    return f"{sign}${abs(usd):,}"


#: The largest amount a person may type (a billion credits, 10 M USD).
MAX_CREDITS = 1_000_000_000


def parse_credits(text: str) -> int:
    """Credits typed by a person (``"12.5"``) → µcr, exactly; at most 6 decimals."""
    text = str(text).strip().replace(",", "")
    if len(text) > 32:
        raise ValueError(_("Enter a number of credits."))
    try:
        value = Decimal(text)
    except DecimalException:
        raise ValueError(_("Enter a number of credits.")) from None
    if not value.is_finite():
        raise ValueError(_("Enter a number of credits."))
    if value.adjusted() > 12 or value.copy_abs() > MAX_CREDITS:  # no context arithmetic
        raise ValueError(_("Enter at most %(max)s credits.") % {"max": f"{MAX_CREDITS:,}"})
    micro = value * MICROCREDITS_PER_CREDIT
    if micro != micro.to_integral_value(rounding=ROUND_DOWN):
        raise ValueError(_("Use at most 6 decimal places."))
    return int(micro)


def credits_input(value, *, min_microcredits: int | None = None) -> int:
    """A credits amount from a form or an API body → µcr; ``ValueError`` with the message
    to show. ``value`` is text, an int or a Decimal (a JSON number parsed as float is read
    back from its shortest repr, which is the literal that was sent for ≤ 15 digits).
    ``min_microcredits`` of 1 refuses zero and below, of 0 refuses negatives."""
    if isinstance(value, bool) or not isinstance(value, str | int | float | Decimal):
        raise ValueError(_("Enter a number of credits."))
    text = repr(value) if isinstance(value, float) else str(value)
    amount = parse_credits(text)
    if min_microcredits is not None and amount < min_microcredits:
        if min_microcredits > 0:
            raise ValueError(_("Enter more than zero credits."))
        raise ValueError(_("Enter zero or more credits."))
    return amount


def credits_output(amount_microcredits: int | None) -> int | Decimal | None:
    """µcr → credits for an API body: an int when whole, else the exact Decimal."""
    if amount_microcredits is None:
        return None
    if amount_microcredits % MICROCREDITS_PER_CREDIT == 0:
        return amount_microcredits // MICROCREDITS_PER_CREDIT
    return microcredits_to_credits(amount_microcredits)


def credits_text(amount_microcredits: int | None) -> str:
    """µcr → the exact credits a form shows as its initial value (``"12.5"``, no commas),
    so that saving an untouched form never changes the amount."""
    if amount_microcredits is None:
        return ""
    return str(credits_output(amount_microcredits))
