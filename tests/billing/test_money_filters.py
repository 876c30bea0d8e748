"""The page filters for money: every figure shown is the exact amount or says it is smaller
than what the page can show, never a misleading zero."""

import pytest

from billing.templatetags.money import credits, usd

CREDIT = 1_000_000


@pytest.mark.parametrize(
    ("microcredits", "shown"),
    [
        (None, ""),
        (0, "$0.00"),
        (CREDIT, "$0.01"),  # 100 credits = 1 USD: one credit is a cent
        (250 * CREDIT, "$2.50"),
        (-250 * CREDIT, "-$2.50"),
        (123_456_789 * CREDIT, "$1,234,567.89"),
    ],
)
def test_usd_shows_dollars_and_cents(microcredits, shown):
    assert usd(microcredits) == shown


@pytest.mark.parametrize(("microcredits", "sign"), [(1, ""), (999_999, ""), (-5_000, "-")])
def test_usd_under_a_cent_says_so_with_the_exact_credits(microcredits, sign):
    shown = str(usd(microcredits))
    assert "$0.00" not in shown
    assert f"{sign}&lt;&nbsp;$0.01" in shown
    exact = f"{abs(microcredits) / CREDIT:.6f}".rstrip("0")
    assert f'title="{sign}{exact} credits"' in shown


def test_credits_and_usd_agree_on_what_is_too_small_to_show():
    assert "&lt;" in str(credits(9_999)) and "&lt;" in str(usd(9_999))
    assert "&lt;" not in str(credits(CREDIT)) and "&lt;" not in str(usd(CREDIT))
