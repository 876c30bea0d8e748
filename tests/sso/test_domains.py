"""Domains: what may be claimed, verification over real DNS (a server on loopback), one
verified owner per domain, the daily re-check with its grace period, and the sign-in side's
selector that only verified domains feed."""

import importlib
import threading
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone, translation

from hypereal_site.api.errors import ApplicationError
from orgs.models import AuditEvent
from orgs.services import org_delete
from sso import dnscheck, services, tasks
from sso.domainnames import email_domain, normalize_domain
from sso.models import SsoConnection, SsoDomain
from sso.selectors import sso_connection_for_email
from tests.accounts.factories import UserFactory
from tests.apikeys.factories import team

from .conftest import claim, member_of, verified

pytestmark = pytest.mark.django_db


# --- names ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("example.com", "example.com"),
        ("  Example.COM. ", "example.com"),
        ("Bücher.de", "xn--bcher-kva.de"),
        ("xn--bcher-kva.de", "xn--bcher-kva.de"),
        ("eng.example.co.uk", "eng.example.co.uk"),
        ("acme.github.io", "acme.github.io"),
        ("corp.internal", "corp.internal"),
    ],
)
def test_a_claimable_domain_has_one_canonical_form(raw, canonical):
    assert normalize_domain(raw) == canonical


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "com",
        "co.uk",
        "github.io",
        "localhost",
        "192.0.2.1",
        "1.2.3",
        "::1",
        "[2001:db8::1]",
        "a_b.example.com",
        "-bad.example.com",
        "user@example.com",
        "https://example.com",
        "example.com/path",
        "exa\x00mple.com",
        "a" * 64 + ".com",
        ("a" * 60 + ".") * 5 + "com",
    ],
)
def test_public_suffixes_ips_and_junk_are_refused(raw):
    with pytest.raises(ValidationError) as excinfo:
        normalize_domain(raw)
    assert "domain" in excinfo.value.message_dict


def test_email_domain_reads_the_canonical_domain_or_none():
    assert email_domain("Ada@Example.COM") == "example.com"
    assert email_domain("ada@com") is None
    assert email_domain("no-at-sign") is None


# --- verification over DNS ---------------------------------------------------------------------


def test_claim_gives_a_random_token_under_the_challenge_name(org, owner):
    domain = claim(org, owner)
    assert domain.record_name == "_hypereal-challenge.example.com"
    assert domain.token.startswith("hypereal-verification=") and len(domain.token) > 40
    assert domain.status == "pending"
    assert AuditEvent.objects.filter(organization=org, action="sso.domain_claimed").count() == 1
    with pytest.raises(ValidationError):
        claim(org, owner)  # twice by one organization


def test_two_claims_get_different_tokens(org, owner):
    rival_owner = UserFactory()
    rival = team(rival_owner, "Globex")
    assert claim(org, owner).token != claim(rival, rival_owner).token


def test_the_published_token_verifies_the_domain(org, owner, nameserver):
    domain = claim(org, owner)
    nameserver.publish(domain.record_name, "v=spf1 -all", domain.token)

    domain = services.domain_verify(domain=domain, actor=owner)

    assert domain.status == "verified" and domain.verified_at is not None
    assert domain.last_check_result == "found"
    assert ("_hypereal-challenge.example.com", "TXT") in nameserver.questions
    event = AuditEvent.objects.get(organization=org, action="sso.domain_verified")
    assert event.actor == owner and event.after == {"domain": "example.com"}


@pytest.mark.parametrize(
    ("setup", "result", "detail"),
    [
        (lambda ns, d: None, "missing", "No TXT record"),
        (lambda ns, d: ns.publish(d.record_name, "someone-else"), "missing", "another value"),
        (lambda ns, d: ns.servfail.add(d.record_name), "lookup_failed", "SERVFAIL"),
    ],
    ids=["absent", "wrong-value", "servfail"],
)
def test_without_the_token_the_domain_stays_pending(org, owner, nameserver, setup, result, detail):
    domain = claim(org, owner)
    setup(nameserver, domain)

    domain = services.domain_verify(domain=domain, actor=owner)

    assert domain.status == "pending" and domain.verified_at is None
    assert domain.last_check_result == result
    assert detail in domain.last_check_detail
    assert not AuditEvent.objects.filter(action="sso.domain_verified").exists()


def test_a_silent_server_is_a_failed_lookup_not_a_verdict(org, owner, nameserver, settings):
    settings.DNS_TIMEOUT_SECONDS = 0.3
    nameserver.silent = True
    domain = services.domain_verify(domain=claim(org, owner), actor=owner)
    assert domain.last_check_result == "lookup_failed"
    assert "did not answer" in domain.last_check_detail


def test_a_domain_is_verified_by_one_organization_at_a_time(org, owner, nameserver):
    verified(org, owner, nameserver)
    rival_owner = UserFactory()
    rival = team(rival_owner, "Globex")
    theirs = claim(rival, rival_owner)
    nameserver.publish(theirs.record_name, theirs.token)  # both tokens are published

    with pytest.raises(ApplicationError) as excinfo:
        services.domain_verify(domain=theirs, actor=rival_owner)

    assert excinfo.value.status == 409 and excinfo.value.type == "domain_taken"
    theirs.refresh_from_db()
    assert theirs.verified_at is None and theirs.last_check_result == "taken"


def test_the_database_refuses_a_second_verified_owner(org, owner):
    rival = team(UserFactory(), "Globex")
    now = timezone.now()
    SsoDomain.objects.create(organization=org, name="example.com", verified_at=now)
    with pytest.raises(IntegrityError), transaction.atomic():
        SsoDomain.objects.create(organization=rival, name="example.com", verified_at=now)
    SsoDomain.objects.create(organization=rival, name="example.com")  # a pending claim is fine


def test_only_managers_verify(org, owner, nameserver):
    domain = claim(org, owner)
    developer = member_of(org, "developer")
    with pytest.raises(ApplicationError) as excinfo:
        services.domain_verify(domain=domain, actor=developer)
    assert excinfo.value.status == 403
    assert nameserver.questions == []  # refused before asking anything


# --- the daily re-check -----------------------------------------------------------------------


def _age(domain: SsoDomain, **delta) -> None:
    SsoDomain.objects.filter(pk=domain.pk).update(
        last_checked_at=timezone.now() - timedelta(**delta)
    )


def test_a_missing_record_starts_a_grace_period_then_unverifies(org, owner, nameserver, settings):
    settings.SSO_DOMAIN_GRACE_DAYS = 7
    admin = member_of(org, "admin")
    domain = verified(org, owner, nameserver)
    nameserver.unpublish(domain.record_name)
    mail.outbox.clear()

    assert services.domain_recheck(domain_id=domain.pk) == "grace-started"
    domain.refresh_from_db()
    assert domain.status == "grace" and domain.missing_since is not None
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == [owner.email]  # the owners, not the admin
    assert admin.email not in mail.outbox[0].to
    assert "example.com" in mail.outbox[0].subject
    assert domain.token in mail.outbox[0].body
    assert sso_connection_for_email("ada@example.com") is None  # no connection yet, see below

    assert services.domain_recheck(domain_id=domain.pk) == "in-grace"
    assert len(mail.outbox) == 1  # told once

    SsoDomain.objects.filter(pk=domain.pk).update(
        missing_since=timezone.now() - timedelta(days=7, minutes=1)
    )
    assert services.domain_recheck(domain_id=domain.pk) == "unverified"
    domain.refresh_from_db()
    assert domain.status == "pending" and domain.verified_at is None
    assert len(mail.outbox) == 2 and "no longer verified" in mail.outbox[1].subject
    actions = list(
        AuditEvent.objects.filter(organization=org, action__startswith="sso.domain_")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions[-2:] == ["sso.domain_record_missing", "sso.domain_unverified"]
    unverified = AuditEvent.objects.get(organization=org, action="sso.domain_unverified")
    assert unverified.after["reason"] == {"code": "txt_missing", "name": domain.record_name}
    assert services.domain_recheck(domain_id=domain.pk) == "not-verified"


def test_a_record_back_within_the_grace_period_ends_it(org, owner, nameserver):
    domain = verified(org, owner, nameserver)
    nameserver.unpublish(domain.record_name)
    services.domain_recheck(domain_id=domain.pk)
    nameserver.publish(domain.record_name, domain.token)

    assert services.domain_recheck(domain_id=domain.pk) == "restored"
    domain.refresh_from_db()
    assert domain.status == "verified" and domain.missing_since is None


def test_beat_rechecks_only_domains_not_checked_for_a_day(org, owner, nameserver):
    fresh = verified(org, owner, nameserver, "fresh.example.com")
    stale = verified(org, owner, nameserver, "stale.example.com")
    claim(org, owner, "pending.example.com")
    _age(stale, hours=25)
    _age(fresh, hours=2)
    nameserver.questions.clear()

    assert tasks.recheck_domains() == 1  # eager: the one due domain is re-checked now

    assert nameserver.questions == [("_hypereal-challenge.stale.example.com", "TXT")]
    stale.refresh_from_db()
    assert stale.last_checked_at > timezone.now() - timedelta(minutes=1)


# --- the sign-in side's selector ---------------------------------------------------------------


def _connection(org, owner, domain="example.com") -> SsoConnection:
    return services.connection_create(
        organization=org,
        actor=owner,
        type="oidc",
        domains=[domain],
        oidc_issuer="https://login.example.com",
        oidc_client_id="console",
        client_secret="s3cret-value",
    )


def test_only_a_verified_domain_routes_to_an_enabled_connection(org, owner, nameserver):
    connection = _connection(org, owner)
    assert sso_connection_for_email("ada@example.com") is None  # claimed, not verified

    verified(org, owner, nameserver)
    assert sso_connection_for_email("Ada@EXAMPLE.com") == connection
    assert sso_connection_for_email("ada@eng.example.com") is None  # exact domain only
    assert sso_connection_for_email("ada@other.com") is None

    services.connection_update(connection=connection, actor=owner, enabled=False)
    assert sso_connection_for_email("ada@example.com") is None


def test_a_rivals_pending_claim_never_routes(org, owner, nameserver):
    rival_owner = UserFactory()
    rival = team(rival_owner, "Globex")
    _connection(rival, rival_owner)  # claims example.com for Globex, unverified
    mine = _connection(org, owner)
    verified(org, owner, nameserver)
    assert sso_connection_for_email("ada@example.com") == mine


def test_a_deleted_organization_routes_nothing_and_releases_its_domains(org, owner, nameserver):
    _connection(org, owner)
    verified(org, owner, nameserver)
    org_delete(organization=org, actor=owner, confirm_slug=org.slug)
    assert sso_connection_for_email("ada@example.com") is None
    assert not SsoConnection.objects.exists() and not SsoDomain.objects.exists()
    actions = set(AuditEvent.objects.filter(organization=org).values_list("action", flat=True))
    assert {"sso.connection_deleted", "sso.domain_removed"} <= actions

    # The domain is free for its real owner to verify.
    rival_owner = UserFactory()
    mine = verified(team(rival_owner, "Globex"), rival_owner, nameserver)
    assert mine.status == "verified"


@pytest.mark.django_db(transaction=True)
def test_two_organizations_verifying_at_once_one_wins(nameserver):
    """Both see no verified owner, both write: the unique constraint lets one through and the
    other gets domain_taken (PostgreSQL makes the second writer wait for the first). The test
    branches on the vendor for the loser's error and checks the rows either way."""
    contenders = []
    for name in ("Acme", "Globex"):
        user = UserFactory()
        org = team(user, name)
        domain = claim(org, user)
        nameserver.publish(
            domain.record_name, *nameserver.records.get(domain.record_name, []), domain.token
        )
        contenders.append((domain, user))
    barrier = threading.Barrier(len(contenders))
    results: list[str] = []

    def verify(domain, user):
        try:
            barrier.wait(timeout=10)
            services.domain_verify(domain=domain, actor=user)
            results.append("verified")
        except ApplicationError as exc:
            results.append(exc.type)
        except Exception as exc:
            results.append(repr(exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=verify, args=c) for c in contenders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert len(results) == 2 and results.count("verified") == 1, results
    loser = next(r for r in results if r != "verified")
    if connection.vendor == "postgresql":
        assert loser == "domain_taken"
    else:  # SQLite's shared in-memory test database refuses the second writer outright
        assert loser in (
            "domain_taken",
            "OperationalError('database table is locked: sso_ssodomain')",
        )
    assert SsoDomain.objects.filter(name="example.com", verified_at__isnull=False).count() == 1


@pytest.mark.parametrize(
    ("spec", "server"), [("127.0.0.1:53", ("127.0.0.1", 53)), ("[::1]:5353", ("::1", 5353))]
)
def test_dns_resolver_is_an_ip_and_a_port(spec, server):
    assert dnscheck._server(spec) == server


@pytest.mark.parametrize("spec", ["localhost:53", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:dns"])
def test_a_bad_dns_resolver_setting_is_refused(spec, settings):
    settings.DNS_RESOLVER = spec
    with pytest.raises(ImproperlyConfigured, match="DNS_RESOLVER must be"):
        dnscheck.txt_values("_hypereal-challenge.example.com")


def test_the_check_detail_is_a_code_read_in_each_language(org, owner, nameserver):
    domain = services.domain_verify(domain=claim(org, owner), actor=owner)

    assert domain.last_check_code == "txt_missing"
    assert domain.last_check_params == {"name": domain.record_name}
    with translation.override("ar"):
        assert domain.last_check_detail == f"لا يوجد سجل TXT في {domain.record_name}."
    with translation.override("en"):
        assert domain.last_check_detail == f"No TXT record at {domain.record_name}."


@pytest.mark.parametrize(
    ("sentence", "result", "expected"),
    [
        (
            "No TXT record at _h.example.com.",
            "missing",
            ("txt_missing", {"name": "_h.example.com"}),
        ),
        (
            "لا يوجد سجل TXT في _h.example.com.",
            "missing",
            ("txt_missing", {"name": "_h.example.com"}),
        ),
        ("يحمل سجل TXT قيمة أخرى.", "missing", ("txt_other_value", {})),
        ("Another organization has verified this domain.", "taken", ("domain_taken", {})),
        (
            "the DNS server did not answer in time",
            "lookup_failed",
            ("dns_lookup_failed", {"error": "the DNS server did not answer in time"}),
        ),
        ("Something else.", "missing", ("legacy", {"text": "Something else."})),
    ],
)
def test_the_data_migration_recognises_the_details_stored_before(sentence, result, expected):
    migration = importlib.import_module("sso.migrations.0003_last_check_code")
    assert migration.detail_code(sentence, result) == expected
