"""The Arabic catalogue is complete, up to date with the sources, and compiled.

These read the catalogue with Babel (no GNU gettext). When one fails, its message lists
exactly which messages to translate or which command to run (docs/i18n.md).
"""

import gettext
import io
from pathlib import Path

import pytest
from babel.messages.pofile import read_po
from django.core.management import CommandError, call_command
from django.utils import translation

from hypereal_site.management import catalogue
from hypereal_site.management.catalogue import (
    catalogue_compile,
    catalogue_problems,
    catalogue_read,
    marked_messages,
    po_path,
)


def test_arabic_has_no_missing_untranslated_or_fuzzy_message():
    problems = catalogue_problems("ar")

    assert not problems, problems.report()


def test_the_catalogue_holds_nothing_the_sources_no_longer_mark():
    problems = catalogue_problems("ar")

    assert not problems.stale, problems.report()


def test_the_catalogue_statistics():
    messages = [m for m in catalogue_read("ar") if m.id]
    translated = [m for m in messages if all(m.string if isinstance(m.string, tuple) else [m])]
    fuzzy = [m for m in messages if m.fuzzy]

    assert len(messages) > 800
    assert len(translated) == len(messages)
    assert fuzzy == []


def test_the_committed_mo_file_is_what_the_po_file_says(tmp_path, monkeypatch):
    committed = po_path("ar").with_suffix(".mo")
    with committed.open("rb") as handle:
        shipped = gettext.GNUTranslations(handle)._catalog

    fresh_dir = tmp_path / "ar" / "LC_MESSAGES"
    fresh_dir.mkdir(parents=True)
    (fresh_dir / "django.po").write_bytes(po_path("ar").read_bytes())
    monkeypatch.setattr(catalogue, "po_path", lambda lang, domain="django": fresh_dir / "django.po")
    with catalogue_compile("ar").open("rb") as handle:
        rebuilt = gettext.GNUTranslations(handle)._catalog

    assert shipped == rebuilt, "locale/ar/LC_MESSAGES/django.mo is stale: run `make messages`"


def test_django_serves_the_arabic_catalogue():
    with translation.override("ar"):
        assert translation.gettext("Dashboard") == "لوحة المعلومات"
        assert translation.gettext("API keys") == "مفاتيح API"


def test_the_check_reports_a_new_unmarked_translation_and_a_fuzzy_one(tmp_path, monkeypatch):
    """A message added to a template but not to the catalogue fails the check, and so
    does a translation marked fuzzy: the check can fail."""
    base = tmp_path
    (base / "templates").mkdir()
    (base / "templates" / "page.html").write_text(
        "{% load i18n %}<h1>{% translate 'Dashboard' %}</h1>"
        "<p>{% translate 'A brand new sentence' %}</p>"
    )
    po = tmp_path / "django.po"
    po.write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        '#, fuzzy\nmsgid "Dashboard"\nmsgstr "لوحة"\n\n'
        'msgid "Gone"\nmsgstr "ذهب"\n',
        encoding="utf-8",
    )
    monkeypatch.setattr(catalogue, "po_path", lambda lang, domain="django": po)

    problems = catalogue_problems("ar", base=base)

    assert problems
    assert problems.missing == ["'A brand new sentence' (templates/page.html:1)"]
    assert problems.fuzzy == ["'Dashboard'"]
    assert problems.stale == ["'Gone'"]
    assert "run `make messages`" in problems.report()


def test_a_broken_placeholder_is_reported(tmp_path, monkeypatch):
    base = tmp_path
    (base / "templates").mkdir()
    (base / "templates" / "p.html").write_text(
        "{% load i18n %}{% blocktranslate %}Hello {{ name }}{% endblocktranslate %}"
    )
    po = tmp_path / "django.po"
    po.write_text(
        'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n\n'
        'msgid "Hello %(name)s"\nmsgstr "مرحبًا %(nom)s"\n',
        encoding="utf-8",
    )
    monkeypatch.setattr(catalogue, "po_path", lambda lang, domain="django": po)

    assert catalogue_problems("ar", base=base).placeholders


def test_marked_messages_come_from_python_and_templates():
    marked = marked_messages()

    assert (None, "Profile saved.") in marked  # accounts/views.py, gettext
    assert (None, "Skip to content") in marked  # templates/base.html
    assert marked[(None, "Skip to content")].where.startswith("templates/")


@pytest.mark.parametrize("language", ["ar"])
def test_the_po_file_declares_its_language_and_arabic_plural_forms(language):
    with Path(po_path(language)).open("rb") as handle:
        catalog = read_po(handle)

    assert catalog.num_plurals == 6
    assert "Language: ar" in po_path(language).read_text(encoding="utf-8")


PLURAL_TEMPLATE = (
    "{% load i18n %}{% blocktranslate count n=keys %}{{ n }} key"
    "{% plural %}{{ n }} keys{% endblocktranslate %}"
)
HEADER = 'msgid ""\nmsgstr ""\n"Content-Type: text/plain; charset=UTF-8\\n"\n{plural}\n'
ARABIC_PLURALS = (
    '"Plural-Forms: nplurals=6; plural=n==0 ? 0 : n==1 ? 1 : n==2 ? 2 : '
    'n%100>=3 && n%100<=10 ? 3 : n%100>=11 && n%100<=99 ? 4 : 5;\\n"'
)


def plural_catalogue(tmp_path, monkeypatch, forms: list[str], plural_header=ARABIC_PLURALS):
    """A source marking one plural message and a catalogue giving it ``forms``."""
    (tmp_path / "templates").mkdir(exist_ok=True)
    (tmp_path / "templates" / "p.html").write_text(PLURAL_TEMPLATE)
    po = tmp_path / "django.po"
    entry = 'msgid "%(n)s key"\nmsgid_plural "%(n)s keys"\n' + "".join(
        f'msgstr[{index}] "{form}"\n' for index, form in enumerate(forms)
    )
    po.write_text(HEADER.format(plural=plural_header) + "\n" + entry, encoding="utf-8")
    monkeypatch.setattr(catalogue, "po_path", lambda lang, domain="django": po)
    return tmp_path


@pytest.mark.parametrize(
    "forms",
    [
        pytest.param([""] * 6, id="all-six-empty"),
        pytest.param([""], id="one-empty-form"),
        pytest.param(["%(n)s مفتاح", "مفتاح واحد"], id="four-forms-left-out"),
        pytest.param(["  "] * 6, id="blank-forms"),
    ],
)
def test_a_plural_message_without_all_its_forms_fails_the_check(tmp_path, monkeypatch, forms):
    base = plural_catalogue(tmp_path, monkeypatch, forms)

    problems = catalogue_problems("ar", base=base)

    assert problems, problems.report()
    assert problems.untranslated == ["'%(n)s key'"]
    assert "1 untranslated" in problems.report()


def test_the_command_fails_on_a_plural_message_with_empty_forms(tmp_path, monkeypatch):
    plural_catalogue(tmp_path, monkeypatch, [""] * 6)
    monkeypatch.setattr(catalogue, "marked_messages", lambda base=None: {})
    out = io.StringIO()

    with pytest.raises(CommandError):
        call_command("catalogue", "check", "--language", "ar", stdout=out)

    assert "untranslated" in out.getvalue() and "'%(n)s key'" in out.getvalue()


def test_a_complete_plural_message_passes(tmp_path, monkeypatch):
    forms = [f"%(n)s مفتاح {index}" for index in range(6)]
    base = plural_catalogue(tmp_path, monkeypatch, forms)

    assert not catalogue_problems("ar", base=base), catalogue_problems("ar", base=base).report()


def test_a_header_with_fewer_plural_forms_than_arabic_fails(tmp_path, monkeypatch):
    forms = [f"%(n)s مفتاح {index}" for index in range(6)]
    header = '"Plural-Forms: nplurals=2; plural=(n != 1);\\n"'
    base = plural_catalogue(tmp_path, monkeypatch, forms[:2], plural_header=header)

    problems = catalogue_problems("ar", base=base)

    assert problems.untranslated == ["the Plural-Forms header: nplurals=2, ar has 6"]


def test_a_message_the_code_counts_but_the_catalogue_does_not_fails(tmp_path, monkeypatch):
    base = plural_catalogue(tmp_path, monkeypatch, [])
    po = tmp_path / "django.po"
    po.write_text(HEADER.format(plural="") + '\nmsgid "%(n)s key"\nmsgstr "%(n)s مفتاح"\n')

    problems = catalogue_problems("ar", base=base)

    assert problems.missing == ["'%(n)s key' (plural)"]


def test_todo_names_the_plural_messages_it_cannot_list(tmp_path, monkeypatch):
    plural_catalogue(tmp_path, monkeypatch, ["%(n)s مفتاح", ""])
    out, err = io.StringIO(), io.StringIO()

    call_command("catalogue", "todo", "--language", "ar", stdout=out, stderr=err)

    assert "plural, fill its forms in the .po: '%(n)s key'" in err.getvalue()
