"""allauth's pages in Arabic use the glossary's words (docs/i18n.md): where allauth's own
Arabic catalogue differs ("الاشتراك" for sign up, "البريد الالكتروني" without its hamza),
our catalogue overrides it (accounts/allauth_text.py)."""

import re
from pathlib import Path

import allauth
import pytest
from babel.messages.pofile import read_po
from django.test import Client
from django.utils import translation

from accounts.allauth_text import OVERRIDDEN
from hypereal_site.management.catalogue import catalogue_read

pytestmark = pytest.mark.django_db

SIGN_IN = "تسجيل الدخول"
SIGN_UP = "إنشاء حساب"
EMAIL = "البريد الإلكتروني"
PASSWORD = "كلمة المرور"

#: Words the glossary replaces: allauth's, or a spelling it does not use.
OFF_GLOSSARY = {
    "الاشتراك": "sign up is إنشاء حساب",
    "التسجيل": "sign up is إنشاء حساب",
    "البريد الالكتروني": "email is البريد الإلكتروني (with the hamza)",
    "بريد الكتروني": "email is بريد إلكتروني (with the hamza)",
    "كلمة السر": "password is كلمة المرور",
    "الولوج": "sign in is تسجيل الدخول",
}

#: (path, the glossary terms the page must show)
PAGES = [
    ("/accounts/login/", [SIGN_IN, EMAIL]),
    ("/accounts/login/?method=password", [SIGN_IN, EMAIL, PASSWORD]),
    ("/accounts/signup/", [SIGN_UP, EMAIL, PASSWORD]),
    ("/accounts/password/reset/", [EMAIL, PASSWORD]),
]


def visible_text(html: str) -> str:
    """The page's text and its visible attributes (placeholders, titles, labels)."""
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    attributes = re.findall(r'(?:placeholder|title|aria-label|value)="([^"]*)"', html)
    return re.sub(r"<[^>]+>", " ", html) + " " + " ".join(attributes)


@pytest.mark.parametrize(("path", "terms"), PAGES, ids=[p for p, _ in PAGES])
def test_allauth_pages_in_arabic_follow_the_glossary(path, terms):
    response = Client(HTTP_ACCEPT_LANGUAGE="ar").get(path)
    assert response.status_code == 200
    text = visible_text(response.content.decode())
    assert 'dir="rtl"' in response.content.decode()

    missing = [term for term in terms if term not in text]
    assert not missing, f"{path} does not say {missing}"
    wrong = {word: why for word, why in OFF_GLOSSARY.items() if word in text}
    assert not wrong, f"{path} says {wrong}"


def test_our_catalogue_wins_over_allauths_for_every_override():
    """Each message of accounts/allauth_text.py is allauth's, and ours is what Django uses
    (so the pages above show our words, not allauth's)."""
    with (Path(allauth.__file__).parent / "locale/ar/LC_MESSAGES/django.po").open("rb") as f:
        theirs = read_po(f, locale="ar")
    assert theirs["Sign Up"].string == "الاشتراك"  # what the page said before
    ours = catalogue_read("ar")
    for message in OVERRIDDEN:
        assert theirs.get(message) is not None, f"{message!r} is not one of allauth's messages"
        with translation.override("ar"):
            shown = translation.gettext(message)
        assert shown == ours[message].string, message
        wrong = [word for word in OFF_GLOSSARY if word in shown]
        assert not wrong, (message, shown)
