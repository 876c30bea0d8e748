from django.http import HttpRequest

from . import selectors
from .context import current_context


def console_context(request: HttpRequest) -> dict:
    """The context switcher's data, for every page of a signed-in user."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "ctx": current_context(request),
        "ctx_memberships": selectors.user_team_memberships(user=user),
    }
