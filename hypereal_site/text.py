"""What PostgreSQL refuses in text: a NUL character, and anything that is not valid UTF-8
(a lone surrogate such as ``"\\ud800"`` decodes from JSON but cannot be encoded). Input
that reaches a text column or a query parameter is checked here first, so that it is a
clear 400 (or one rejected event) instead of a database error and a 500. (DRF's
``CharField`` applies the same rule; these are for the paths that skip serializers.)"""


def text_problem(value: str) -> str | None:
    """Why ``value`` cannot be stored as text, or None when it can. Cheap for the common
    case: ASCII text needs only the NUL scan."""
    if "\x00" in value:
        return "contains a NUL character"
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return "is not valid UTF-8 text"
    return None


def is_clean_text(value: object) -> bool:
    return isinstance(value, str) and text_problem(value) is None
