"""Every word a person reads in our templates is marked for translation."""

from pathlib import Path

from django.conf import settings

from .templatetext import SKIPPED, unmarked_text

TEMPLATES = Path(settings.BASE_DIR) / "templates"


def all_templates() -> list[Path]:
    return sorted(
        p
        for p in TEMPLATES.rglob("*")
        if p.suffix in {".html", ".txt"} and str(p.relative_to(TEMPLATES)) not in SKIPPED
    )


def test_no_template_has_unmarked_text():
    problems = [
        f"{path.relative_to(settings.BASE_DIR)}:{line}: {text}"
        for path in all_templates()
        for line, text in unmarked_text(path)
    ]

    assert not problems, "text not marked for translation:\n" + "\n".join(problems)


def test_the_check_finds_unmarked_text(tmp_path):
    page = tmp_path / "page.html"
    page.write_text(
        "{% load i18n %}<h1>{% translate 'Usage' %}</h1>\n"
        "<p>Usage this month</p>\n"
        '<input placeholder="Search keys">\n'
        "{% blocktranslate %}{{ n }} keys{% endblocktranslate %}\n"
        "<pre><code>curl https://api.hypereal.cloud</code></pre>\n"
        "<p>{{ count }} requests</p>\n"
    )
    mail = tmp_path / "mail.txt"
    mail.write_text("{% load i18n %}{% translate 'Hello' %}\nYour key is ready.\n")

    found = [text for _line, text in unmarked_text(page)]
    assert found == ["Usage this month", 'placeholder="Search keys"', "requests"]
    assert unmarked_text(mail) == [(2, "Your key is ready.")]
