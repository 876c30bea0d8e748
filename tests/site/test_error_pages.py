"""400, 403, 404 and 405 pages keep the console around them and say what happened; API
paths keep the JSON envelope."""

import re

import pytest
from django.contrib.staticfiles import finders
from django.http import HttpResponseBadRequest
from django.test import Client

from hypereal_site.error_pages import ErrorPageMiddleware
from orgs.models import Membership
from orgs.permissions import PERMISSION_ROLES, Perm, Role
from orgs.services import member_set_role
from tests.accounts.factories import UserFactory
from tests.apikeys.factories import join, team
from tests.site.pages import in_org

pytestmark = pytest.mark.django_db


def has_console(html: str) -> bool:
    return 'class="sidenav"' in html and 'class="menu context-switcher"' in html


@pytest.fixture
def acme():
    owner = UserFactory(name="Olivia Owner")
    org = team(owner, "Acme Inc")
    second = join(org, Role.ADMIN)

    membership = Membership.objects.get(organization=org, user=second)
    member_set_role(membership=membership, actor=owner, role=Role.OWNER)
    return org, [owner, second]


def test_a_denied_page_names_the_roles_needed_and_the_owners(client_for, acme):
    org, owners = acme
    developer = join(org, Role.DEVELOPER)
    response = in_org(client_for(developer), org).get("/billing")
    assert response.status_code == 403
    html = response.content.decode()
    assert has_console(html)
    needed = re.search(r'data-testid="roles-needed">(.*?)</p>', html).group(1)
    holders = {str(r.label) for r in PERMISSION_ROLES[Perm.BILLING_VIEW]}
    for role in Role:
        label = str(role.label)
        assert (label in needed.split("; you are")[0]) == (label in holders), needed
    assert "you are Developer" in needed
    for owner in owners:
        assert owner.email in html
    assert "Olivia Owner" in html


def test_a_denied_page_for_another_permission_names_its_roles(client_for, acme):
    org, _owners = acme
    billing = join(org, Role.BILLING)
    response = in_org(client_for(billing), org).get("/manage-api-keys")
    assert response.status_code == 403
    needed = re.search(r'data-testid="roles-needed">(.*?)</p>', response.content.decode()).group(1)
    labels = [str(r.label) for r in Role if r in PERMISSION_ROLES[Perm.KEYS_VIEW]]
    assert ", ".join(labels[:-1]) in needed and f"or {labels[-1]}" in needed


def test_a_missing_page_keeps_the_console_for_a_signed_in_user(client_for, user):
    response = client_for(user).get("/no-such-page")
    assert response.status_code == 404
    html = response.content.decode()
    assert has_console(html) and "does not exist" in html


def test_a_missing_page_for_a_visitor_uses_the_entrance_layout():
    response = Client().get("/no-such-page")
    assert response.status_code == 404
    html = response.content.decode()
    assert "does not exist" in html and not has_console(html)


def test_refreshing_a_post_only_page_explains_itself(client_for, user):
    response = client_for(user).get("/billing/topup")
    assert response.status_code == 405
    assert "POST" in response["Allow"]
    html = response.content.decode()
    assert has_console(html) and "cannot be opened or refreshed directly" in html


def test_a_plain_bad_request_gets_the_console_and_its_reason(client_for, user, rf):
    """A view answering a bare text 400 (none of ours does any more; a third-party one may)
    is wrapped in the console page, its text kept as the reason."""
    session = client_for(user).session
    request = rf.get("/somewhere")
    request.user, request.session = user, session
    middleware = ErrorPageMiddleware(lambda r: HttpResponseBadRequest("month looks wrong"))
    response = middleware(request)
    assert response.status_code == 400
    html = response.content.decode()
    assert has_console(html)
    assert re.search(r'data-testid="error-reason">\s*month looks wrong\s*<', html)


def test_the_statement_csv_with_a_bad_month_is_the_statement_page(client_for, user):
    response = client_for(user).get("/billing/statement.csv?month=nonsense")
    assert response.status_code == 400
    html = response.content.decode()
    assert has_console(html) and "Pick a month as year and month" in html


@pytest.mark.parametrize("path", ["/api/nope", "/internal/v1/nope"])
def test_api_paths_keep_the_envelope(client_for, user, path):
    response = client_for(user).get(path)
    assert response.status_code == 404
    assert response.json()["error"]["type"] == "not_found"


def test_json_answers_of_pages_are_left_alone(client):
    response = client.post("/billing/stripe/webhook", data=b"{}", content_type="application/json")
    assert response["Content-Type"].startswith("application/json")


def test_the_favicon_is_linked_and_favicon_ico_is_not_a_404(client, settings):

    response = client.get("/favicon.ico")
    assert response.status_code == 301
    assert response["Location"].endswith("favicon.svg")
    assert finders.find("favicon.svg")
    html = client.get("/accounts/login/").content.decode()
    assert 'rel="icon"' in html and "favicon.svg" in html
