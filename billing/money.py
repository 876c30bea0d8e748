"""Formatting and parsing money at the edge. Nothing here feeds back into arithmetic."""

from decimal import ROUND_DOWN, Decimal, DecimalException

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
        raise ValueError("Enter a number of credits.")
    try:
        value = Decimal(text)
    except DecimalException:
        raise ValueError("Enter a number of credits.") from None
    if not value.is_finite():
        raise ValueError("Enter a number of credits.")
    if value.adjusted() > 12 or value.copy_abs() > MAX_CREDITS:  # no context arithmetic
        raise ValueError(f"Enter at most {MAX_CREDITS:,} credits.")
    micro = value * MICROCREDITS_PER_CREDIT
    if micro != micro.to_integral_value(rounding=ROUND_DOWN):
        raise ValueError("Use at most 6 decimal places.")
    return int(micro)
