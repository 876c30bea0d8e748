"""The catalog as one snapshot shared by every worker, for the hot paths.

The snapshot (models with prices, aliases, intents, fallback chains) is built from the
database, stored in the shared cache with a version, and memoised per process by that
version: a hot path asks the cache for the version (one round trip, batched with its own
lookup) and only re-reads the snapshot when staff changed the catalog.
"""

import hashlib
import json
import threading
import uuid

from django.core.cache import cache

from .models import CatalogModel, Intent, ModelAlias

VERSION_KEY = "catalog:version"
SNAPSHOT_KEY = "catalog:snapshot:{version}"
SNAPSHOT_TTL = 24 * 3600

_local = threading.local()

MODEL_FIELDS = (
    "model_id",
    "display_name",
    "family",
    "endpoints",
    "active",
    "pricing",
    "input_nanocredits_per_token",
    "output_nanocredits_per_token",
    "unit_microcredits",
    "tier_microcredits",
    "max_seconds",
)


def _build() -> dict:
    models = {}
    for m in CatalogModel.objects.prefetch_related("fallbacks").order_by("model_id"):
        row = {f: getattr(m, f) for f in MODEL_FIELDS}
        row["fallbacks"] = [
            {"provider": f.provider, "region": f.region, "upstream_model": f.upstream_model}
            for f in sorted(m.fallbacks.all(), key=lambda f: f.position)
        ]
        models[m.model_id] = row
    aliases = dict(ModelAlias.objects.order_by("alias").values_list("alias", "model__model_id"))
    intents = {}
    for intent in Intent.objects.prefetch_related("candidates").order_by("name"):
        members = [m.model_id for m in intent.candidates.all() if m.active]
        intents[intent.name] = {
            "description": intent.description,
            "models": sorted(members),
            "cheapest": cheapest_of([models[m] for m in members]) if members else None,
        }
    body = {"models": models, "aliases": aliases, "intents": intents}
    etag = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32]
    return {**body, "etag": etag}


def _reference_cost(row: dict) -> int:
    """What one typical call costs, to rank models within an intent bucket."""
    if row["pricing"] == CatalogModel.Pricing.PER_TOKEN:
        # 1,000 input + 1,000 output tokens, in nano-credits.
        return 1000 * (row["input_nanocredits_per_token"] + row["output_nanocredits_per_token"])
    unit = row["unit_microcredits"]
    if row["tier_microcredits"]:
        unit = min(row["tier_microcredits"].values())
    return unit * 1000


def cheapest_of(rows: list[dict]) -> str:
    return min(rows, key=lambda r: (_reference_cost(r), r["model_id"]))["model_id"]


def invalidate() -> None:
    """Call after any catalog change: every worker re-reads on its next request."""
    cache.set(VERSION_KEY, uuid.uuid4().hex, None)


def current_version() -> str:
    version = cache.get(VERSION_KEY)
    if version is None:
        version = uuid.uuid4().hex
        if not cache.add(VERSION_KEY, version, None):
            version = cache.get(VERSION_KEY) or version
    return version


def snapshot(version: str | None = None) -> dict:
    version = version or current_version()
    memo = getattr(_local, "memo", None)
    if memo is not None and memo[0] == version:
        return memo[1]
    data = cache.get(SNAPSHOT_KEY.format(version=version))
    if data is None:
        data = _build()
        cache.set(SNAPSHOT_KEY.format(version=version), data, SNAPSHOT_TTL)
    _local.memo = (version, data)
    return data


def resolve(model: str, data: dict | None = None) -> dict | None:
    """The active catalog row for a model id or alias, or None."""
    data = data or snapshot()
    canonical = data["aliases"].get(model, model)
    row = data["models"].get(canonical)
    return row if row and row["active"] else None


def available_models(data: dict | None = None) -> list[str]:
    data = data or snapshot()
    return sorted(m for m, row in data["models"].items() if row["active"])


def as_model(row: dict) -> CatalogModel:
    """An unsaved CatalogModel carrying the row's prices, for billing.pricing.

    Memoised per process and per row object (snapshot rows are never mutated), so the hot
    path does not build a model instance on every call.
    """
    memo: dict[int, tuple[dict, CatalogModel]] = _local.__dict__.setdefault("model_memo", {})
    found = memo.get(id(row))
    if found is None or found[0] is not row:
        if len(memo) > 2000:
            memo.clear()
        found = (row, CatalogModel(**{f: row[f] for f in MODEL_FIELDS}))
        memo[id(row)] = found
    return found[1]
