"""The admin's column headers and form labels are translated: every field of every model
the admin shows (registered, or an inline of a registered one) has an explicit, lazily
translated ``verbose_name``, and so has the model (``Meta.verbose_name`` and
``verbose_name_plural``). Without one, Django derives an English label from the field's
name ("created at"), which no catalogue can translate. A changelist and a change page in
Arabic show Arabic headers and labels."""

import html
import re

import pytest
from django.contrib import admin
from django.db import models
from django.utils.functional import Promise

from tests.accounts.factories import UserFactory
from tests.apikeys.factories import key_make, personal

OUR_APPS = {
    "accounts",
    "apikeys",
    "billing",
    "hypereal_site",
    "infra",
    "orgs",
    "sso",
    "usage",
    "webhooks",
}

ARABIC = re.compile(r"[\u0600-\u06ff]")


def admin_models() -> list[type[models.Model]]:
    shown = set()
    for model, model_admin in admin.site._registry.items():
        shown.add(model)
        shown.update(inline.model for inline in model_admin.inlines)
    return sorted((m for m in shown if m._meta.app_label in OUR_APPS), key=lambda m: m._meta.label)


def is_explicit(field: models.Field) -> bool:
    """Set by hand and translatable: a lazy translation, not the plain string Django derives
    from the name (``field.name.replace("_", " ")``) when none is given."""
    label = field.verbose_name
    return isinstance(label, Promise) and bool(str(label).strip())


def unlabelled_fields(model: type[models.Model]) -> list[str]:
    opts = model._meta
    return [
        field.name
        for field in [*opts.concrete_fields, *opts.many_to_many]
        if not field.auto_created and not is_explicit(field)
    ]


def test_the_check_catches_a_derived_label():
    derived = models.CharField(max_length=10)
    derived.set_attributes_from_name("created_at")
    plain = models.CharField("created at", max_length=10)
    plain.set_attributes_from_name("created_at")
    assert derived.verbose_name == "created at"
    assert not is_explicit(derived) and not is_explicit(plain)


def test_the_admin_shows_the_models_expected():
    labels = {m._meta.label for m in admin_models()}
    # Registered, and inlines only (memberships, attempts, aliases, fallbacks).
    assert {"accounts.User", "billing.Wallet", "webhooks.WebhookEndpoint"} <= labels
    assert {"orgs.Membership", "webhooks.WebhookAttempt", "billing.ModelAlias"} <= labels
    assert {"billing.FallbackTarget", "infra.GpuJob"} <= labels


def test_every_field_the_admin_shows_has_a_translated_verbose_name():
    missing = {m._meta.label: unlabelled_fields(m) for m in admin_models()}
    missing = {label: fields for label, fields in missing.items() if fields}
    assert not missing, f"give these fields verbose_name=gettext_lazy(...): {missing}"


def test_every_model_the_admin_shows_has_translated_names():
    missing = []
    for model in admin_models():
        opts = model._meta
        for attr in ("verbose_name", "verbose_name_plural"):
            # Django fills in both when Meta does not ("api key", "api keys"), untranslated.
            if attr not in opts.original_attrs or not isinstance(getattr(opts, attr), Promise):
                missing.append(f"{opts.label}.Meta.{attr}")
    assert not missing, missing


def headers(page: str) -> list[str]:
    cells = re.findall(r'<th scope="col"[^>]*>(.*?)</th>', page, re.S)
    texts = [html.unescape(re.sub(r"<[^>]+>", " ", c)).split() for c in cells]
    return [" ".join(words) for words in texts if words]


@pytest.mark.django_db
def test_a_changelist_and_a_change_page_in_arabic(client_for):
    staff = UserFactory(is_staff=True, is_superuser=True, language="ar")
    owner = UserFactory()
    key, _plaintext = key_make(org=personal(owner), actor=owner, name="prod-eu")
    client = client_for(staff)

    changelist = client.get("/admin/apikeys/apikey/")
    assert changelist.status_code == 200
    shown = headers(changelist.content.decode())
    assert shown[-6:] == [
        "الاسم",
        "المفتاح المقنّع",
        "مؤسسة",
        "الحالة",
        "وقت الإنشاء",
        "آخر استخدام",
    ], shown
    assert all(ARABIC.search(h) for h in shown), shown

    page = client.get(f"/admin/apikeys/apikey/{key.pk}/change/").content.decode()
    labels = [html.unescape(t).strip() for t in re.findall(r"<label[^>]*>([^<]+)</label>", page)]
    assert any(t.startswith("السقف الشهري (µcr)") for t in labels), labels
    assert any(t.startswith("النماذج المسموح بها") for t in labels), labels
    assert "Spending limit microcredits" not in page and "Created at" not in page
