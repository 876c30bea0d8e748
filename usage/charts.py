"""Geometry of the usage charts, in integers: the SVG itself is drawn by our templates.

Shared by ``/usage`` and the dashboard's sparkline; no float touches money, and none is
needed for a percentage to three decimals.
"""

from . import selectors

TOP = selectors.TOP_MODELS  # slices of the donut before "other"

PALETTE = (
    "#4f46e5", "#0891b2", "#d97706", "#059669", "#db2777",
    "#7c3aed", "#65a30d", "#dc2626", "#94a3b8",
)  # fmt: skip
OTHER = ""  # the "other models" bucket's key


def _permille(part: int, whole: int) -> int:
    return part * 100_000 // whole if whole else 0  # hundredths of a percent ×10


def _num(thousandths: int) -> str:
    """An integer count of thousandths written as a decimal number (SVG geometry)."""
    sign = "-" if thousandths < 0 else ""
    value = abs(thousandths)
    return f"{sign}{value // 1000}.{value % 1000:03d}"


def donut(rows: list[dict], total: int) -> list[dict]:
    """The slices of the spend-by-model donut: the top 8 models, then "other"."""
    top, rest = rows[:TOP], rows[TOP:]
    slices = [dict(r, label=r["model"]) for r in top]
    if rest:
        slices.append(
            {
                "model": OTHER,
                "label": None,
                "requests": sum(r["requests"] for r in rest),
                "cost": sum(r["cost"] for r in rest),
                "count": len(rest),
            }
        )
    start = 0  # in thousandths of a percent of the circle (circumference 100)
    for i, s in enumerate(slices):
        share = _permille(s["cost"], total)
        s["color"] = PALETTE[i] if s["model"] != OTHER else PALETTE[-1]
        s["share"] = _num(share)
        s["dash"] = f"{_num(share)} {_num(100_000 - share)}"
        s["offset"] = _num(25_000 - start)  # the circle starts at 3 o'clock; we start at 12
        start += share
    return slices


def bars(days: list[dict], stacked: list[str], colors: dict[str, str]) -> dict:
    """Daily bars (viewBox 0 0 <10·days> 100), each stacked by ``stacked`` then "other"."""
    peak = max((d["cost"] for d in days), default=0)
    out = []
    for i, d in enumerate(days):
        y = 100_000  # thousandths of the chart's height, from the bottom up
        segments = []
        for model in [*stacked, OTHER]:
            cost = d["models"].get(model, 0)
            if not cost:
                continue
            height = cost * 100_000 // peak if peak else 0
            y -= height
            segments.append(
                {
                    "model": model,
                    "cost": cost,
                    "y": _num(y),
                    "height": _num(height),
                    "color": colors.get(model, PALETTE[-1]),
                }
            )
        out.append(dict(d, x=i * 10 + 1, segments=segments))
    return {
        "days": out,
        "width": max(len(days), 1) * 10,
        "peak": peak,
        "first": days[0]["date"] if days else None,
        "last": days[-1]["date"] if days else None,
    }


def key_bars(rows: list[dict]) -> list[dict]:
    """Horizontal bars (viewBox 0 0 100 <10·keys>), the biggest spender full width."""
    peak = max((r["cost"] for r in rows), default=0)
    return [
        dict(r, y=i * 10 + 1, width=_num(r["cost"] * 100_000 // peak if peak else 0))
        for i, r in enumerate(rows)
    ]
