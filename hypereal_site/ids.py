"""Opaque public identifiers (docs/architecture.md: never expose sequential primary keys)."""

import secrets
import string

BASE62 = string.digits + string.ascii_uppercase + string.ascii_lowercase


def base62(length: int) -> str:
    return "".join(secrets.choice(BASE62) for _ in range(length))


def new_public_id() -> str:
    """12 base62 characters (~71 bits), the shape of the seed's job ids (``K3uA7Pq9xLm4``)."""
    return base62(12)
