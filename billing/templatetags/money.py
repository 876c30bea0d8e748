from decimal import Decimal

from django import template
from django.utils.html import format_html
from django.utils.translation import gettext as _

from billing.models import MICROCREDITS_PER_CREDIT
from billing.money import format_credits, format_usd

register = template.Library()

#: One US cent: 1 credit (100 credits = 1 USD).
MICROCREDITS_PER_CENT = MICROCREDITS_PER_CREDIT


@register.filter
def credits(amount_microcredits: int | None, places: int = 2) -> str:
    """The one way a page shows credits: two decimals (``places`` more for unit prices).

    A non-zero amount that would show as zero reads "< 0.01" and keeps its exact figure in
    a ``title``; CSVs and APIs carry exact figures and never come through here.
    """
    if amount_microcredits in (None, ""):
        return ""
    amount = int(amount_microcredits)
    places = int(places)
    smallest = MICROCREDITS_PER_CREDIT // 10**places if places < 6 else 1
    if amount == 0 or abs(amount) >= smallest:
        text = format_credits(amount, min(places, 6))
        if places > 2:  # a price: every micro-credit, trailing zeros trimmed to two places
            whole, _sep, frac = text.partition(".")
            text = f"{whole}.{frac.rstrip('0').ljust(2, '0')}"
        return text
    exact = format_credits(amount, 6).rstrip("0")
    sign = "-" if amount < 0 else ""
    floor = format_credits(smallest, places)
    return format_html(
        '<span class="money-tiny" title="{}">{}&lt;&nbsp;{}</span>',
        _("%(amount)s credits") % {"amount": exact},
        sign,
        floor,
    )


@register.filter
def usd(amount_microcredits: int | None) -> str:
    """Dollars with cents; like ``credits``, a non-zero amount under one cent reads
    "< $0.01" with its exact credits in a ``title`` instead of a misleading "$0.00"."""
    if amount_microcredits in (None, ""):
        return ""
    amount = int(amount_microcredits)
    if amount == 0 or abs(amount) >= MICROCREDITS_PER_CENT:
        return format_usd(amount)
    return format_html(
        '<span class="money-tiny" title="{}">{}&lt;&nbsp;$0.01</span>',
        _("%(amount)s credits") % {"amount": format_credits(amount, 6).rstrip("0")},
        "-" if amount < 0 else "",
    )


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
