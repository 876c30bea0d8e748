"""docs/architecture.md's role table is the one in code (``PERMISSION_ROLES``), row by
row, and the repository's docs point at nothing outside the repository."""

import re
from pathlib import Path

from orgs.permissions import PERMISSION_ROLES, Role

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"


def doc_role_table() -> dict[str, set[str]]:
    """``{permission code: roles ticked}`` from the table under "## Roles"."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("\n## Roles\n", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    assert header[:2] == ["permission", "code"], header
    roles = header[2:]
    assert roles == [r.value for r in Role], f"role columns {roles} are not the code's roles"
    table: dict[str, set[str]] = {}
    for line in rows[2:]:
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        code = re.fullmatch(r"`([a-z_.]+)`", cells[1])
        assert code, f"no permission code in row: {line}"
        assert code[1] not in table, f"{code[1]} appears twice in docs/architecture.md"
        table[code[1]] = {role for role, cell in zip(roles, cells[2:], strict=True) if "✓" in cell}
    return table


def test_the_documented_role_table_is_the_one_in_code():
    documented = doc_role_table()
    in_code = {
        perm.value: {role.value for role in roles} for perm, roles in PERMISSION_ROLES.items()
    }
    only_doc = sorted(set(documented) - set(in_code))
    only_code = sorted(set(in_code) - set(documented))
    assert not only_doc, (
        f"docs/architecture.md lists permissions orgs/permissions.py lacks: {only_doc}"
    )
    assert not only_code, f"orgs/permissions.py has permissions the docs do not list: {only_code}"
    differ = {p: (documented[p], in_code[p]) for p in in_code if documented[p] != in_code[p]}
    assert not differ, f"rows that differ (docs, code): {differ}"


def test_docs_point_at_nothing_outside_the_repository():
    files = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert "../" not in text, f"{path.name} points outside the repository"
        assert "shared/" not in text, f"{path.name} points at shared/"
        for target in re.findall(r"\]\(([^)#]+)\)", text):  # relative markdown links exist
            if "://" not in target and not target.startswith("/"):
                assert (path.parent / target).exists(), f"{path.name}: broken link {target}"
