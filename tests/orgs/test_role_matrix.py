"""Each of the five roles against every context page and every organization API.

Expected outcomes come from ``PERMISSION_ROLES`` (the table in code); which permission each
endpoint needs is written down here as the spec and checked against the views' own
declarations. ``DESIGN_TABLE`` transcribes docs/architecture.md's table by hand, so that a wrong
row in the code fails even though the matrix is derived from it.
"""

from dataclasses import dataclass

import pytest
from django.contrib.messages import constants, get_messages
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from rest_framework.test import APIClient

from apikeys import apis as apikeys_apis
from orgs import apis
from orgs.access import ACCESS_ATTR, OrgApi
from orgs.context import SESSION_KEY
from orgs.models import AuditEvent, Invitation, Membership
from orgs.permissions import PERMISSION_ROLES, Perm
from orgs.services import invitation_create, personal_org_get_or_create
from tests.accounts.factories import UserFactory

from .conftest import assert_envelope, switch_to
from .factories import member_add, org_make

O, A, D, B, V = "owner", "admin", "developer", "billing", "viewer"  # noqa: E741
ROLES = [O, A, D, B, V]

#: docs/architecture.md "Roles", transcribed by hand (members.view is the code's name for
#: "every member may see who belongs", which the design implies for all five roles).
DESIGN_TABLE = {
    Perm.ORG_DELETE: {O},
    Perm.ORG_SETTINGS: {O, A},
    Perm.MEMBERS_VIEW: {O, A, D, B, V},
    Perm.MEMBERS_MANAGE: {O, A},
    Perm.SSO_MANAGE: {O, A},
    Perm.WEBHOOKS_MANAGE: {O, A},
    Perm.KEYS_VIEW: {O, A, D, V},
    Perm.KEYS_MANAGE: {O, A, D},
    Perm.KEYS_CAP_RAISE: {O, A},
    Perm.KEYS_DEFAULT_CAP: {O, A, B},
    Perm.DEPLOYMENTS_VIEW: {O, A, D, V},
    Perm.DEPLOYMENTS_MANAGE: {O, A, D},
    Perm.BILLING_VIEW: {O, A, B, V},
    Perm.BILLING_MANAGE: {O, B},
    Perm.USAGE_VIEW: {O, A, D, B, V},
    Perm.USAGE_EXPORT: {O, A, B, V},
    Perm.AUDIT_VIEW: {O, A, B, V},
    Perm.AUDIT_VIEW_ORIGIN: {O, A},
}


def test_the_role_table_in_code_is_the_one_in_the_design():
    assert {p: {r.value for r in roles} for p, roles in PERMISSION_ROLES.items()} == DESIGN_TABLE


@dataclass
class Scene:
    """An organization with the acting member, a developer to act on and an open invitation."""

    org: object
    actor: object
    target: Membership
    invitation: Invitation

    def fill(self, text: str) -> str:
        return text.format(
            org=self.org.public_id,
            slug=self.org.slug,
            target=self.target.public_id,
            inv=self.invitation.public_id,
        )


def make_scene(role: str) -> Scene:
    founder = UserFactory()
    org = org_make(owner=founder, name="Acme Inc")
    # An owner actor is a second owner, so that "leave" is not refused as the last owner.
    actor = member_add(org, role=role).user
    target = member_add(org, role=D)
    invitation, _ = invitation_create(
        organization=org, actor=founder, email="pending@example.com", role=V
    )
    return Scene(org=org, actor=actor, target=target, invitation=invitation)


@dataclass(frozen=True)
class Case:
    method: str
    url: str
    perm: Perm
    data: dict | None = None

    @property
    def id(self) -> str:
        return f"{self.method} {self.url}"


# --- context pages ----------------------------------------------------------------------

PAGES = [
    Case("GET", "/settings/organization", Perm.MEMBERS_VIEW),
    Case("GET", "/settings/organization/audit", Perm.AUDIT_VIEW),
    Case("GET", "/settings/organization/audit.csv", Perm.AUDIT_VIEW),
    Case("GET", "/manage-api-keys", Perm.KEYS_VIEW),
    Case("GET", "/usage", Perm.USAGE_VIEW),
    Case("GET", "/billing", Perm.BILLING_VIEW),
    Case("GET", "/infra/deployments", Perm.DEPLOYMENTS_VIEW),
    Case("POST", "/settings/organization/update", Perm.ORG_SETTINGS, {"name": "Acme Inc"}),
    Case(
        "POST",
        "/settings/organization/invitations",
        Perm.MEMBERS_MANAGE,
        {"email": "newbie@example.com", "role": V},
    ),
    Case("POST", "/settings/organization/invitations/{inv}/resend", Perm.MEMBERS_MANAGE),
    Case("POST", "/settings/organization/invitations/{inv}/revoke", Perm.MEMBERS_MANAGE),
    Case("POST", "/settings/organization/members/{target}/role", Perm.MEMBERS_MANAGE, {"role": V}),
    Case("POST", "/settings/organization/members/{target}/remove", Perm.MEMBERS_MANAGE),
    Case("POST", "/settings/organization/leave", Perm.MEMBERS_VIEW),
    Case("POST", "/settings/organization/transfer", Perm.ORG_DELETE, {"member": "{target}"}),
    Case("GET", "/settings/organization/delete", Perm.ORG_DELETE),
    Case(
        "POST",
        "/settings/organization/key-defaults",
        Perm.KEYS_DEFAULT_CAP,
        {"default_key_spending_limit": "500"},
    ),
    Case("POST", "/settings/organization/delete", Perm.ORG_DELETE, {"confirm_slug": "{slug}"}),
]


def _data(scene: Scene, case: Case) -> dict:
    data = {k: scene.fill(v) for k, v in (case.data or {}).items()}
    if case.url.endswith("/update"):
        data["slug"] = scene.org.slug  # the same settings: allowed, harmless
    return data


#: Context pages whose module is one of these must all be in PAGES; later capabilities'
#: pages (billing/, apikeys/, …) are matrixed by their own suites.
MATRIXED_MODULES = ("orgs.", "hypereal_site.")


def test_every_context_page_is_in_the_matrix_with_its_declared_permission():
    for case in PAGES:
        access = getattr(resolve(case.url.format(inv="x", target="x")).func, ACCESS_ATTR)
        assert (access.kind, access.perm) == ("context", case.perm), case.id
    declared = set()

    def walk(resolver, prefix=""):
        for entry in resolver.url_patterns:
            if isinstance(entry, URLResolver):
                walk(entry, prefix + str(entry.pattern))
            elif isinstance(entry, URLPattern):
                access = getattr(entry.callback, ACCESS_ATTR, None)
                module = entry.callback.__module__
                if (
                    access is not None
                    and access.kind == "context"
                    and module.startswith(MATRIXED_MODULES)
                ):
                    declared.add("/" + prefix + str(entry.pattern))

    walk(get_resolver())
    covered = {
        c.url.replace("{inv}", "<str:public_id>").replace("{target}", "<str:public_id>")
        for c in PAGES
        if resolve(c.url.format(inv="x", target="x")).func.__module__.startswith(MATRIXED_MODULES)
    }
    assert declared == covered


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", PAGES, ids=lambda c: c.id)
def test_context_page_by_role(db, role, case):
    scene = make_scene(role)
    client = Client()
    client.force_login(scene.actor)
    switch_to(client, scene.org)
    events_before = AuditEvent.objects.count()
    url = scene.fill(case.url)

    get = case.method == "GET"
    response = client.get(url) if get else client.post(url, _data(scene, case))

    if role in PERMISSION_ROLES[case.perm]:
        assert 200 <= response.status_code < 400, (response.status_code, response.content[:500])
        errors = [m for m in get_messages(response.wsgi_request) if m.level == constants.ERROR]
        assert errors == []
    else:
        assert response.status_code == 403
        assert AuditEvent.objects.count() == events_before  # nothing happened


@pytest.mark.parametrize("case", PAGES, ids=lambda c: c.id)
def test_context_page_sends_anonymous_visitors_to_login(db, case):
    scene = make_scene(O)
    url = scene.fill(case.url)
    client = Client()
    response = client.get(url) if case.method == "GET" else client.post(url, _data(scene, case))

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_another_organizations_context_cannot_be_selected(db, outsider):
    scene = make_scene(O)
    client = Client()
    client.force_login(outsider)
    own = Membership.objects.get(user=outsider, organization__kind="team").organization
    switch_to(client, own)

    response = client.post("/context/switch", {"organization": scene.org.public_id})

    assert response.status_code == 404
    assert client.session[SESSION_KEY] == own.public_id
    page = client.get("/settings/organization")
    assert page.status_code == 200
    assert b"Globex" in page.content
    assert scene.org.name.encode() not in page.content
    assert b"pending@example.com" not in page.content


# --- organization APIs ------------------------------------------------------------------

ORG = "/api/orgs/{org}"
KEY_DEFAULT = "default_key_spending_limit"
APIS = [
    Case("GET", ORG, Perm.MEMBERS_VIEW),
    Case("PATCH", ORG, Perm.ORG_SETTINGS, {"name": "Acme Inc"}),
    Case("DELETE", ORG, Perm.ORG_DELETE, {"confirm_slug": "{slug}"}),
    Case("POST", ORG + "/transfer", Perm.ORG_DELETE, {"member_id": "{target}"}),
    Case("POST", ORG + "/leave", Perm.MEMBERS_VIEW),
    Case("GET", ORG + "/members", Perm.MEMBERS_VIEW),
    Case("PATCH", ORG + "/members/{target}", Perm.MEMBERS_MANAGE, {"role": V}),
    Case("DELETE", ORG + "/members/{target}", Perm.MEMBERS_MANAGE),
    Case("GET", ORG + "/invitations", Perm.MEMBERS_MANAGE),
    Case("POST", ORG + "/invitations", Perm.MEMBERS_MANAGE, {"email": "n@example.com", "role": V}),
    Case("DELETE", ORG + "/invitations/{inv}", Perm.MEMBERS_MANAGE),
    Case("POST", ORG + "/invitations/{inv}/resend", Perm.MEMBERS_MANAGE),
    Case("GET", ORG + "/audit", Perm.AUDIT_VIEW),
    Case("GET", ORG + "/audit/export", Perm.AUDIT_VIEW),
    Case("GET", ORG + "/key-defaults", Perm.MEMBERS_VIEW),
    Case("PATCH", ORG + "/key-defaults", Perm.KEYS_DEFAULT_CAP, {KEY_DEFAULT: "5"}),
]


def _call(client: APIClient, scene: Scene, case: Case):
    url = scene.fill(case.url)
    data = {k: scene.fill(v) for k, v in (case.data or {}).items()}
    return getattr(client, case.method.lower())(url, data or None, format="json")


def test_every_org_api_method_is_in_the_matrix_with_its_declared_permission():
    spec = {}
    for case in APIS:
        view = resolve(case.url.format(org="o", target="t", inv="i")).func.cls
        spec[(view, case.method)] = case.perm
    declared = {}
    for module in (apis, apikeys_apis):
        for name in dir(module):
            view = getattr(module, name)
            if isinstance(view, type) and issubclass(view, OrgApi) and view is not OrgApi:
                for method, perm in view.permissions.items():
                    declared[(view, method)] = perm
    assert spec == declared


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("case", APIS, ids=lambda c: c.id)
def test_org_api_by_role(db, role, case):
    scene = make_scene(role)
    client = APIClient()
    client.force_login(scene.actor)
    events_before = AuditEvent.objects.count()

    response = _call(client, scene, case)

    if role in PERMISSION_ROLES[case.perm]:
        assert 200 <= response.status_code < 300, (response.status_code, response.content[:500])
    else:
        assert_envelope(response, 403, "permission_denied")
        assert AuditEvent.objects.count() == events_before


@pytest.mark.parametrize("case", APIS, ids=lambda c: c.id)
def test_org_api_is_404_for_a_user_of_another_organization(db, outsider, case):
    scene = make_scene(O)
    client = APIClient()
    client.force_login(outsider)
    events_before = AuditEvent.objects.count()

    assert_envelope(_call(client, scene, case), 404, "not_found")
    assert AuditEvent.objects.count() == events_before


@pytest.mark.parametrize("case", APIS, ids=lambda c: c.id)
def test_org_api_is_401_for_anonymous_callers(db, case):
    scene = make_scene(O)
    assert_envelope(_call(APIClient(), scene, case), 401, "not_authenticated")


def test_personal_orgs_are_not_reachable_through_the_org_api(user, api_client_for):
    team = org_make(owner=user)
    personal = personal_org_get_or_create(user=user)
    client = api_client_for(user)

    assert client.get(f"/api/orgs/{team.public_id}").status_code == 200
    assert_envelope(client.get(f"/api/orgs/{personal.public_id}"), 404, "not_found")
    assert_envelope(client.get(f"/api/orgs/{personal.public_id}/members"), 404, "not_found")


# --- docs/architecture.md rows spot-checked over HTTP ---------------------------------------


def _client_in(role: str) -> Client:
    scene = make_scene(role)
    client = Client()
    client.force_login(scene.actor)
    switch_to(client, scene.org)
    client.scene = scene
    return client


def test_billing_cannot_view_keys_but_sees_billing(db):
    client = _client_in(B)
    assert client.get("/manage-api-keys").status_code == 403
    assert client.get("/billing").status_code == 200


def test_developer_cannot_view_billing_but_manages_keys(db):
    client = _client_in(D)
    assert client.get("/billing").status_code == 403
    keys = client.get("/manage-api-keys")
    assert keys.status_code == 200
    assert b"Create API key" in keys.content
    assert b"Read-only for your role" not in keys.content


def test_viewer_can_export_usage_but_not_manage_keys(db):
    client = _client_in(V)
    usage = client.get("/usage")
    assert b"Export CSV" in usage.content
    keys = client.get("/manage-api-keys")
    assert b"Read-only for your role" in keys.content
    assert b"Create API key" not in keys.content


def test_developer_sees_usage_without_the_export(db):
    usage = _client_in(D).get("/usage")
    assert usage.status_code == 200
    assert b"Export CSV" not in usage.content


def test_admin_cannot_delete_the_org(db):
    scene = make_scene(A)
    client = APIClient()
    client.force_login(scene.actor)
    response = client.delete(f"/api/orgs/{scene.org.public_id}", {"confirm_slug": scene.org.slug})
    assert_envelope(response, 403, "permission_denied")
    scene.org.refresh_from_db()
    assert scene.org.deleted_at is None
