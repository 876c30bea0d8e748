"""The API keys app's answers to what billing and organizations announce (connected in
``ApikeysConfig.ready``; the apps below never import this one)."""

from .caps import settle_after_commit
from .services import org_keys_revoke_all
from .verification import invalidate_organization


def refresh_verifications(sender, *, organization_id: int, **kwargs) -> None:
    """A balance or a team changed: rebuild the owner's cached verifications after commit."""
    invalidate_organization(organization_id)


def revoke_keys_of_closing_organization(sender, *, organization, actor, **kwargs) -> None:
    org_keys_revoke_all(organization=organization, actor=actor)


def move_wallet_counter(
    sender, *, organization_id: int, available_delta: int = 0, **kwargs
) -> None:
    """A wallet's balance or held amount moved: after commit, move its reservation counter
    by a debit, or drop it on a credit (rebuilt from PostgreSQL by the next verification)."""

    # Journalled when the store does not answer; gathered with the transaction's other
    # settlements into one call.
    settle_after_commit(wallets={organization_id: available_delta})
