from decimal import Decimal

from django import template

from billing.money import format_credits, format_usd

register = template.Library()


@register.filter
def credits(amount_microcredits: int | None, places: int = 2) -> str:
    return "" if amount_microcredits is None else format_credits(int(amount_microcredits), places)


@register.filter
def usd(amount_microcredits: int | None) -> str:
    return "" if amount_microcredits is None else format_usd(int(amount_microcredits))


@register.filter
def credits_per_mtok(nanocredits_per_token: int) -> str:
    """Nano-credits per token → credits per million tokens (the catalog's display unit)."""
    value = nanocredits_per_token / 1000
    return f"{value:,.3f}".rstrip("0").rstrip(".")


@register.filter
def usd_per_mtok(nanocredits_per_token: int) -> str:
    """Nano-credits per token → dollars per million tokens (100 credits = 1 USD)."""
    value = Decimal(nanocredits_per_token) / 1000 / 100
    return f"${value.quantize(Decimal('0.0001')).normalize():f}"


@register.filter
def cents(amount_cents: int | None) -> str:
    if amount_cents is None:
        return ""
    return f"${amount_cents // 100:,}.{amount_cents % 100:02d}"


@register.filter
def credits_exact(amount_microcredits: int | None) -> str:
    """Every micro-credit shown, trailing zeros trimmed to two places: 25,000.00, 0.000125."""
    if amount_microcredits is None:
        return ""
    text = format_credits(int(amount_microcredits), 6)
    whole, _, frac = text.partition(".")
    frac = frac.rstrip("0")
    return f"{whole}.{frac.ljust(2, '0')}"
