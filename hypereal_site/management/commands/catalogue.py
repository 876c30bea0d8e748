from django.core.management.base import BaseCommand, CommandError

from hypereal_site.management.catalogue import catalogue_compile, catalogue_problems, languages


class Command(BaseCommand):
    help = (
        "The translation catalogues without GNU gettext: `compile` writes the .mo files "
        "from the .po files (Babel); `check` lists messages missing from a catalogue, "
        "untranslated, fuzzy or with broken placeholders."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("action", choices=["compile", "check"])

    def handle(self, *args, action: str, **options) -> None:
        failed = False
        for language in languages():
            if action == "compile":
                path = catalogue_compile(language)
                self.stdout.write(f"{language}: wrote {path}")
                continue
            problems = catalogue_problems(language)
            self.stdout.write(f"{language}: {problems.report()}")
            failed = failed or bool(problems)
        if failed:
            raise CommandError("the catalogues are not complete")
