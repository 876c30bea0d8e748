"""Right-to-left text rules that need no browser: money keeps Western digits, values
people chose are isolated, Arabic dates and numbers follow Django's ``ar`` formats."""

import re
from datetime import date

import pytest
from django.template import Context, Template
from django.utils import formats, translation

from billing.templatetags.money import credits, usd
from hypereal_site.text import isolate
from tests.accounts.factories import UserFactory
from tests.apikeys.factories import key_make, personal


@pytest.mark.parametrize("amount", [0, 1_234_567_890_000, -5_000_000, 125])
def test_money_keeps_western_digits_and_the_same_form_in_arabic(amount):
    english = (credits(amount), usd(amount))
    with translation.override("ar"):
        arabic = (credits(amount), usd(amount))

    # The amount is the same; only a tooltip's unit word ("credits") is translated.
    shown = [re.sub(r' title="[^"]*"', "", text) for text in arabic]
    assert shown == [re.sub(r' title="[^"]*"', "", text) for text in english]
    assert all(ch.isascii() for ch in "".join(arabic) if ch.isdigit())


def test_dates_follow_the_arabic_formats_with_western_digits():
    with translation.override("ar"):
        text = formats.date_format(date(2026, 11, 29), "DATE_FORMAT")

    assert text == "29 نوفمبر، 2026"


def test_names_in_translated_templates_are_isolated():
    template = Template(
        "{% load i18n bidi %}{% blocktranslate with name=n|bdi email=e|ltr %}"
        "Join {{ name }} as {{ email }}{% endblocktranslate %}"
    )

    html = template.render(Context({"n": "<Acme>", "e": "a@example.com"}))

    assert html == 'Join <bdi>&lt;Acme&gt;</bdi> as <bdi dir="ltr">a@example.com</bdi>'


def test_isolate_wraps_only_in_a_right_to_left_language():
    with translation.override("en"):
        assert isolate("prod-eu") == "prod-eu"
    with translation.override("ar"):
        assert isolate("prod-eu") == "\u2068prod-eu\u2069"


@pytest.mark.django_db
def test_the_key_page_in_arabic_mirrors_its_back_arrow_and_keeps_the_key_ltr(client_for):
    user = UserFactory(language="ar")
    key, _ = key_make(org=personal(user), actor=user, name="prod-eu")

    html = client_for(user).get(f"/manage-api-keys/{key.public_id}").content.decode()

    assert '<html lang="ar" dir="rtl">' in html
    assert '<span class="dir-icon" aria-hidden="true">←</span> مفاتيح API' in html
    assert '<bdi dir="ltr">' in html  # the creator's email and the date
