"""Bidi isolation for values people chose (names, emails, key ids) inside translated text.

``{% blocktranslate with name=key.name|bdi %}Key {{ name }} created{% endblocktranslate %}``
wraps the value in ``<bdi>``, so that an English key name inside an Arabic sentence (or
an Arabic organization name inside an English one) neither reorders the sentence around
it nor gets its own punctuation moved. ``|ltr`` is for values that are always
left-to-right (key strings, model ids, URLs, code): ``<bdi dir="ltr">``.
"""

from django import template
from django.utils.html import format_html

register = template.Library()


@register.filter
def bdi(value: object) -> str:
    return format_html("<bdi>{}</bdi>", value)


@register.filter
def ltr(value: object) -> str:
    return format_html('<bdi dir="ltr">{}</bdi>', value)
