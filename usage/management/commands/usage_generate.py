"""``usage_generate``: realistic synthetic usage, written fast, for demos and benchmarks.

Events are spread uniformly over the last ``--days`` days across ``--keys`` keys (made if
missing, named ``usage-gen-001``…) and ``--models`` models of the real catalog (taken in
turn from each pricing kind so tokens, images, seconds, clips and requests all appear).
Each model gets a pool of calls (endpoint, units, latency, status: ~94 % 2xx, 4 % 4xx,
2 % 5xx) priced by the real pricing function (a failed call costs nothing, as in
ingestion); events draw from the pools. Every request id is claimed in ``UsageRequest`` so
ingestion's de-duplication stays consistent. Nothing is posted to the ledger, no cap or
month spend moves: it is usage history, not billing.

``recorded_at`` is the time of writing (the truth, and what the rollups' watermark reads):
the next rollup refresh folds the new events in, and until then every page reads them raw.
PostgreSQL: ``COPY`` through psycopg 3; elsewhere ``bulk_create``.
"""

import random
import time
import uuid
from datetime import UTC, datetime, timedelta

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils import timezone

from accounts.models import User
from apikeys.models import ApiKey
from apikeys.services import apikey_create
from billing import catalog
from billing.models import CatalogModel
from billing.pricing import Usage, price_microcredits
from orgs.models import Membership, Organization
from orgs.permissions import Role
from orgs.services import org_create
from usage.models import UsageEvent, UsageRequest

DEMO_SLUG = "usage-demo"
DEMO_OWNER = "usage-demo@hypereal.local"
POOL = 2000  # calls pre-priced per model
CHUNK = 100_000  # events per COPY (and per transaction)
STATUSES = [200] * 94 + [400, 401, 429, 429, 500, 502]
PROVIDERS = {
    "per_token": "openai",
    "per_image": "imagen",
    "per_second": "veo",
    "per_clip": "kling",
    "per_request": "elevenlabs",
}


def _models(count: int) -> list[dict]:
    """``count`` active catalog rows, taken in turn from each pricing kind."""
    data = catalog.snapshot()
    by_kind: dict[str, list[dict]] = {}
    for model_id in catalog.available_models(data):
        row = data["models"][model_id]
        by_kind.setdefault(row["pricing"], []).append(row)
    out: list[dict] = []
    while len(out) < count and any(by_kind.values()):
        for kind in sorted(by_kind):
            if by_kind[kind] and len(out) < count:
                out.append(by_kind[kind].pop(0))
    if len(out) < count:
        raise CommandError(f"The catalog has only {len(out)} active models.")
    return out


def _call(rng: random.Random, row: dict, model: CatalogModel) -> tuple:
    """One realistic call of ``row``: (endpoint, status, latency, units…, requests, cost)."""
    status = rng.choice(STATUSES)
    units = {"input_tokens": 0, "output_tokens": 0, "images": 0, "seconds": 0, "clips": 0}
    requests, tier, latency = 0, "", 0
    pricing = row["pricing"]
    if pricing == CatalogModel.Pricing.PER_TOKEN:
        units["input_tokens"] = int(rng.lognormvariate(7, 1.2)) + 1  # median ~1,100
        units["output_tokens"] = int(rng.lognormvariate(5.5, 1.1)) + 1  # median ~250
        latency = 150 + units["output_tokens"] * rng.randint(8, 25)
    elif pricing == CatalogModel.Pricing.PER_IMAGE:
        units["images"] = rng.choice((1, 1, 1, 2, 4))
        tier = rng.choice(sorted(row["tier_microcredits"])) if row["tier_microcredits"] else ""
        latency = rng.randint(3_000, 20_000)
    elif pricing == CatalogModel.Pricing.PER_SECOND:
        units["seconds"] = rng.randint(4, row["max_seconds"] or 10)
        latency = rng.randint(30_000, 240_000)
    elif pricing == CatalogModel.Pricing.PER_CLIP:
        units["clips"] = 1
        latency = rng.randint(30_000, 180_000)
    else:
        requests = 1
        latency = rng.randint(200, 5_000)
    if status >= 400:
        latency = rng.randint(20, 800)
        cost = 0
    else:
        cost = price_microcredits(model, Usage(tier=tier, requests=requests, **units))
    endpoint = rng.choice(row["endpoints"]) if row["endpoints"] else "chat.completions"
    return (
        endpoint,
        row["model_id"],
        PROVIDERS.get(pricing, ""),
        status,
        latency,
        units["input_tokens"],
        units["output_tokens"],
        units["images"],
        units["seconds"],
        units["clips"],
        requests,
        cost,
    )


def _owner(org: Organization) -> User:
    membership = (
        Membership.objects.select_related("user")
        .filter(organization=org, role=Role.OWNER)
        .order_by("pk")
        .first()
    )
    if membership is None:
        raise CommandError(f"{org} has no owner to create keys as.")
    return membership.user


def _organization(slug: str | None) -> Organization:
    if slug:
        org = Organization.objects.filter(slug=slug).first()
        if org is None:
            raise CommandError(f"No organization with slug {slug!r}.")
        return org
    org = Organization.objects.filter(slug=DEMO_SLUG).first()
    if org is None:
        user = User.objects.filter(email=DEMO_OWNER).first() or User.objects.create_user(
            DEMO_OWNER, None, name="Usage demo"
        )
        org = org_create(actor=user, name="Usage demo", slug=DEMO_SLUG)
    return org


def _keys(org: Organization, count: int) -> list[tuple[int, int]]:
    """``(key pk, organization pk)`` of ``usage-gen-001``… (made if missing)."""
    names = [f"usage-gen-{i:03d}" for i in range(1, count + 1)]
    existing = dict(
        ApiKey.objects.filter(organization=org, name__in=names).values_list("name", "pk")
    )
    missing = [n for n in names if n not in existing]
    if missing:
        owner = _owner(org)
        for name in missing:
            key, _plaintext = apikey_create(
                organization=org, actor=owner, name=name, spending_limit_microcredits=None
            )
            existing[name] = key.pk
    return [(existing[n], org.pk) for n in names]


def _stamp(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f+00")


class Command(BaseCommand):
    help = "Write synthetic usage events (no ledger postings) over the last days."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--events", type=int, required=True)
        parser.add_argument("--days", type=int, default=30)
        parser.add_argument("--keys", type=int, default=5)
        parser.add_argument("--models", type=int, default=10)
        parser.add_argument("--org", help="the organization's slug (default: a demo team)")
        parser.add_argument("--seed", type=int, default=None, help="for repeatable runs")

    def handle(self, *args, events: int, days: int, keys: int, models: int, **options) -> None:
        if events < 1 or not 1 <= days <= 90 or keys < 1 or models < 1:
            raise CommandError("--events ≥ 1, --days 1–90 (ingestion's limit), --keys/--models ≥ 1")
        rng = random.Random(options["seed"])
        org = _organization(options["org"])
        key_rows = _keys(org, keys)
        pools = []
        for row in _models(models):
            model = catalog.as_model(row)
            pools.append([_call(rng, row, model) for _ in range(POOL)])
        now = timezone.now()
        span = days * 86_400
        start = now - timedelta(seconds=span)
        prefix = f"gen-{uuid.uuid4().hex[:12]}-"
        began = time.monotonic()
        written = 0
        while written < events:
            n = min(CHUNK, events - written)
            rows = []
            for i in range(written, written + n):
                key_pk, org_pk = key_rows[rng.randrange(len(key_rows))]
                call = pools[rng.randrange(len(pools))][rng.randrange(POOL)]
                occurred = start + timedelta(seconds=rng.random() * span)
                rows.append((f"{prefix}{i}", occurred, org_pk, key_pk, call))
            self._write(rows)
            written += n
            if options["verbosity"] >= 2:
                self.stdout.write(f"{written} events, {time.monotonic() - began:.1f} s")
        elapsed = time.monotonic() - began
        self.stdout.write(
            f"{written} events over {days} days, {keys} keys, {models} models for "
            f"{org.slug or org.public_id} in {elapsed:.1f} s ({written / elapsed:,.0f} events/s)"
        )

    def _write(self, rows: list[tuple]) -> None:
        recorded = timezone.now()
        with transaction.atomic():
            if connection.vendor == "postgresql":
                self._copy(rows, recorded)
                return
            UsageRequest.objects.bulk_create(
                [UsageRequest(request_id=r[0], accepted_at=recorded) for r in rows],
                batch_size=2000,
            )
            UsageEvent.objects.bulk_create(
                [
                    UsageEvent(
                        request_id=rid,
                        occurred_at=occurred,
                        organization_id=org_pk,
                        key_id=key_pk,
                        endpoint=call[0],
                        model=call[1],
                        provider=call[2],
                        status_code=call[3],
                        latency_ms=call[4],
                        input_tokens=call[5],
                        output_tokens=call[6],
                        images=call[7],
                        seconds=call[8],
                        clips=call[9],
                        requests=call[10],
                        cost_microcredits=call[11],
                        recorded_at=recorded,
                    )
                    for rid, occurred, org_pk, key_pk, call in rows
                ],
                batch_size=2000,
            )

    def _copy(self, rows: list[tuple], recorded: datetime) -> None:
        """Two COPYs in PostgreSQL's text format (no value holds a tab, newline or
        backslash: ids, catalog names and numbers)."""
        stamp = _stamp(recorded.astimezone(UTC))
        claims = "".join(f"{r[0]}\t{stamp}\n" for r in rows)
        lines = []
        for rid, occurred, org_pk, key_pk, call in rows:
            values = "\t".join(map(str, call))
            lines.append(f"{rid}\t{_stamp(occurred)}\t{org_pk}\t{key_pk}\t{values}\t\t{stamp}\n")
        columns = (
            "request_id, occurred_at, organization_id, key_id, endpoint, model, provider, "
            "status_code, latency_ms, input_tokens, output_tokens, images, seconds, clips, "
            "requests, cost_microcredits, hold_public_id, recorded_at"
        )
        with connection.cursor() as cursor:
            raw = cursor.cursor
            with raw.copy(
                f"COPY {UsageRequest._meta.db_table} (request_id, accepted_at) FROM STDIN"
            ) as copy:
                copy.write(claims)
            with raw.copy(f"COPY {UsageEvent._meta.db_table} ({columns}) FROM STDIN") as copy:
                copy.write("".join(lines))
