"""The one pricing function: (catalog model, usage) → micro-credits, exactly.

Rounding rule: every unit price is an integer, so image, clip, request and per-second
prices multiply exactly. Token prices are integers in nano-credits per token (credits per
million tokens × 1,000); an event's token cost is the exact sum in nano-credits, rounded
*up* to the next whole micro-credit (at most 0.000001 credit per event, never
undercharging). With whole-credit prices per million tokens — every seeded price — the
sum is already whole and nothing is rounded: tokens × price per million = µcr.
"""

from dataclasses import dataclass

from django.utils.translation import gettext as _

from .models import NANOCREDITS_PER_MICROCREDIT, CatalogModel, Endpoint

#: Minimum available balance, in µcr, to start a call on a token-priced endpoint.
TOKEN_ENDPOINT_MIN_BALANCE = 200 * 1_000_000  # 200 credits (2.00 USD), from the reference

TOKEN_ENDPOINTS = {Endpoint.CHAT, Endpoint.MESSAGES, Endpoint.RESPONSES, Endpoint.GEMINI}


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    images: int = 0
    seconds: int = 0
    clips: int = 0
    requests: int = 0
    tier: str = ""  # image size tier, e.g. "1K", "2K", "4K"

    def __post_init__(self) -> None:
        for name in ("input_tokens", "output_tokens", "images", "seconds", "clips", "requests"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer")


def _ceil_div(a: int, b: int) -> int:
    return -(-a // b)


def unit_price_microcredits(model: CatalogModel, tier: str = "") -> int:
    if tier and model.tier_microcredits:
        if tier not in model.tier_microcredits:
            raise ValueError(
                _("%(model)s has no %(tier)s tier; tiers: %(tiers)s")
                % {
                    "model": model.model_id,
                    "tier": repr(tier),
                    "tiers": ", ".join(sorted(model.tier_microcredits)),
                }
            )
        return int(model.tier_microcredits[tier])
    return int(model.unit_microcredits)


def price_microcredits(model: CatalogModel, usage: Usage) -> int:
    pricing = model.pricing
    if pricing == CatalogModel.Pricing.PER_TOKEN:
        nano = (
            usage.input_tokens * model.input_nanocredits_per_token
            + usage.output_tokens * model.output_nanocredits_per_token
        )
        return _ceil_div(nano, NANOCREDITS_PER_MICROCREDIT)
    if pricing == CatalogModel.Pricing.PER_IMAGE:
        return unit_price_microcredits(model, usage.tier) * usage.images
    if pricing == CatalogModel.Pricing.PER_SECOND:
        seconds = usage.seconds
        if model.max_seconds is not None:
            seconds = min(seconds, model.max_seconds)
        return model.unit_microcredits * seconds
    if pricing == CatalogModel.Pricing.PER_CLIP:
        return model.unit_microcredits * usage.clips
    if pricing == CatalogModel.Pricing.PER_REQUEST:
        return model.unit_microcredits * usage.requests
    raise ValueError(f"unknown pricing {pricing!r}")


def min_balance_microcredits(
    model: CatalogModel, endpoint: str, *, n: int = 1, tier: str = "", seconds: int = 0
) -> int:
    """The available balance needed to *start* a call.

    Token endpoints need 200 credits; an image call needs price × n (the seed's 402 rule);
    a clip or request needs one unit; per-second video needs the requested seconds (or the
    model's maximum) at its rate.
    """
    if endpoint in TOKEN_ENDPOINTS or model.pricing == CatalogModel.Pricing.PER_TOKEN:
        return TOKEN_ENDPOINT_MIN_BALANCE
    if model.pricing == CatalogModel.Pricing.PER_IMAGE:
        if not 1 <= n <= 10:
            raise ValueError(_("n must be between 1 and 10"))
        return unit_price_microcredits(model, tier) * n
    if model.pricing == CatalogModel.Pricing.PER_SECOND:
        wanted = seconds or model.max_seconds or 1
        if model.max_seconds is not None:
            wanted = min(wanted, model.max_seconds)
        return model.unit_microcredits * wanted
    return model.unit_microcredits
