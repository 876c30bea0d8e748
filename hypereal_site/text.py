"""What PostgreSQL refuses in text: a NUL character, and anything that is not valid UTF-8
(a lone surrogate such as ``"\\ud800"`` decodes from JSON but cannot be encoded). Input
that reaches a text column or a query parameter is checked here first, so that it is a
clear 400 (or one rejected event) instead of a database error and a 500. (DRF's
``CharField`` applies the same rule; these are for the paths that skip serializers.)"""

from django.utils import translation
from django.utils.translation import gettext, gettext_noop

# English, as callers may store them (a GPU job's refused output); ``field_refusal``
# translates them when a person reads the refusal.
_HAS_NUL = gettext_noop("contains a NUL character")
_NOT_UTF8 = gettext_noop("is not valid UTF-8 text")


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or None when it can. Cheap for the common
    case: ASCII text needs only the NUL scan."""
    if "\x00" in value:
        return _HAS_NUL
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return _NOT_UTF8
    return None


def field_refusal(name: str, problem: str) -> str:
    """The sentence refusing a field's text (``problem`` from ``text_problem``), in the
    active language: ``"name contains a NUL character."``."""
    return gettext("%(field)s %(problem)s.") % {"field": name, "problem": gettext(problem)}


def is_clean_text(value: object) -> bool:
    return isinstance(value, str) and text_problem(value) is None


def isolate(value: object) -> str:
    """A value people chose (a name, an email, a key id) made safe to put into translated
    plain text: in a right-to-left language it is wrapped in Unicode's FIRST STRONG ISOLATE
    … POP DIRECTIONAL ISOLATE, the plain-text ``<bdi>``, so that its own direction and
    punctuation do not reorder the sentence around it. Left-to-right text is unchanged."""
    text = str(value)
    if translation.get_language_bidi():
        return f"\u2068{text}\u2069"
    return text
