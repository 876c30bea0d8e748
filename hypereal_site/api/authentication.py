from drf_spectacular.authentication import SessionScheme
from rest_framework import authentication


class SessionAuthentication(authentication.SessionAuthentication):
    """Session auth that answers 401 (not 403) when no one is signed in.

    DRF only returns 401 when the first authenticator names a ``WWW-Authenticate``
    scheme; a signed-out browser call is an authentication problem, not a permission one.
    """

    def authenticate_header(self, request) -> str:
        return 'Session realm="api"'


class SessionAuthenticationScheme(SessionScheme):
    """Describes the session cookie in the OpenAPI document.

    drf-spectacular only knows DRF's own class; without this it warns on every view
    (``manage.py check --deploy`` reports drf_spectacular.W001) and omits the scheme.
    Defining the subclass registers it.
    """

    target_class = SessionAuthentication
    name = "sessionAuth"
