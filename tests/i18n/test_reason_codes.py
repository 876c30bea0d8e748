"""Every reason code the apps store or raise is one of ``hypereal_site.reasons.REASONS``
(an unknown code would be shown as itself, an identifier where a sentence belongs).

An AST scan, like ``test_python_strings_marked``: the code argument of the calls below,
when it is a literal, must name a reason; the codes built from a step are listed by hand."""

import ast
from pathlib import Path

import pytest

from hypereal_site.reasons import LEGACY, REASONS

from .test_python_strings_marked import _app_sources, _name

ROOT = Path(__file__).resolve().parents[2]

#: call name → (position or None, keyword) of the reason code.
CODE_ARGUMENT = {
    "OutboundError": (1, "detail"),
    "OidcError": (None, "detail"),
    "CheckOutcome": (2, "detail"),
    "_set_status": (2, "detail"),  # infra.services
    "_record": (None, "error"),  # webhooks.delivery
    "endpoint_disable_in_transaction": (None, "reason"),
    "update": (None, "status_detail_code"),
}
#: Functions whose literal return values are reason codes.
RETURNING_CODES = {"_destination"}


def literal_codes(source: str) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Call) and _name(node.func) in CODE_ARGUMENT:
            position, keyword = CODE_ARGUMENT[_name(node.func)]
            argument = None
            if position is not None and len(node.args) > position:
                argument = node.args[position]
            else:
                argument = next((k.value for k in node.keywords if k.arg == keyword), None)
            if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
                found.append((node.lineno, argument.value))
        if isinstance(node, ast.FunctionDef) and node.name in RETURNING_CODES:
            found += [
                (ret.lineno, ret.value.value)
                for ret in ast.walk(node)
                if isinstance(ret, ast.Return)
                and isinstance(ret.value, ast.Constant)
                and isinstance(ret.value.value, str)
            ]
    return [(line, code) for line, code in found if code]


def test_every_literal_code_is_a_reason():
    seen = {}
    for relative, source in _app_sources():
        for line, code in literal_codes(source):
            seen[f"{relative}:{line}"] = code
    unknown = {where: code for where, code in seen.items() if code not in REASONS}
    assert not unknown, unknown
    # The scan does find them (it would pass on nothing at all).
    assert {"unreachable", "timed_out", "no_worker_in_time", "endpoint_disabled"} <= set(
        seen.values()
    ), sorted(set(seen.values()))


@pytest.mark.parametrize("step", ["create", "update"])
def test_the_codes_built_from_a_step_are_reasons(step):
    assert f"endpoint_{step}_failed" in REASONS
    assert f"endpoint_{step}_refused" in REASONS


def test_the_scan_finds_unknown_codes():
    source = 'raise OutboundError("dns", "no_such_reason", {"host": h})\n'
    assert literal_codes(source) == [(1, "no_such_reason")]
    assert LEGACY not in REASONS  # legacy is shown as its stored text, never looked up
