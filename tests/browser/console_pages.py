"""The console's pages for the layout tests (tests/browser/test_console_layout.py in
English, tests/browser/test_arabic_layout.py in Arabic): the data at its longest, the
pages each role opens, the page's primary action per role, and the loop that opens every
page at every width, screenshots it and checks what both tests check (nothing widens the
page; a table that scrolls sideways in its box shows that it does; menus and dialogs open
inside the viewport). Each test adds its own checks per page.
"""

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from django.test import Client

from apikeys.services import apikey_update
from billing.ledger import ledger_post
from billing.models import LedgerEntry
from hypereal_site.crypto import encrypt
from infra.models import Deployment
from orgs.permissions import PERMISSION_ROLES, Perm, Role
from orgs.services import invitation_create
from sso.models import SsoLoginAttempt
from sso.services import connection_create
from tests.accounts.factories import UserFactory
from tests.apikeys.factories import fund, join, key_make, personal, team, wallet_of
from tests.infra.gpuscene import finished_job, gpu_types
from tests.site.pages import in_org, usage_event
from tests.site.test_navigation import may_open
from tests.sso.metadata import certificate, idp_metadata
from tests.webhooks.factories import deployment_with_log, endpoint_with_log

WIDTHS = (1280, 390)
ROLES = ("personal", "owner", "admin", "developer", "billing", "viewer")


def long_email(tag: str) -> str:
    """A 100-character address with no space: a 64-character local part, a long domain."""
    local = (tag + "-" + "x" * 64)[:64]
    return f"{local}@{'d' * 31}.com"


def seed() -> dict:
    owner = UserFactory(email=long_email("owner"), name="N" * 100)
    org = team(owner, "O" * 100)
    fund(org, 5_000)
    fund(personal(owner), 300)
    key, _ = key_make(org=org, actor=owner, name="K" * 100, limit_credits=50_000)
    apikey_update(key=key, actor=owner, spending_limit_microcredits=999_999 * 1_000_000)
    own_key, _ = key_make(org=personal(owner), actor=owner, name="P" * 100, limit_credits=10)
    for k in (key, own_key):
        usage_event(k, cost_microcredits=125)  # below 0.01 credits
        usage_event(k, cost_microcredits=2_500_000)
    users = {"owner": owner, "personal": owner}
    for role in ("admin", "developer", "billing", "viewer"):
        users[role] = join(org, role, user=UserFactory(email=long_email(role), name="M" * 100))
    invitation_create(organization=org, actor=owner, email=long_email("invited"), role="viewer")
    # SSO at its longest: a 253-character domain, a second one, a connection routing both.
    long_domain = ".".join(["d" * 63] * 3 + ["e" * 57]) + ".com"
    connection = connection_create(
        organization=org,
        actor=owner,
        type="oidc",
        domains=[long_domain, "example.com"],
        oidc_issuer="https://" + "i" * 60 + ".example.com/" + "p" * 100,
        oidc_client_id="c" * 100,
        client_secret="layout-secret",
    )
    # A SAML connection whose check shows two certificates (one expired) and long values.
    saml_connection = connection_create(
        organization=org,
        actor=owner,
        type="saml",
        domains=["saml.example.com"],
        metadata_xml=idp_metadata(
            certificate("x" * 60, days=-3),
            certificate("y" * 60),
            entity_id="https://" + "s" * 60 + ".example.com/" + "q" * 120,
            sso_url="https://" + "s" * 60 + ".example.com/sso/" + "r" * 120,
        ),
    )
    # A connection test's result (only its tester, the owner, sees it; others get 403/404).
    test = SsoLoginAttempt.objects.create(
        connection=connection,
        purpose="test",
        started_by=owner,
        expires_at=datetime.now(UTC),
        result={
            "ok": True,
            "subject": "s" * 200,
            "email": long_email("tested"),
            "claims": {"a" * 100: "v" * 300, "groups": ["G" * 100] * 5},
        },
    )
    # Deployments at their longest (no provider endpoint yet: the page says so, no call).
    for tenant in (org, personal(owner)):
        Deployment.objects.create(
            organization=tenant,
            created_by=owner,
            slug="d" * 64,
            name="D" * 100,
            docker_image="registry.example.com/" + "i" * 200 + ":" + "t" * 30,
            gpu_types=["ADA_48_PRO", "AMPERE_80", "HOPPER_141"],
            gpu_count=8,
            max_workers=20,
            status="failed",
            status_detail_code="legacy",
            status_detail_params={"text": "S" * 500},
            env_encrypted=encrypt(json.dumps({"E" * 128: "v", "F" * 128: "w"})),
            webhook_url="https://" + "w" * 200 + ".example.com/" + "p" * 250,
        )
    # GPU: a ready deployment at its longest in each context, with a job history.
    gpu_types()
    deployments = {}
    for label, owner_org in (("org", org), ("own", personal(owner))):
        deployments[label] = Deployment.objects.create(
            organization=owner_org,
            created_by=owner,
            slug="j" * 64,
            name="G" * 100,
            docker_image="runpod/worker-comfyui:" + "t" * 200,
            gpu_types=["JOBTEST_SMALL", "JOBTEST_BIG"],
            gpu_count=2,
            status=Deployment.Status.READY,
            provider_endpoint_id="ep-layout",
        )
        finished_job(
            deployments[label],
            output={"images": ["https://cdn.example/" + "o" * 300 + ".png"]},
            error="",
        )
        finished_job(deployments[label], status="failed", error="E" * 1000)
    # Webhook endpoints at their longest URL, each with a delivery log.
    long_url = "https://" + "h" * 60 + ".example.com/" + "w" * 400
    for deployment in deployments.values():  # and each GPU deployment's own URL
        deployment_with_log(deployment, url=long_url)
    webhook = endpoint_with_log(org, owner, url=long_url)
    own_webhook = endpoint_with_log(personal(owner), owner, url=long_url)
    # The personal balance below zero (a correction larger than its grant): signed figures
    # outside the ledger's cells, on the dashboard, billing, statement and GPU pages.
    ledger_post(
        wallet=wallet_of(personal(owner)),
        amount_microcredits=-312_500_000,
        kind=LedgerEntry.Kind.ADJUSTMENT,
        idempotency_key="layout:below-zero",
        description="correction",
    )
    return {
        "deployment": deployments["org"],
        "own_deployment": deployments["own"],
        "org": org,
        "users": users,
        "webhook": webhook,
        "own_webhook": own_webhook,
        "key": key,
        "own_key": own_key,
        "connection": connection,
        "saml_connection": saml_connection,
        "sso_test": test,
    }


def role_of(name: str) -> Role:
    return Role.OWNER if name == "personal" else Role(name)


def denied_path(role: Role) -> str | None:
    """A console page the role may not open (owners may open every one)."""
    for path in ("/billing", "/manage-api-keys", "/settings/organization/audit"):
        if not may_open(role, path):
            return path
    if role not in PERMISSION_ROLES[Perm.ORG_DELETE]:
        return "/settings/organization/delete"
    return None


def pages(name: str, world: dict) -> list[tuple[str, str]]:
    key = world["own_key"] if name == "personal" else world["key"]
    deployment = world["own_deployment"] if name == "personal" else world["deployment"]
    job = deployment.jobs.order_by("created_at").first()
    webhook = world["own_webhook"] if name == "personal" else world["webhook"]
    listed = [
        ("dashboard", "/dashboard"),
        ("keys", "/manage-api-keys"),
        ("key-detail", f"/manage-api-keys/{key.public_id}"),
        ("usage", "/usage"),
        ("billing", "/billing"),
        ("statement", f"/billing/statement?month={datetime.now(UTC):%Y-%m}"),
        ("models", "/models"),
        ("deployments", "/infra/deployments"),
        ("deployment-new", "/infra/deployments/new"),
        ("deployment-detail", "/infra/deployments/" + "d" * 64),
        ("deployment-jobs", f"/infra/deployments/{deployment.slug}/jobs"),
        ("deployment-jobs-failed", f"/infra/deployments/{deployment.slug}/jobs?status=failed"),
        ("job-detail", f"/infra/jobs/{job.public_id}"),
        ("deployment-webhooks", f"/infra/deployments/{deployment.slug}/webhooks"),
        ("gpu-recommend", "/gpu-recommend"),
        ("organization", "/settings/organization"),
        ("members", "/settings/organization#members"),
        ("audit", "/settings/organization/audit"),
        ("sso", "/settings/organization/sso"),
        ("sso-new", "/settings/organization/sso/new?type=saml"),
        ("sso-connection", f"/settings/organization/sso/{world['connection'].provider_id}"),
        ("sso-saml", f"/settings/organization/sso/{world['saml_connection'].provider_id}"),
        (
            "sso-test",
            f"/settings/organization/sso/{world['connection'].provider_id}"
            f"/test/{world['sso_test'].pk}",
        ),
        ("webhooks", "/settings/organization/webhooks"),
        ("webhook-detail", f"/settings/organization/webhooks/{webhook.public_id}"),
        ("account", "/settings/account"),
        ("mfa", "/accounts/2fa/"),
        ("sessions", "/accounts/sessions/"),
        ("404", "/settings/no-such-page"),
    ]
    denied = denied_path(role_of(name))
    if denied:
        listed.append(("403", denied))
    return listed


def session_cookie(user, org, base_url: str) -> dict:
    client = Client()
    client.force_login(user)
    if org is not None:
        in_org(client, org)
    return {"name": "sessionid", "value": client.cookies["sessionid"].value, "url": base_url}


FITS = "document.documentElement.scrollWidth <= window.innerWidth"
#: The elements sticking out on either side, for the failure message (a right-to-left page
#: overflows to the left).
CULPRITS = """() => { const out = e => { const r = e.getBoundingClientRect();
                                   return r.width && (r.right > innerWidth + 1 || r.left < -1); };
  return [...document.querySelectorAll('body *')].filter(out)
    .filter(e => ![...e.children].some(out)).slice(0, 4)
    .map(e => e.tagName.toLowerCase() + '.' + [...e.classList].join('.')); }"""
#: Tables wider than their box (they scroll sideways inside it) without the cue that says
#: so: the shadows on the sides where columns are out of view (``.table-wrap`` in
#: console.css).
UNCUED_TABLES = """() => [...document.querySelectorAll('main table')].filter(t => {
  const box = t.parentElement;
  if (box.scrollWidth <= box.clientWidth + 1) return false;
  const style = getComputedStyle(box);
  return !(box.classList.contains('table-wrap') && style.backgroundImage.includes('radial-gradient')
           && style.backgroundAttachment.includes('local')); }).length"""
RECT = """el => { const r = el.getBoundingClientRect();
  return {left: r.left, right: r.right, top: r.top, bottom: r.bottom,
          w: innerWidth, h: innerHeight}; }"""
HREFS = "els => els.map(a => a.getAttribute('href'))"


def inside(rect: dict) -> bool:
    return rect["left"] >= 0 and rect["right"] <= rect["w"] and rect["top"] >= 0


#: label -> (the permission it needs, or None for everyone; the action's selector): the
#: page's primary action, on screen for a role that may do it and absent for one that may
#: not (the page may then be a 403, whose own button is not this one).
PRIMARY_ACTIONS: dict[str, tuple[Perm | None, str]] = {
    "keys": (Perm.KEYS_MANAGE, "main a.btn--primary[data-open-dialog='key-dialog']"),
    "usage": (Perm.USAGE_EXPORT, "main [data-testid='usage-export']"),
    "deployments": (Perm.DEPLOYMENTS_MANAGE, "main [data-testid='new-deployment']"),
    "deployment-new": (Perm.DEPLOYMENTS_MANAGE, "main form button.btn--primary[type='submit']"),
    "deployment-detail": (Perm.DEPLOYMENTS_MANAGE, "main form .form__actions .btn--primary"),
    "deployment-jobs": (Perm.DEPLOYMENTS_MANAGE, "main form .form__actions .btn--primary"),
    "deployment-webhooks": (Perm.DEPLOYMENTS_MANAGE, "main [data-testid='send-test']"),
    "gpu-recommend": (None, "main form .form__actions .btn--primary"),
    "webhooks": (Perm.WEBHOOKS_MANAGE, "main form .form__actions .btn--primary"),
    "webhook-detail": (Perm.WEBHOOKS_MANAGE, "main [data-testid='send-test']"),
    # The organization's settings (a personal account's page offers to create one).
    "organization": (
        Perm.ORG_SETTINGS,
        "main form[action$='/organization/update'] .btn--primary, "
        "main form[action$='/organization/create'] .btn--primary",
    ),
    "account": (None, "main form .form__actions .btn--primary"),
    "sso": (
        Perm.SSO_MANAGE,
        "main form .form__actions .btn--primary, main a.btn--primary[href$='/organization']",
    ),
}


def may(role: Role, perm: Perm | None) -> bool:
    return perm is None or role in PERMISSION_ROLES[perm]


@dataclass
class Visit:
    """One page open at one width: what a test's own checks get."""

    page: object  # playwright's Page
    name: str
    role: Role
    width: int
    label: str
    path: str
    status: int
    shots: Path
    problems: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.width} {self.label} ({self.path})"

    def shot(self, suffix: str) -> None:
        self.page.screenshot(path=str(self.shots / f"{self.name}-{self.width}-{suffix}.png"))


def check_menus(visit: Visit) -> None:
    """Open every visible header menu: its panel is inside the viewport and does not widen
    the page. Screenshots ``<role>-<width>-menu-<kind>.png``."""
    page = visit.page
    for menu in page.locator("details.menu").all():
        if not menu.is_visible():
            continue
        menu.locator("summary").click()
        panel = menu.locator(".menu__panel")
        panel.wait_for(state="visible")
        rect = panel.evaluate(RECT)
        kind = menu.get_attribute("class").split()[-1]
        visit.shot(f"menu-{kind}")
        if not inside(rect):
            visit.problems.append(f"{visit.width} menu {kind} outside the viewport: {rect}")
        if not page.evaluate(FITS):
            visit.problems.append(f"{visit.width} menu {kind} widens the page")
        menu.locator("summary").click()


def check_key_dialog(visit: Visit) -> None:
    """Open the create-key dialog: it is inside the viewport, top to bottom."""
    page = visit.page
    page.locator(PRIMARY_ACTIONS["keys"][1]).click()
    dialog = page.locator("dialog#key-dialog[open]")
    dialog.wait_for(state="visible")
    page.locator("dialog#key-dialog form").wait_for()
    rect = dialog.evaluate(RECT)
    visit.shot("key-dialog")
    if not inside(rect) or rect["bottom"] > rect["h"]:
        visit.problems.append(f"{visit.width} create-key dialog outside the viewport: {rect}")
    page.keyboard.press("Escape")


def check_primary_action(visit: Visit) -> None:
    """The page's primary action is on screen when the role may do it, absent when not."""
    if visit.label not in PRIMARY_ACTIONS:
        return
    perm, selector = PRIMARY_ACTIONS[visit.label]
    shown = [e for e in visit.page.locator(selector).all() if e.is_visible()]
    if not may(visit.role, perm):
        if shown:
            visit.problems.append(f"{visit.where}: {visit.name} sees the action {selector}")
        return
    if not shown:
        visit.problems.append(f"{visit.where}: no visible primary action {selector}")
        return
    rect = shown[0].evaluate(RECT)
    if rect["left"] < 0 or rect["right"] > rect["w"]:
        visit.problems.append(f"{visit.where}: the primary action is off screen: {rect}")


def visit_every_page(
    browser, live_server, *, name: str, world: dict, shots: Path, check: Callable[[Visit], None]
) -> list[str]:
    """Open every page of ``name``'s role at every width, as that user: screenshot
    ``<role>-<width>-<page>.png`` (full page), check that nothing widens the page, then
    ``check(visit)``. Returns the problems found."""
    shots.mkdir(parents=True, exist_ok=True)
    org = None if name == "personal" else world["org"]
    user = world["users"][name]
    problems: list[str] = []
    for width in WIDTHS:
        context = browser.new_context(
            viewport={"width": width, "height": 860}, base_url=live_server.url
        )
        context.add_cookies([session_cookie(user, org, live_server.url)])
        page = context.new_page()
        page.set_default_timeout(15_000)
        for label, path in pages(name, world):
            response = page.goto(path)
            page.screenshot(path=str(shots / f"{name}-{width}-{label}.png"), full_page=True)
            visit = Visit(
                page=page,
                name=name,
                role=role_of(name),
                width=width,
                label=label,
                path=path,
                status=response.status if response else 0,
                shots=shots,
                problems=problems,
            )
            if not page.evaluate(FITS):
                wide = page.evaluate("document.documentElement.scrollWidth")
                problems.append(f"{visit.where}: page is {wide}px wide: {page.evaluate(CULPRITS)}")
            uncued = page.evaluate(UNCUED_TABLES)
            if uncued:
                problems.append(f"{visit.where}: {uncued} table(s) scroll sideways with no cue")
            check(visit)
        context.close()
    return problems
