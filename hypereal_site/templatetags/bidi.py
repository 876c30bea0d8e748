"""Bidi isolation for values people chose (names, emails, key ids) inside translated text.

``{% blocktranslate with name=key.name|bdi %}Key {{ name }} created{% endblocktranslate %}``
wraps the value in ``<bdi>``, so that an English key name inside an Arabic sentence (or
an Arabic organization name inside an English one) neither reorders the sentence around
it nor gets its own punctuation moved. ``|ltr`` is for values that are always
left-to-right (key strings, model ids, URLs, code): ``<bdi dir="ltr">``; ``|ltr_text``
the same in plain text (emails).
"""

from django import template
from django.utils import translation
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import mark_safe

register = template.Library()


@register.filter
def bdi(value: object) -> str:
    return format_html("<bdi>{}</bdi>", value)


@register.filter
def ltr(value: object) -> str:
    return format_html('<bdi dir="ltr">{}</bdi>', value)


@register.filter
def ltr_text(value: object) -> str:
    """``|ltr`` for plain text (an email): in a right-to-left language the value is wrapped
    in LEFT-TO-RIGHT ISOLATE … POP DIRECTIONAL ISOLATE, so that "-12.50" keeps its minus
    left of the digits; unchanged in a left-to-right language. Not escaped: for templates
    that are not HTML."""
    text = str(value)
    return f"\u2066{text}\u2069" if translation.get_language_bidi() else text


@register.filter
def dir_arrows(value: object) -> str:
    """Plain text whose "→" means "becomes" or "goes to" (an audit sentence: "Monthly cap
    50,000 → 999,999 credits"), escaped, with each arrow in a ``.dir-icon`` so that it is
    mirrored in right-to-left pages and still points from the old value to the new."""
    escaped = str(conditional_escape(value))
    return mark_safe(  # noqa: S308 - the text is escaped above; only our span is added
        escaped.replace("→", '<span class="dir-icon">→</span>')
    )
