"""Where a customer's ``ck_`` key may be found: the four forms the gateway accepts.

``Authorization: Bearer ck_…`` (OpenAI SDK, Codex, Cursor), ``x-api-key: ck_…``
(Anthropic SDK, Claude Code), ``x-goog-api-key: ck_…`` (Gemini SDK) and ``?key=ck_…``.
Every ``/v1/`` endpoint reads the key through ``extract_key``.
"""

from django.http import HttpRequest


def extract_key(request: HttpRequest) -> str | None:
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    for header in ("x-api-key", "x-goog-api-key"):
        value = request.headers.get(header)
        if value:
            return value.strip()
    value = request.GET.get("key")
    return value.strip() if value else None
