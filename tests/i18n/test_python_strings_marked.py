"""Every message our Python code shows a person is marked for translation.

An AST scan of the apps: the message argument of the calls below must not be a string
literal, an f-string or a ``"…" % x`` / ``"…".format()`` of one. ``_("…") % {...}`` and
values computed elsewhere (``exc.message``) pass. ``tests/i18n/test_catalogue.py`` then
checks that every marked message is translated.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
APPS = ("accounts", "apikeys", "billing", "hypereal_site", "infra", "orgs", "sso", "usage")
APPS += ("webhooks",)
#: Not user-facing: schema migrations, management commands (an operator's terminal) and
#: the GPU simulator (it plays the provider; its errors are RunPod's, not ours).
SKIPPED = ("migrations", "commands", "simulator.py")

TRANSLATE = {
    "_",
    "gettext",
    "gettext_lazy",
    "pgettext",
    "pgettext_lazy",
    "ngettext",
    "ngettext_lazy",
    "npgettext",
    "npgettext_lazy",
}

#: call name → (position, keyword) of the message a person reads.
MESSAGE_ARGUMENT = {
    "ApplicationError": (1, "message"),  # and its subclasses below
    "InvitationError": (1, "message"),
    "EventError": (1, "message"),
    "CapDenied": (1, "message"),
    "_error": (1, "message"),  # apikeys.rules / apikeys.verification
    "_bad": (0, "message"),  # usage.selectors
    "_run": (2, "success"),  # orgs.views: the flash message after an action
    "ValidationError": (0, "message"),  # Django's, forms', DRF's serializers'
    "add_error": (1, "error"),
    "PermissionDenied": (0, "detail"),
    "NotFound": (0, "detail"),
    "ParseError": (0, "detail"),
    "AuthenticationFailed": (0, "detail"),
    "error_response": (1, "message"),
    "envelope": (1, "message"),
    "message_user": (1, "message"),  # the admin's flash message
    # OutboundError takes a code of hypereal_site.reasons, not a sentence: test_reason_codes.
    "OidcError": (1, "message"),
    "SamlError": (1, "message"),
    # ``messages.<level>(request, message)``: only when called on ``messages``.
    "success": (1, "message"),
    "error": (1, "message"),
    "info": (1, "message"),
    "warning": (1, "message"),
    "add_message": (2, "message"),
}
MESSAGES_LEVELS = {"success", "error", "info", "warning", "add_message"}

#: (file, the English text) left in English on purpose, each with its reason.
ALLOWED = {
    # The Stripe webhook answers Stripe's servers (logged in Stripe's dashboard), no person.
    ("billing/views.py", "Stripe is not configured."),
    ("billing/views.py", "Bad or stale signature."),
    ("billing/views.py", "Recorded; will retry."),
    ("billing/views.py", "Not a Stripe event."),
}


def _name(func: ast.expr) -> str:
    if isinstance(func, ast.Name):
        return func.id
    if isinstance(func, ast.Attribute):
        return func.attr
    return ""


def _unmarked(node: ast.expr | None) -> list[str]:
    """The literal texts in ``node`` that reach a person untranslated."""
    if node is None:
        return []
    if isinstance(node, ast.Constant):
        return [node.value] if isinstance(node.value, str) and node.value.strip() else []
    if isinstance(node, ast.JoinedStr):
        return [ast.unparse(node)]
    if isinstance(node, ast.BinOp):
        if isinstance(node.op, ast.Mod):  # "…" % values: only the format matters
            return _unmarked(node.left)
        return _unmarked(node.left) + _unmarked(node.right)
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in {"format", "join"}:
            return _unmarked(func.value) + [t for a in node.args for t in _unmarked(a)]
        return []  # a translation call, or a value computed elsewhere
    if isinstance(node, ast.Dict):  # ValidationError({"field": message})
        return [t for value in node.values for t in _unmarked(value)]
    if isinstance(node, ast.List | ast.Tuple):
        return [t for value in node.elts for t in _unmarked(value)]
    if isinstance(node, ast.IfExp):
        return _unmarked(node.body) + _unmarked(node.orelse)
    return []


def unmarked_messages(source: str, where: str) -> list[tuple[str, int, str]]:
    """(where, line, text) of every untranslated message in ``source``."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = _name(node.func)
        if name not in MESSAGE_ARGUMENT:
            continue
        if name in MESSAGES_LEVELS and not (
            isinstance(node.func, ast.Attribute) and _name(node.func.value) == "messages"
        ):
            continue  # logger.error(...), dict.info…: not the messages framework
        position, keyword = MESSAGE_ARGUMENT[name]
        if len(node.args) > position:
            argument = node.args[position]
        else:
            argument = next((k.value for k in node.keywords if k.arg == keyword), None)
        found += [(where, node.lineno, text) for text in _unmarked(argument)]
    return sorted(found, key=lambda item: item[1])


def _app_sources():
    for app in APPS:
        for path in sorted((ROOT / app).rglob("*.py")):
            relative = path.relative_to(ROOT)
            if not any(part in SKIPPED for part in relative.parts):
                yield relative.as_posix(), path.read_text(encoding="utf-8")


def test_every_message_shown_to_a_person_is_marked_for_translation():
    problems = [
        f"{where}:{line}: {text!r}"
        for relative, source in _app_sources()
        for where, line, text in unmarked_messages(source, relative)
        if (where, text) not in ALLOWED
    ]
    assert not problems, (
        "Mark these with gettext (gettext_lazy at import time), "
        "with %(name)s placeholders, then translate them (docs/i18n.md):\n" + "\n".join(problems)
    )


def test_the_allow_list_holds_only_messages_that_still_exist():
    present = {
        (where, text)
        for relative, source in _app_sources()
        for where, _line, text in unmarked_messages(source, relative)
    }
    assert present >= ALLOWED, f"stale allow-list entries: {sorted(ALLOWED - present)}"


BAD = """
from django.contrib import messages
raise ApplicationError("not_found", "No such thing.", status=404)
raise ApplicationError("x", message=f"Key {key} is gone.")
raise ValidationError({"name": "Enter a name."})
raise forms.ValidationError("Too long." if n else _("Empty."))
raise _error("key_revoked", "Revoked " + reason, 401)
messages.success(request, "Saved.")
form.add_error("slug", "Taken: %s" % slug)
raise exceptions.PermissionDenied("{} may not".format(role))
"""

GOOD = """
raise ApplicationError("not_found", _("No such thing."), status=404)
raise ApplicationError("x", message=_("Key %(key)s is gone.") % {"key": key})
raise ValidationError({"name": gettext_lazy("Enter a name.")})
raise ValidationError(exc.messages)
raise ApplicationError("blocked", " ".join(blockers), status=409)
messages.success(request, pgettext("flash", "Saved."))
logger.error("Not for people: %s", exc)
form.add_error(None, exc.message)
raise _error("time")
"""


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        (
            BAD,
            [
                "No such thing.",
                "f'Key {key} is gone.'",
                "Enter a name.",
                "Too long.",
                "Revoked ",
                "Saved.",
                "Taken: %s",
                "{} may not",
            ],
        ),
        (GOOD, []),
    ],
    ids=["unmarked", "marked"],
)
def test_the_scan_finds_unmarked_messages_and_only_those(source, expected):
    assert [text for _where, _line, text in unmarked_messages(source, "x.py")] == expected
