"""Helpers for the usage analytics tests: events written as ingestion stores them."""

import itertools
from datetime import UTC, datetime

from usage.models import UsageEvent

_seq = itertools.count(1)


def ev(key, *, cost: int = 1_000, at: datetime | None = None, **fields) -> UsageEvent:
    values = {
        "endpoint": "chat.completions",
        "model": "gpt-5.5",
        "provider": "openai",
        "status_code": 200,
        "latency_ms": 300,
        "input_tokens": 100,
        "output_tokens": 50,
        "requests": 1,
    }
    values.update(fields)
    return UsageEvent.objects.create(
        request_id=values.pop("request_id", f"req-{key.public_id}-{next(_seq)}"),
        occurred_at=at or datetime.now(UTC),
        organization=key.organization,
        key=key,
        cost_microcredits=cost,
        **values,
    )
