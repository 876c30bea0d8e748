"""Membership changes refresh the organization's cached key verifications."""

import pytest
from django.core.cache import cache

from apikeys import verification
from orgs import services as org_services
from orgs.models import Membership
from orgs.permissions import Role

from .factories import fund, join, key_make, team

pytestmark = pytest.mark.django_db


def cached(key) -> bool:
    return cache.get(verification._cache_key(key.secret_hash)) is not None


@pytest.mark.parametrize("change", ["removed", "left"])
def test_a_member_leaving_drops_the_orgs_cached_verifications(
    change, internal, owner, django_capture_on_commit_callbacks
):
    org = team(owner)
    fund(org, 500)
    key, plaintext = key_make(org=org, actor=owner)
    member = join(org, Role.DEVELOPER)
    response = internal.post("/internal/v1/keys/verify", {"key": plaintext}, format="json")
    assert response.status_code == 200
    assert cached(key)

    with django_capture_on_commit_callbacks(execute=True):
        if change == "removed":
            membership = Membership.objects.get(organization=org, user=member)
            org_services.member_remove(membership=membership, actor=owner)
        else:
            org_services.member_leave(organization=org, actor=member)

    assert not cached(key)
    assert not Membership.objects.filter(organization=org, user=member).exists()
