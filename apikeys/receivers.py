"""The API keys app's answers to what billing and organizations announce (connected in
``ApikeysConfig.ready``; the apps below never import this one)."""

from .services import org_keys_revoke_all
from .verification import invalidate_organization


def refresh_verifications(sender, *, organization_id: int, **kwargs) -> None:
    """A balance or a team changed: rebuild the owner's cached verifications after commit."""
    invalidate_organization(organization_id)


def revoke_keys_of_closing_organization(sender, *, organization, actor, **kwargs) -> None:
    org_keys_revoke_all(organization=organization, actor=actor)
