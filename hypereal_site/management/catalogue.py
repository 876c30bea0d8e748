"""The translation catalogues, with nothing but Python (Babel) — no GNU gettext needed.

- ``marked_messages()`` finds every message marked for translation in our code and
  templates, the way ``makemessages`` does (Django's ``templatize`` turns a template into
  the Python-like text xgettext reads; Babel's Python extractor reads that and our .py
  files with Django's gettext keywords).
- ``catalogue_problems()`` compares them with ``locale/<lang>/LC_MESSAGES/django.po``:
  messages missing from the catalogue, untranslated, fuzzy, or whose placeholders differ.
- ``catalogue_compile()`` writes the ``.mo`` file next to the ``.po`` (``make messages`` and
  ``manage.py catalogue compile``); the compiled files are committed, and a test checks
  they hold exactly what the ``.po`` says.

docs/i18n.md says how a new string travels from the code into Arabic.
"""

import functools
import io
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_python
from babel.messages.mofile import write_mo
from babel.messages.plurals import get_plural
from babel.messages.pofile import read_po
from django.conf import settings
from django.utils.translation.template import templatize

#: Where our messages live (the apps and the site package, the project's templates).
SOURCE_DIRS = (
    "accounts",
    "apikeys",
    "billing",
    "hypereal_site",
    "infra",
    "orgs",
    "sso",
    "usage",
    "webhooks",
    "templates",
)
SKIPPED_PARTS = {"migrations", "tests", "__pycache__", "node_modules"}

#: Django's gettext functions as makemessages passes them to xgettext (``--keyword=...``).
KEYWORDS = {
    "_": None,
    "gettext": None,
    "gettext_lazy": None,
    "gettext_noop": None,
    "ngettext": (1, 2),
    "ngettext_lazy": (1, 2),
    "pgettext": ((1, "c"), 2),
    "pgettext_lazy": ((1, "c"), 2),
    "npgettext": ((1, "c"), 2, 3),
    "npgettext_lazy": ((1, "c"), 2, 3),
}
TEMPLATE_SUFFIXES = (".html", ".txt")

#: A python-format or Django-template placeholder, which a translation must keep.
PLACEHOLDER = re.compile(r"%\([a-z_0-9]+\)[sd]|%[sd]|\{[a-z_0-9]+\}")


@dataclass(frozen=True)
class Marked:
    msgid: str
    context: str | None
    plural: str | None
    where: str


def _sources(base: Path) -> Iterator[Path]:
    for name in SOURCE_DIRS:
        root = base / name
        if not root.exists():
            continue
        for path in sorted(root.rglob("*")):
            wanted = path.suffix == ".py" or path.suffix in TEMPLATE_SUFFIXES
            parts = path.relative_to(base).parts
            if wanted and path.is_file() and not SKIPPED_PARTS.intersection(parts):
                yield path


def _extract(path: Path, base: Path) -> Iterator[Marked]:
    text = path.read_text(encoding="utf-8")
    if path.suffix != ".py":
        if "{%" not in text or "trans" not in text:
            return
        # Messages come out as one-line ``gettext('…')`` reprs; the indentation around them
        # means nothing and would trip Python's tokenizer.
        text = "\n".join(line.lstrip() for line in templatize(text, origin=str(path)).split("\n"))
    options = {"encoding": "utf-8"}
    for lineno, funcname, message, _comments in extract_python(
        io.BytesIO(text.encode("utf-8")), KEYWORDS, [], options
    ):
        where = f"{path.relative_to(base)}:{lineno}"
        spec = KEYWORDS.get(funcname)
        parts = message if isinstance(message, tuple) else (message,)
        context = None
        if spec and isinstance(spec[0], tuple):
            context, parts = parts[0], parts[1:]
        if not parts or not parts[0]:
            continue  # gettext(variable): nothing to translate here
        plural = parts[1] if len(parts) > 1 else None
        yield Marked(parts[0], context, plural, where)


def marked_messages(base: Path | None = None) -> dict[tuple[str | None, str], Marked]:
    """Every message our sources mark, keyed by (context, msgid)."""
    return dict(_marked_in(str(base or settings.BASE_DIR), _sources_stamp(base)))


def _sources_stamp(base: Path | None) -> tuple:
    # Re-read when a source changes (a long-lived process, a test writing templates).
    root = Path(base or settings.BASE_DIR)
    return tuple((str(p), p.stat().st_mtime_ns) for p in _sources(root))


@functools.lru_cache(maxsize=8)
def _marked_in(base_dir: str, _stamp: tuple) -> dict[tuple[str | None, str], Marked]:
    base = Path(base_dir)
    found: dict[tuple[str | None, str], Marked] = {}
    for path in _sources(base):
        for marked in _extract(path, base):
            found.setdefault((marked.context, marked.msgid), marked)
    return found


def po_path(language: str, domain: str = "django") -> Path:
    return Path(settings.LOCALE_PATHS[0]) / language / "LC_MESSAGES" / f"{domain}.po"


def catalogue_read(language: str) -> Catalog:
    with po_path(language).open("rb") as handle:
        return read_po(handle, locale=language)


@dataclass
class Problems:
    missing: list[str] = field(default_factory=list)
    untranslated: list[str] = field(default_factory=list)
    fuzzy: list[str] = field(default_factory=list)
    placeholders: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.missing or self.untranslated or self.fuzzy or self.placeholders)

    def report(self) -> str:
        lines = []
        for name, hint in (
            ("missing", "marked in the code but not in the catalogue: run `make messages`"),
            ("untranslated", "in the catalogue without a translation"),
            ("fuzzy", "translations marked fuzzy: check them and remove the flag"),
            ("placeholders", "translations whose placeholders differ from the message's"),
            ("stale", "in the catalogue but no longer in the code: `make messages` drops them"),
        ):
            items = getattr(self, name)
            if items:
                lines.append(f"{len(items)} {name} ({hint}):")
                lines.extend(f"  {item}" for item in items)
        return "\n".join(lines) or "the catalogue is complete"


def _placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


def _forms(message, num_plurals: int) -> tuple[str, ...]:
    """Every translation of ``message``: its one string, or one per plural form of the
    language (a form the .po leaves out counts as empty; so does a whitespace-only one)."""
    string = message.string
    if not isinstance(message.id, tuple):
        return (string if isinstance(string, str) else "",)
    forms = tuple(string) if isinstance(string, list | tuple) else (string or "",)
    return forms + ("",) * (num_plurals - len(forms)) if len(forms) < num_plurals else forms


def catalogue_problems(language: str, base: Path | None = None) -> Problems:
    catalogue = catalogue_read(language)
    problems = Problems()
    expected_forms = get_plural(language).num_plurals
    if catalogue.num_plurals != expected_forms:
        # A header with fewer forms than the language has silently drops the others.
        problems.untranslated.append(
            f"the Plural-Forms header: nplurals={catalogue.num_plurals}, "
            f"{language} has {expected_forms}"
        )
    marked = marked_messages(base)
    present = set()
    for message in catalogue:
        if not message.id:
            continue  # the header
        msgid = message.id[0] if isinstance(message.id, tuple) else message.id
        key = (message.context, msgid)
        present.add(key)
        label = repr(msgid) + (f" (context {message.context!r})" if message.context else "")
        if key not in marked:
            problems.stale.append(label)
        strings = _forms(message, catalogue.num_plurals)
        wants_plural = key in marked and marked[key].plural is not None
        if key in marked and wants_plural != isinstance(message.id, tuple):
            # The code says "one … / many …" and the catalogue has a single form (or the
            # reverse): gettext would not find the translation. `make messages` fixes it.
            problems.missing.append(label + (" (plural)" if wants_plural else " (singular)"))
        if not all(form.strip() for form in strings):
            problems.untranslated.append(label)
        elif message.fuzzy:
            problems.fuzzy.append(label)
        else:
            wanted = _placeholders(msgid)
            plural = message.id[1] if isinstance(message.id, tuple) else None
            for index, string in enumerate(strings):
                # Arabic has six plural forms; the zero/one forms may say the number in words.
                expected = _placeholders(plural) if plural and index else wanted
                if (
                    set(_placeholders(string)) - set(expected)
                    or (index > 2 and set(expected) - set(_placeholders(string)))
                    or (not plural and _placeholders(string) != wanted)
                ):
                    problems.placeholders.append(f"{label}: {string!r}")
                    break
    for key, marked_message in sorted(marked.items(), key=lambda item: item[1].where):
        if key not in present:
            problems.missing.append(f"{marked_message.msgid!r} ({marked_message.where})")
    return problems


def catalogue_compile(language: str) -> Path:
    """Write ``django.mo`` from ``django.po`` (fuzzy entries left out, as msgfmt does)."""
    catalogue = catalogue_read(language)
    target = po_path(language).with_suffix(".mo")
    with target.open("wb") as handle:
        write_mo(handle, catalogue, use_fuzzy=False)
    return target


def languages() -> list[str]:
    """The languages we keep a catalogue for (all but the source language)."""
    return [code for code, _name in settings.LANGUAGES if code != settings.LANGUAGE_CODE]


def catalogue_todo(language: str) -> list[tuple[str, str, str]]:
    """(msgid, current translation, context) for each message that needs a translator:
    untranslated or fuzzy (plural messages are left to the .po, where their six Arabic
    forms are edited)."""
    todo = []
    for message in catalogue_read(language):
        if not message.id or isinstance(message.id, tuple):
            continue
        if not message.string or message.fuzzy:
            current = message.string if message.fuzzy else ""
            todo.append((message.id, current, message.context or ""))
    return todo


def catalogue_plural_todo(language: str) -> list[str]:
    """The plural messages with a form still empty: ``todo`` cannot list them (one column
    for six forms), so it names them for the translator to fill in the .po."""
    catalogue = catalogue_read(language)
    return [
        message.id[0]
        for message in catalogue
        if message.id
        and isinstance(message.id, tuple)
        and (message.fuzzy or not all(f.strip() for f in _forms(message, catalogue.num_plurals)))
    ]


def catalogue_fill(language: str, translations: dict[tuple[str, str], str]) -> int:
    """Set these translations ((msgid, context or "") → text) and clear their fuzzy flags;
    returns how many were set. Messages not in the catalogue are ignored (run ``make
    messages`` first)."""
    from babel.messages.pofile import write_po  # noqa: PLC0415 - only this action writes

    catalogue = catalogue_read(language)
    done = 0
    for message in catalogue:
        key = (message.id, message.context or "")
        if message.id and not isinstance(message.id, tuple) and key in translations:
            message.string = translations[key]
            message.flags.discard("fuzzy")
            done += 1
    with po_path(language).open("wb") as handle:
        write_po(handle, catalogue, width=79, include_previous=False)
    return done
