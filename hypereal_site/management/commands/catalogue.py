import csv
import sys

from django.core.management.base import BaseCommand, CommandError

from hypereal_site.management.catalogue import (
    catalogue_compile,
    catalogue_fill,
    catalogue_plural_todo,
    catalogue_problems,
    catalogue_todo,
    languages,
)


class Command(BaseCommand):
    help = (
        "The translation catalogues without GNU gettext (docs/i18n.md): `compile` writes "
        "the .mo files from the .po files (Babel); `check` lists messages missing from a "
        "catalogue, untranslated, fuzzy or with broken placeholders; `todo` prints the "
        "messages a translator must do as tab-separated msgid, translation (and context) "
        "lines; `fill FILE` reads such lines back into the catalogue (clearing their fuzzy "
        "flags)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("action", choices=["compile", "check", "todo", "fill"])
        parser.add_argument("file", nargs="?", help="for fill: a TSV of msgid<TAB>translation")
        parser.add_argument("--language", default=None, help="one language (default: all)")

    def handle(self, *args, action: str, file: str | None, language: str | None, **options):
        targets = [language] if language else languages()
        if action == "fill":
            if not file or len(targets) != 1:
                raise CommandError("fill needs a FILE and one --language")
            with open(file, encoding="utf-8", newline="") as handle:
                rows = {
                    (row[0], row[2] if len(row) > 2 else ""): row[1]
                    for row in csv.reader(handle, delimiter="\t", quoting=csv.QUOTE_NONE)
                    if len(row) >= 2 and row[1]
                }
            done = catalogue_fill(targets[0], rows)
            catalogue_compile(targets[0])
            self.stdout.write(f"{targets[0]}: {done} translations set and compiled")
            return
        failed = False
        for code in targets:
            if action == "compile":
                self.stdout.write(f"{code}: wrote {catalogue_compile(code)}")
            elif action == "todo":
                out = csv.writer(
                    sys.stdout, delimiter="\t", quoting=csv.QUOTE_NONE, escapechar="\\"
                )
                for msgid, current, context in catalogue_todo(code):
                    out.writerow([msgid, current, context] if context else [msgid, current])
                for msgid in catalogue_plural_todo(code):
                    self.stderr.write(f"{code}: plural, fill its forms in the .po: {msgid!r}")
            else:
                problems = catalogue_problems(code)
                self.stdout.write(f"{code}: {problems.report()}")
                failed = failed or bool(problems)
        if failed:
            raise CommandError("the catalogues are not complete")
