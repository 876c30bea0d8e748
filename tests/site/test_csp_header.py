"""Every page carries the Content-Security-Policy, and no template holds what it would
block: an inline ``<script>``, an ``on…=`` handler or an ``hx-on`` attribute (htmx runs
those through ``eval``). A template that adds one fails here before a browser sees it."""

import re

import pytest
from django.conf import settings
from django.test import Client

pytestmark = pytest.mark.django_db

INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>")
HANDLER = re.compile(r"\s(?:on[a-z]+|hx-on[:\w-]*)\s*=", re.IGNORECASE)


def _directive(policy: str, name: str) -> list[str]:
    for part in policy.split(";"):
        words = part.split()
        if words and words[0] == name:
            return words[1:]
    return []


@pytest.mark.parametrize("path", ["/accounts/login/", "/models", "/api/me", "/healthz"])
def test_responses_carry_the_policy(path):
    policy = Client().get(path)["Content-Security-Policy"]
    script = _directive(policy, "script-src")
    assert script == ["'self'"], policy
    assert _directive(policy, "object-src") == ["'none'"]
    assert _directive(policy, "frame-ancestors") == ["'none'"]
    assert "'unsafe-inline'" not in _directive(policy, "style-src")


def test_no_template_holds_an_inline_script_or_handler():
    offenders = []
    for path in sorted((settings.BASE_DIR / "templates").rglob("*.html")):
        text = path.read_text()
        for pattern in (INLINE_SCRIPT, HANDLER):
            offenders += [
                f"{path.relative_to(settings.BASE_DIR)}: {m.group(0).strip()}"
                for m in pattern.finditer(text)
            ]
    assert not offenders, offenders


def test_the_patterns_catch_what_they_must():
    assert INLINE_SCRIPT.search("<script>alert(1)</script>")
    assert not INLINE_SCRIPT.search('<script src="/static/js/console.js" defer></script>')
    assert HANDLER.search('<a onclick="x()">')
    assert HANDLER.search('<a hx-on::after-request="x()">')
    assert not HANDLER.search('<a data-open-dialog="key-dialog">')
