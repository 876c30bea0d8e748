"""The one pricing function, exactly: (catalog model, usage) → micro-credits.

Units (billing/models.py): 1 credit = 1,000,000 µcr; token prices are nano-credits per
token, so P credits per million tokens = P µcr per token = 1,000·P ncr per token.
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from billing.models import CatalogModel, Endpoint
from billing.pricing import (
    TOKEN_ENDPOINT_MIN_BALANCE,
    Usage,
    min_balance_microcredits,
    price_microcredits,
)

CREDIT = 1_000_000  # µcr
P = CatalogModel.Pricing


def token_model(input_credits_per_m, output_credits_per_m) -> CatalogModel:
    """Prices given in credits per million tokens (may be fractional, to 0.001)."""
    return CatalogModel(
        model_id="t",
        pricing=P.PER_TOKEN,
        input_nanocredits_per_token=round(input_credits_per_m * 1000),
        output_nanocredits_per_token=round(output_credits_per_m * 1000),
    )


def unit_model(pricing, credits, *, tiers=None, max_seconds=None) -> CatalogModel:
    return CatalogModel(
        model_id="u",
        pricing=pricing,
        unit_microcredits=credits * CREDIT,
        tier_microcredits={k: v * CREDIT for k, v in (tiers or {}).items()},
        max_seconds=max_seconds,
    )


# --- every pricing kind, exactly -----------------------------------------------------------


@pytest.mark.parametrize(
    "price_in, price_out, tokens_in, tokens_out, expected_microcredits",
    [
        # tokens × price per million = µcr, for whole-credit prices
        (125, 1000, 1_000_000, 0, 125 * CREDIT),
        (125, 1000, 0, 1_000_000, 1000 * CREDIT),
        (125, 1000, 1000, 500, 1000 * 125 + 500 * 1000),  # 0.625 credits
        (300, 1500, 12_345, 678, 12_345 * 300 + 678 * 1500),
        (5, 40, 1, 1, 45),
        (5, 40, 0, 0, 0),
    ],
)
def test_per_token_whole_credit_prices_are_exact(
    price_in, price_out, tokens_in, tokens_out, expected_microcredits
):
    model = token_model(price_in, price_out)
    usage = Usage(input_tokens=tokens_in, output_tokens=tokens_out)
    assert price_microcredits(model, usage) == expected_microcredits


@pytest.mark.parametrize(
    "price_in, price_out, tokens_in, tokens_out, expected_microcredits",
    [
        # 0.001 credits per million = 1 ncr per token: a thousand tokens per µcr, rounded up
        (0.001, 0, 1, 0, 1),
        (0.001, 0, 999, 0, 1),
        (0.001, 0, 1000, 0, 1),
        (0.001, 0, 1001, 0, 2),
        # 1.25 credits per million = 1,250 ncr per token
        (1.25, 0, 1, 0, 2),  # 1,250 ncr → 2 µcr
        (1.25, 0, 4, 0, 5),  # 5,000 ncr → exactly 5 µcr
        (1.25, 0.5, 3, 3, 6),  # 3,750 + 1,500 = 5,250 ncr → 6 µcr (rounded once, on the sum)
    ],
)
def test_per_token_fractional_prices_round_the_sum_up_once(
    price_in, price_out, tokens_in, tokens_out, expected_microcredits
):
    model = token_model(price_in, price_out)
    usage = Usage(input_tokens=tokens_in, output_tokens=tokens_out)
    assert price_microcredits(model, usage) == expected_microcredits


def test_per_image_is_price_times_n():
    model = unit_model(P.PER_IMAGE, 12)
    assert price_microcredits(model, Usage(images=1)) == 12 * CREDIT
    assert price_microcredits(model, Usage(images=10)) == 120 * CREDIT
    assert price_microcredits(model, Usage(images=0)) == 0


def test_gpt_image_2_tiers():
    model = unit_model(P.PER_IMAGE, 4, tiers={"1K": 4, "2K": 8, "4K": 16})
    assert price_microcredits(model, Usage(images=3, tier="1K")) == 12 * CREDIT
    assert price_microcredits(model, Usage(images=3, tier="2K")) == 24 * CREDIT
    assert price_microcredits(model, Usage(images=2, tier="4K")) == 32 * CREDIT
    assert price_microcredits(model, Usage(images=2)) == 8 * CREDIT  # no tier: the base price
    with pytest.raises(ValueError, match="has no '8K' tier; tiers: 1K, 2K, 4K"):
        price_microcredits(model, Usage(images=1, tier="8K"))


@pytest.mark.django_db
def test_seeded_gpt_image_2_prices_by_tier():
    model = CatalogModel.objects.get(model_id="gpt-image-2")
    prices = {
        tier: price_microcredits(model, Usage(images=1, tier=tier)) for tier in ("1K", "2K", "4K")
    }
    assert prices == {"1K": 4 * CREDIT, "2K": 8 * CREDIT, "4K": 16 * CREDIT}


@pytest.mark.parametrize(
    "seconds, expected_credits", [(0, 0), (1, 15), (6, 90), (15, 225), (16, 225), (3600, 225)]
)
def test_per_second_is_capped_at_max_seconds(seconds, expected_credits):
    model = unit_model(P.PER_SECOND, 15, max_seconds=15)
    assert price_microcredits(model, Usage(seconds=seconds)) == expected_credits * CREDIT


def test_per_second_without_a_maximum_is_not_capped():
    model = unit_model(P.PER_SECOND, 2)
    assert price_microcredits(model, Usage(seconds=1000)) == 2000 * CREDIT


def test_per_clip_and_per_request():
    clip = unit_model(P.PER_CLIP, 100)
    assert price_microcredits(clip, Usage(clips=1)) == 100 * CREDIT
    assert price_microcredits(clip, Usage(clips=3)) == 300 * CREDIT
    assert price_microcredits(clip, Usage(seconds=8)) == 0  # seconds do not matter per clip
    request = unit_model(P.PER_REQUEST, 3)
    assert price_microcredits(request, Usage(requests=5)) == 15 * CREDIT


def test_only_the_count_of_the_models_kind_is_billed():
    usage = Usage(input_tokens=10, output_tokens=10, images=2, seconds=5, clips=1, requests=1)
    assert price_microcredits(unit_model(P.PER_IMAGE, 4), usage) == 8 * CREDIT
    assert price_microcredits(token_model(1, 1), usage) == 20


def test_unknown_pricing_kind_is_refused():
    with pytest.raises(ValueError, match="unknown pricing"):
        price_microcredits(CatalogModel(model_id="x", pricing="per_vibe"), Usage())


# --- usage validation -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field", ["input_tokens", "output_tokens", "images", "seconds", "clips", "requests"]
)
@pytest.mark.parametrize("value", [-1, 1.0, 0.5, "3", True, None])
def test_usage_counts_must_be_non_negative_integers(field, value):
    with pytest.raises(ValueError, match=f"{field} must be a non-negative integer"):
        Usage(**{field: value})


# --- the balance needed to start a call ----------------------------------------------------


@pytest.mark.parametrize(
    "endpoint", [Endpoint.CHAT, Endpoint.MESSAGES, Endpoint.RESPONSES, Endpoint.GEMINI]
)
def test_token_endpoints_need_200_credits(endpoint):
    assert TOKEN_ENDPOINT_MIN_BALANCE == 200 * CREDIT
    assert min_balance_microcredits(token_model(125, 1000), endpoint) == 200 * CREDIT
    # Even a very cheap model: the floor is the reference's 200 credits ($2.00).
    assert min_balance_microcredits(token_model(0.001, 0.001), endpoint) == 200 * CREDIT


@pytest.mark.parametrize("n", range(1, 11))
def test_images_need_price_times_n(n):
    model = unit_model(P.PER_IMAGE, 12)
    assert min_balance_microcredits(model, Endpoint.IMAGES, n=n) == 12 * n * CREDIT


def test_images_by_tier_need_the_tier_price_times_n():
    model = unit_model(P.PER_IMAGE, 4, tiers={"1K": 4, "2K": 8, "4K": 16})
    assert min_balance_microcredits(model, Endpoint.IMAGES, n=2, tier="4K") == 32 * CREDIT
    assert min_balance_microcredits(model, Endpoint.IMAGES, n=10, tier="1K") == 40 * CREDIT


@pytest.mark.parametrize("n", [0, -1, 11, 100])
def test_images_n_outside_1_to_10_is_refused(n):
    with pytest.raises(ValueError, match="n must be between 1 and 10"):
        min_balance_microcredits(unit_model(P.PER_IMAGE, 4), Endpoint.IMAGES, n=n)


def test_video_needs_the_requested_seconds_or_the_maximum():
    model = unit_model(P.PER_SECOND, 14, max_seconds=10)
    assert min_balance_microcredits(model, Endpoint.VIDEOS, seconds=6) == 84 * CREDIT
    assert min_balance_microcredits(model, Endpoint.VIDEOS) == 140 * CREDIT  # unknown: the max
    assert min_balance_microcredits(model, Endpoint.VIDEOS, seconds=60) == 140 * CREDIT
    clip = unit_model(P.PER_CLIP, 120)
    assert min_balance_microcredits(clip, Endpoint.VIDEOS) == 120 * CREDIT
    audio = unit_model(P.PER_REQUEST, 20)
    assert min_balance_microcredits(audio, Endpoint.AUDIO) == 20 * CREDIT


# --- properties ------------------------------------------------------------------------------

counts = st.integers(min_value=0, max_value=10**9)
ncr_prices = st.integers(min_value=0, max_value=50_000_000)  # up to 50,000 credits per Mtok
unit_prices = st.integers(min_value=0, max_value=10**10)


@st.composite
def token_usages(draw):
    return Usage(input_tokens=draw(counts), output_tokens=draw(counts))


def _sum(a: Usage, b: Usage) -> Usage:
    return Usage(
        input_tokens=a.input_tokens + b.input_tokens,
        output_tokens=a.output_tokens + b.output_tokens,
        images=a.images + b.images,
        seconds=a.seconds + b.seconds,
        clips=a.clips + b.clips,
        requests=a.requests + b.requests,
    )


@given(ncr_prices, ncr_prices, token_usages(), token_usages())
def test_per_token_price_is_within_one_microcredit_of_additive(pin, pout, a, b):
    """Each call's nano-credit sum is rounded up once. With N(u) the exact sum in ncr,
    price(u) = ⌈N(u)/1000⌉ and N is additive, so

        price(a) + price(b) − 1  ≤  price(a + b)  ≤  price(a) + price(b)

    (splitting a call never undercharges, and costs at most one µcr more), and
    N(u)/1000 ≤ price(u) < N(u)/1000 + 1 (never under, at most 1 µcr over)."""
    model = CatalogModel(
        pricing=P.PER_TOKEN, input_nanocredits_per_token=pin, output_nanocredits_per_token=pout
    )
    pa, pb, pab = (price_microcredits(model, u) for u in (a, b, _sum(a, b)))
    assert pa + pb - 1 <= pab <= pa + pb
    for usage, price in ((a, pa), (b, pb), (_sum(a, b), pab)):
        nano = usage.input_tokens * pin + usage.output_tokens * pout
        assert nano <= price * 1000 < nano + 1000


@given(st.integers(0, 50_000), st.integers(0, 50_000), token_usages(), token_usages())
def test_per_token_whole_credit_prices_are_exactly_additive(cin, cout, a, b):
    model = CatalogModel(
        pricing=P.PER_TOKEN,
        input_nanocredits_per_token=cin * 1000,
        output_nanocredits_per_token=cout * 1000,
    )
    pab = price_microcredits(model, _sum(a, b))
    assert pab == price_microcredits(model, a) + price_microcredits(model, b)
    assert price_microcredits(model, a) == a.input_tokens * cin + a.output_tokens * cout


unit_kinds = st.sampled_from(
    [
        (P.PER_IMAGE, "images"),
        (P.PER_CLIP, "clips"),
        (P.PER_REQUEST, "requests"),
        (P.PER_SECOND, "seconds"),
    ]
)


@given(unit_kinds, unit_prices, counts, counts)
def test_unit_prices_are_exactly_additive_without_a_cap(kind, price, x, y):
    pricing, field = kind
    model = CatalogModel(pricing=pricing, unit_microcredits=price, max_seconds=None)
    pa = price_microcredits(model, Usage(**{field: x}))
    pb = price_microcredits(model, Usage(**{field: y}))
    assert pa == price * x and pb == price * y
    assert price_microcredits(model, Usage(**{field: x + y})) == pa + pb


@given(unit_prices, st.integers(1, 3600), counts, counts)
def test_capped_per_second_is_subadditive_and_never_above_the_cap(price, cap, x, y):
    model = CatalogModel(pricing=P.PER_SECOND, unit_microcredits=price, max_seconds=cap)
    pab = price_microcredits(model, Usage(seconds=x + y))
    assert pab <= price_microcredits(model, Usage(seconds=x)) + price_microcredits(
        model, Usage(seconds=y)
    )
    assert pab == price * min(x + y, cap) <= price * cap


@given(
    st.sampled_from(["input_tokens", "output_tokens", "images", "seconds", "clips", "requests"]),
    st.sampled_from(list(P.values)),
    ncr_prices,
    unit_prices,
    st.one_of(st.none(), st.integers(1, 3600)),
    counts,
    st.integers(0, 10**6),
)
def test_price_is_monotonic_in_every_count(field, pricing, ncr, unit, cap, base, extra):
    model = CatalogModel(
        pricing=pricing,
        input_nanocredits_per_token=ncr,
        output_nanocredits_per_token=ncr // 3,
        unit_microcredits=unit,
        max_seconds=cap,
    )
    low = price_microcredits(model, Usage(**{field: base}))
    high = price_microcredits(model, Usage(**{field: base + extra}))
    assert 0 <= low <= high
