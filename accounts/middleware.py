"""The signed-in person's saved language, ahead of everything else.

Django's ``LocaleMiddleware`` (earlier in the chain) picks the language from the
switcher's cookie, then ``Accept-Language``, then ``LANGUAGE_CODE``; this one runs after
``AuthenticationMiddleware`` and overrides that choice with the account's preference when
it has one. The order of precedence is written down in docs/i18n.md.
"""

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation


class UserLanguageMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.known = {code for code, _name in settings.LANGUAGES}

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        language = getattr(user, "language", "") if user is not None else ""
        if language in self.known and user.is_authenticated:
            translation.activate(language)
            request.LANGUAGE_CODE = language
        return self.get_response(request)
