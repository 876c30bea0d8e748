from accounts.models import User
from orgs.models import Organization


def org_keys_revoke_all(*, organization: Organization, actor: User) -> int:
    """Revoke every key of ``organization`` (called when it is deleted); returns how many.

    API keys arrive with the keys capability; until then an organization has none.
    """
    return 0
