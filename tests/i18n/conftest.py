import pytest
from django.conf import settings
from django.utils import translation


@pytest.fixture(autouse=True)
def _english_after_each_test():
    """A request in Arabic leaves Arabic active in this thread (LocaleMiddleware activates
    and never deactivates); later tests that render outside a request must not inherit it."""
    yield
    translation.activate(settings.LANGUAGE_CODE)
