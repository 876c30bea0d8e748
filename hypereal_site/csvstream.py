"""One way to export CSV: ``stream_csv`` streams a queryset as CSV rows.

On PostgreSQL the rows come from ``COPY (SELECT …) TO STDOUT`` through psycopg 3, formatted
by the database and streamed in chunks of about 256 KiB, so a year of audit events costs the
web worker no memory and no formatting: per row, only appending the bytes PostgreSQL sent
(one statement, so one consistent snapshot). Elsewhere (SQLite in development and tests) an
iterator formats the same columns the same way; a test holds both outputs equal.

Every text cell a user could have typed is neutralised against formula injection (OWASP
"CSV injection"): a cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return gets a leading ``'``, so a spreadsheet shows it as text instead of evaluating it.
Numbers and times we format ourselves are left alone (a negative amount stays a number).
"""

import csv
import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC
from decimal import Decimal
from typing import Literal

from django.core.exceptions import FieldError
from django.db import connections
from django.db.models import IntegerField, QuerySet
from django.http import StreamingHttpResponse

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")
CHUNK_BYTES = 256 * 1024

Kind = Literal["text", "time", "json", "ip", "microcredits", "usd"]


@dataclass(frozen=True)
class Column:
    header: str
    field: str  # a model field (or lookup) of the queryset
    kind: Kind = "text"


def neutralise(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_PREFIXES) else text


def _jsonb_order(value):
    """PostgreSQL prints jsonb objects with their keys ordered by length, then bytes."""
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: (len(k.encode()), k.encode()))
        return {k: _jsonb_order(value[k]) for k in keys}
    if isinstance(value, list):
        return [_jsonb_order(v) for v in value]
    return value


def _format(kind: Kind, value) -> str:
    if value is None or value == "":
        return ""
    if kind == "time":
        return value.astimezone(UTC).isoformat()
    if kind == "microcredits":
        return f"{Decimal(value).scaleb(-6):.6f}"
    if kind == "usd":  # µcr → USD (100 credits a dollar), exact to 1 µcr
        return f"{Decimal(value).scaleb(-8):.8f}"
    if kind == "json":
        return neutralise(json.dumps(_jsonb_order(value), ensure_ascii=False))
    if kind == "ip":
        return str(value)
    return neutralise(str(value))


# The first character's code point (0 for ''): =, +, -, @, tab, carriage return. Integer
# comparisons: much cheaper per row than comparing one-character strings.
_NEUTRALISE_SQL = (
    "CASE WHEN ascii({0}) IN (61, 43, 45, 64, 9, 13) THEN '''' || {0} ELSE NULLIF({0}, '') END"
)


def _sql(kind: Kind, column: str, *, integer: bool = False) -> str:
    """The PostgreSQL expression printing ``column`` as ``_format`` does. Empty text
    becomes NULL: COPY quotes an empty string (``""``) but prints NULL as nothing.

    These run once per exported cell, so they are chosen for speed (bench/usage_export.py):
    one ``to_char`` per time, exact numeric multiplication (its scale is the sum of the
    operands', so ``* 0.000001`` prints exactly six decimals), integer tests rather than
    string ones. ``integer`` marks an integer column: there only a negative number starts
    with a formula character."""
    if kind == "time":  # as datetime.isoformat(): a fraction only when there is one
        utc = f"({column} AT TIME ZONE 'UTC')"
        return f"replace(to_char({utc}, 'YYYY-MM-DD\"T\"HH24:MI:SS.US'), '.000000', '') || '+00:00'"
    if kind == "microcredits":
        return f"({column}::numeric * 0.000001)::text"
    if kind == "usd":  # µcr → USD (100 credits a dollar), exact to 1 µcr
        return f"({column}::numeric * 0.00000001)::text"
    if kind == "ip":
        return f"host({column})"
    if integer and kind == "text":
        return f"CASE WHEN {column} < 0 THEN '''' || {column}::text ELSE {column}::text END"
    return _NEUTRALISE_SQL.format(f"{column}::text")


class _Echo:
    def write(self, value: str) -> str:
        return value


def _python_rows(queryset: QuerySet, columns: Sequence[Column]) -> Iterator[str]:
    writer = csv.writer(_Echo(), lineterminator="\n")
    fields = [c.field for c in columns]
    for row in queryset.values_list(*fields).iterator(chunk_size=2000):
        yield writer.writerow([_format(c.kind, v) for c, v in zip(columns, row, strict=True)])


def copy_statement(queryset: QuerySet, columns: Sequence[Column]) -> tuple[str, tuple]:
    """The ``COPY … TO STDOUT`` statement (and its parameters) printing ``queryset`` as the
    CSV rows ``_python_rows`` would write (the export benchmark hands it to psql)."""
    query = queryset.values_list(*[c.field for c in columns]).query
    compiler = query.get_compiler(queryset.db)
    inner, params = compiler.as_sql()
    names = [f"c{i}" for i in range(len(columns))]
    # The selected expressions in output order (set up by as_sql): which are integers.
    try:
        integers = [isinstance(e.output_field, IntegerField) for e, _sql, _a in compiler.select]
    except FieldError:  # an expression of no single type: printed as text
        integers = []
    if len(integers) != len(columns):
        integers = [False] * len(columns)
    select = ", ".join(
        _sql(c.kind, f"sub.{n}", integer=i)
        for c, n, i in zip(columns, names, integers, strict=True)
    )
    # A projection over a sorted subquery (no join, no aggregate) keeps the subquery's
    # order in PostgreSQL; the column list renames the inner columns positionally. Only
    # our own column names and the ORM's SQL go into the text; values stay parameters.
    statement = (
        f"COPY (SELECT {select} FROM ({inner}) AS sub({', '.join(names)})) "  # noqa: S608
        "TO STDOUT (FORMAT csv)"
    )
    return statement, params


def _copy_rows(queryset: QuerySet, columns: Sequence[Column]) -> Iterator[bytes]:
    connection = connections[queryset.db]
    statement, params = copy_statement(queryset, columns)
    connection.ensure_connection()
    # PostgreSQL sends COPY data one row per message: gathered into chunks of about
    # CHUNK_BYTES, the response is written in a few hundred writes, not one per row.
    with connection.cursor() as cursor, cursor.cursor.copy(statement, params) as copy:
        chunk = bytearray()
        for block in copy:
            chunk += block
            if len(chunk) >= CHUNK_BYTES:
                yield bytes(chunk)
                chunk.clear()
        if chunk:
            yield bytes(chunk)


def csv_rows(
    queryset: QuerySet,
    columns: Sequence[Column],
    *,
    before: Iterable[Sequence] = (),
    after: Iterable[Sequence] = (),
) -> Iterator[str | bytes]:
    """The header, then ``before`` (literal rows, formatted by the columns' kinds), the
    queryset's rows, then ``after``."""
    writer = csv.writer(_Echo(), lineterminator="\n")
    yield writer.writerow([c.header for c in columns])

    def literal(rows: Iterable[Sequence]) -> Iterator[str]:
        for row in rows:
            yield writer.writerow([_format(c.kind, v) for c, v in zip(columns, row, strict=True)])

    yield from literal(before)
    if connections[queryset.db].vendor == "postgresql":
        yield from _copy_rows(queryset, columns)
    else:
        yield from _python_rows(queryset, columns)
    yield from literal(after)


def stream_csv(
    queryset: QuerySet,
    columns: Sequence[Column],
    *,
    filename: str,
    before: Iterable[Sequence] = (),
    after: Iterable[Sequence] = (),
) -> StreamingHttpResponse:
    """A streamed ``text/csv`` attachment of ``csv_rows``."""
    response = StreamingHttpResponse(
        csv_rows(queryset, columns, before=before, after=after),
        content_type="text/csv",
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
