"""Every URL of the project declares who may use it.

Project views are marked by ``orgs.access`` (``public_view``/``account_view``/``context_view``
for functions, ``AccountApi``/``OrgApi`` for DRF classes). Third-party views are listed
below with the reason they are trusted. A new view without either fails this test by name.
"""

from dataclasses import dataclass

from django.contrib import admin
from django.http import HttpResponse
from django.urls import URLPattern, URLResolver, get_resolver, path
from rest_framework.views import APIView

from orgs.access import ACCESS_ATTR, Access, OrgApi, account_view, context_view, public_view
from orgs.permissions import Perm

HANDLER_METHODS = ("get", "post", "put", "patch", "delete")

#: module prefix -> why these views need no marker.
THIRD_PARTY_MODULES = {
    "allauth.": "django-allauth's sign-in, sign-up, MFA and email pages (accounts/)",
    "django.contrib.admin.": "Django admin: staff only, guarded by admin_view",
    "django.contrib.auth.admin": "Django admin's user password page: staff only",
    "django.views.i18n": "JavaScript catalog used by the admin",
    "drf_spectacular.": "the OpenAPI schema and its Swagger page",
}
#: URL prefix -> (module prefix the views there must come from, why): the admin mounts
#: Django's own redirect and "view on site" views under admin/.
THIRD_PARTY_ROUTES = {
    "admin/": ("django.", "Django admin and its helper views: staff only"),
}
#: URL names of third-party views that do not live in those modules.
THIRD_PARTY_NAMES = {
    "api-schema": "drf-spectacular schema (public API description)",
    "api-docs": "drf-spectacular Swagger UI",
}


@dataclass(frozen=True)
class View:
    route: str
    name: str | None
    callback: object

    @property
    def view_class(self):
        return getattr(self.callback, "cls", None) or getattr(self.callback, "view_class", None)

    @property
    def module(self) -> str:
        return (self.view_class or self.callback).__module__

    @property
    def label(self) -> str:
        target = self.view_class or self.callback
        return f"/{self.route} ({self.name or 'unnamed'}: {self.module}.{target.__qualname__})"

    @property
    def access(self) -> Access | None:
        source = self.view_class if self.view_class is not None else self.callback
        access = getattr(source, ACCESS_ATTR, None)
        return access if isinstance(access, Access) else None


def walk(resolver: URLResolver, prefix: str = ""):
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            yield from walk(entry, route)
        elif isinstance(entry, URLPattern):
            yield View(route=route, name=entry.name, callback=entry.callback)


ADMIN_GUARD = "AdminSite.admin_view.<locals>.inner"


def admin_guarded(callback) -> bool:
    """Whether ``callback`` is wrapped by ``AdminSite.admin_view`` (staff only, with the
    admin's own login and permission checks). Decorators copy names and ``__wrapped__``
    skips the admin's inner function, so it is found by its code object among the
    functions the wrappers close over."""
    pending, seen = [callback], set()
    while pending:
        func = pending.pop()
        if id(func) in seen or len(seen) > 50:
            continue
        seen.add(id(func))
        code = getattr(func, "__code__", None)
        if code is not None and code.co_qualname == ADMIN_GUARD:
            return True
        for cell in getattr(func, "__closure__", None) or ():
            try:
                content = cell.cell_contents
            except ValueError:  # an empty cell
                continue
            if callable(content):
                pending.append(content)
        if getattr(func, "__wrapped__", None) is not None:
            pending.append(func.__wrapped__)
    return False


def third_party_reason(view: View) -> str | None:
    if view.route.startswith("admin/") and admin_guarded(view.callback):
        return "an admin view of the project, staff only through admin_site.admin_view"
    if view.name in THIRD_PARTY_NAMES:
        return THIRD_PARTY_NAMES[view.name]
    for route, (module, reason) in THIRD_PARTY_ROUTES.items():
        if view.route.startswith(route) and view.module.startswith(module):
            return reason
    return next((r for p, r in THIRD_PARTY_MODULES.items() if view.module.startswith(p)), None)


def undeclared(views) -> list[str]:
    """Views that neither declare an Access nor are third-party views we trust."""
    return [v.label for v in views if v.access is None and third_party_reason(v) is None]


def org_api_gaps(views) -> list[str]:
    """OrgApi handlers without a permission, and org-scoped API routes that are not OrgApi."""
    gaps = []
    for v in views:
        cls = v.view_class
        if cls is not None and issubclass(cls, OrgApi):
            for method in HANDLER_METHODS:
                if hasattr(cls, method) and method.upper() not in cls.permissions:
                    gaps.append(f"{v.label}: {method.upper()} has no permission")
            for method, perm in cls.permissions.items():
                if not isinstance(perm, Perm) or not hasattr(cls, method.lower()):
                    gaps.append(f"{v.label}: stray permission {method}={perm!r}")
        elif "<str:org_id>" in v.route:
            gaps.append(f"{v.label}: names an organization but is not an OrgApi")
    return gaps


def test_every_project_view_declares_its_access():
    views = list(walk(get_resolver()))
    assert len(views) > 30  # the walk really went through the includes

    assert undeclared(views) == []


def test_every_org_api_handler_has_a_permission():
    views = list(walk(get_resolver()))
    org_apis = [v for v in views if v.view_class is not None and issubclass(v.view_class, OrgApi)]
    assert len(org_apis) >= 10

    assert org_api_gaps(views) == []


def test_context_views_name_a_permission_and_third_party_views_are_really_third_party():
    views = list(walk(get_resolver()))
    for v in views:
        if v.access is not None and v.access.kind == "context":
            assert isinstance(v.access.perm, Perm), v.label
        if v.access is None and not admin_guarded(v.callback):
            # The allow-list must not swallow a project module.
            assert not v.module.startswith(
                ("accounts", "orgs", "hypereal_site", "apikeys", "billing", "usage", "infra")
            ), v.label
    allowed = {v.route for v in views if v.access is None}
    assert any(r.startswith("accounts/") for r in allowed)  # allauth is mounted and allowed
    assert any(r.startswith("admin/") for r in allowed)


def test_marked_kinds_match_the_probes_and_account_pages():
    by_name = {v.name: v for v in walk(get_resolver()) if v.name}
    assert by_name["healthz"].access.kind == "public"
    assert by_name["readyz"].access.kind == "public"
    assert by_name["api-not-found"].access.kind == "public"
    assert by_name["home"].access.kind == "public"
    assert by_name["dashboard"].access.kind == "account"
    assert by_name["account_delete"].access.kind == "account"
    assert by_name["api-me"].access.kind == "account"
    assert by_name["api-orgs"].access.kind == "account"
    assert by_name["api-org"].access.kind == "org"
    assert by_name["billing_overview"].access == Access("context", Perm.BILLING_VIEW)
    assert by_name["invitation_accept"].access.kind == "public"


# --- the checks themselves can fail --------------------------------------------------


def _plain(request):
    return HttpResponse("hi")


class _BareApi(APIView):
    def get(self, request):
        return HttpResponse("hi")


class _HalfOrgApi(OrgApi):
    permissions = {"GET": Perm.MEMBERS_VIEW}

    def get(self, request, org_id):
        return HttpResponse("hi")

    def delete(self, request, org_id):
        return HttpResponse("bye")


class _OrgRouteAccountApi(APIView):
    hypereal_access = Access("account")

    def get(self, request, org_id):
        return HttpResponse("hi")


def _fake_resolver():
    return URLResolver(
        path("", lambda: None).pattern,
        [
            path("plain", _plain, name="plain"),
            path("marked", public_view(lambda r: HttpResponse()), name="marked"),
            path("acct", account_view(lambda r: HttpResponse()), name="acct"),
            path("ctx", context_view(Perm.AUDIT_VIEW)(lambda r, context: HttpResponse())),
            path("bare", _BareApi.as_view(), name="bare"),
            path("admin/unguarded", _plain, name="admin-unguarded"),
            path("admin/guarded", admin.site.admin_view(_plain), name="admin-guarded"),
            path("orgs/<str:org_id>", _HalfOrgApi.as_view(), name="half"),
            path("orgs/<str:org_id>/x", _OrgRouteAccountApi.as_view(), name="wrong-base"),
        ],
    )


def test_the_walker_names_unmarked_views_and_missing_method_permissions():
    views = list(walk(_fake_resolver()))

    missing = undeclared(views)
    assert len(missing) == 3
    assert any("_plain" in m and "/plain" in m for m in missing)
    assert any("/admin/unguarded" in m for m in missing)  # admin/ alone is no pass
    assert any("_BareApi" in m for m in missing)

    gaps = org_api_gaps(views)
    assert any("_HalfOrgApi" in g and "DELETE has no permission" in g for g in gaps)
    assert any("_OrgRouteAccountApi" in g and "not an OrgApi" in g for g in gaps)
    assert len(gaps) == 2
