from accounts.models import User


def orgs_where_last_owner(*, user: User) -> list:
    """Organizations in which ``user`` is the only owner.

    Organizations and memberships arrive with the organizations capability; until then no
    account can be the last owner of anything.
    """
    return []
