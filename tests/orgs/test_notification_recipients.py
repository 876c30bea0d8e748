"""Who hears about what is read from the role table, not from lists of role names:
low balance → members with ``billing.manage``; a key's cap alerts → its creator and the
members with ``keys.default_cap`` (those who decide key budgets)."""

import pytest

from apikeys.selectors import key_alert_recipients
from billing.selectors import billing_contacts
from orgs.models import Membership
from orgs.permissions import PERMISSION_ROLES, Perm
from orgs.selectors import members_with_perm
from orgs.services import personal_org_get_or_create
from tests.apikeys.factories import key_make

from .factories import member_add, org_make

pytestmark = pytest.mark.django_db

ROLES = ["owner", "admin", "developer", "billing", "viewer"]


@pytest.fixture
def team():
    org = org_make()
    by_role = {"owner": Membership.objects.get(organization=org).user}
    for role in ROLES[1:]:
        by_role[role] = member_add(org, role=role).user
    org.by_role = by_role
    return org


def emails_of(org, perm: Perm) -> list[str]:
    return sorted(
        org.by_role[r.value].email for r in PERMISSION_ROLES[perm] if r.value in org.by_role
    )


@pytest.mark.parametrize("perm", list(Perm))
def test_members_with_perm_follows_the_table(team, perm):
    got = sorted(m.user.email for m in members_with_perm(organization=team, perm=perm))
    assert got == emails_of(team, perm)


def test_low_balance_goes_to_billing_managers(team):
    assert billing_contacts(organization=team) == emails_of(team, Perm.BILLING_MANAGE)
    assert team.by_role["admin"].email not in billing_contacts(organization=team)


def test_cap_alerts_go_to_the_creator_and_the_budget_deciders(team):
    developer = team.by_role["developer"]
    key, _ = key_make(org=team, actor=developer, limit_credits=10)
    expected = sorted({developer.email, *emails_of(team, Perm.KEYS_DEFAULT_CAP)})
    assert key_alert_recipients(key=key) == expected
    assert team.by_role["viewer"].email not in expected


def test_a_personal_account_tells_its_user(user):
    org = personal_org_get_or_create(user=user)
    assert billing_contacts(organization=org) == [user.email]
    key, _ = key_make(org=org, actor=user, limit_credits=10)
    assert key_alert_recipients(key=key) == [user.email]
