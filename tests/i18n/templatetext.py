"""A small checker for text in templates that is not marked for translation.

It removes what is translated or not text (``{% translate %}``, ``{% blocktranslate %}``
blocks, ``{{ variables }}``, other tags, comments, scripts, styles, code samples), then
reports every remaining run of letters in the HTML text and in the attributes people read
(``title``, ``placeholder``, ``alt``, ``aria-label``…). ``ALLOWED`` lists the few words
that are the same in every language (the product's name, code, symbols).
"""

import re
from html.parser import HTMLParser
from pathlib import Path

#: Words that stay as they are in every language. Keep this list short: each entry is a
#: promise that the word is a name or code, not prose.
ALLOWED = {
    "Hypereal",  # the product's name
    "Console",  # the product's name, beside the brand mark
    "EN",  # the language switcher's code for English
    "ع",  # the language switcher's code for Arabic
    "API",  # in "API" headings, a technical term kept as is in the reference
    "TXT",  # the DNS record type
    "SSO",
    "SAML",
    "OIDC",
    "JSON",
    "CSV",
    "Stripe",
    "curl",
    "UTC",  # the time zone's name
    "USD",  # the currency's code
    "ms",  # milliseconds, as the API reference writes them
}
#: Whole texts that are examples of ids, not prose (model ids in a search placeholder).
ALLOWED_TEXT = {"gpt-5.5, claude, veo…"}
#: Templates that build markup rather than hold text (the tag's name is itself a variable).
SKIPPED = {"allauth/elements/button.html"}
READ_ATTRIBUTES = {"title", "placeholder", "alt", "aria-label", "aria-description", "label"}
CODE_ELEMENTS = {"code", "pre", "kbd", "samp", "script", "style", "svg"}

BLOCK = re.compile(r"{%\s*blocktrans(?:late)?\b.*?{%\s*endblocktrans(?:late)?\s*%}", re.S)
COMMENT_BLOCK = re.compile(r"{%\s*comment\s*%}.*?{%\s*endcomment\s*%}", re.S)
TAG = re.compile(r"{%.*?%}|{{.*?}}|{#.*?#}", re.S)
HTML_COMMENT = re.compile(r"<!--.*?-->", re.S)
WORD = re.compile(r"[^\W\d_][\w'’.-]*", re.U)


def _words(text: str) -> list[str]:
    return [w for w in WORD.findall(text) if w.strip(".-'’") not in ALLOWED]


def clean(source: str) -> str:
    # Replace with a placeholder character (not nothing): "{{ n }} keys" must still show
    # "keys" as a word, and a tag inside an attribute must not merge its neighbours.
    source = COMMENT_BLOCK.sub(" ", source)
    source = BLOCK.sub(" ", source)
    source = HTML_COMMENT.sub(" ", source)
    return TAG.sub(" ", source)


class _Collector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.found: list[tuple[int, str]] = []
        self.code_depth = 0

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag in CODE_ELEMENTS:
            self.code_depth += 1
        for name, value in attrs:
            read = name in READ_ATTRIBUTES and value and value.strip() not in ALLOWED_TEXT
            if read and _words(value):
                self.found.append((self.getpos()[0], f'{name}="{value.strip()}"'))

    def handle_endtag(self, tag: str) -> None:
        if tag in CODE_ELEMENTS and self.code_depth:
            self.code_depth -= 1

    def handle_data(self, data: str) -> None:
        if self.code_depth:
            return
        words = _words(data)
        if words:
            self.found.append((self.getpos()[0], " ".join(data.split())))


def unmarked_text(path: Path) -> list[tuple[int, str]]:
    """(line, text) for each piece of prose in the template that is not marked."""
    source = clean(path.read_text(encoding="utf-8"))
    if path.suffix == ".txt":  # plain-text emails: every word outside the tags is prose
        return [
            (number, line.strip())
            for number, line in enumerate(source.splitlines(), 1)
            if _words(line)
        ]
    collector = _Collector()
    collector.feed(source)
    collector.close()
    return collector.found
