"""The ``ck_`` key and ``svc_`` token formats.

A customer key is ``ck_`` + 32 random base62 characters + a 6-character base62 checksum
(CRC32 of the random part). A mistyped or truncated key fails the checksum and is refused
without touching the database. Only the SHA-256 of the whole key is stored.
"""

import hashlib
import re
import zlib

from hypereal_site.ids import BASE62, base62

KEY_PREFIX = "ck_"
RANDOM_LENGTH = 32
CHECKSUM_LENGTH = 6
KEY_LENGTH = len(KEY_PREFIX) + RANDOM_LENGTH + CHECKSUM_LENGTH
_KEY_RE = re.compile(rf"^ck_[0-9A-Za-z]{{{RANDOM_LENGTH + CHECKSUM_LENGTH}}}$")

SERVICE_TOKEN_PREFIX = "svc_"  # noqa: S105 - a prefix, not a secret
_SERVICE_RE = re.compile(r"^svc_[0-9A-Za-z]{40}$")


def _base62_fixed(value: int, width: int) -> str:
    digits = []
    for _ in range(width):
        value, remainder = divmod(value, 62)
        digits.append(BASE62[remainder])
    return "".join(reversed(digits))


def checksum(random_part: str) -> str:
    # CRC32 fits in 6 base62 digits (62**6 > 2**32).
    return _base62_fixed(zlib.crc32(random_part.encode("ascii")), CHECKSUM_LENGTH)


def generate_key() -> str:
    random_part = base62(RANDOM_LENGTH)
    return f"{KEY_PREFIX}{random_part}{checksum(random_part)}"


def is_well_formed(key: str) -> bool:
    if not isinstance(key, str) or len(key) != KEY_LENGTH or not _KEY_RE.match(key):
        return False
    random_part = key[len(KEY_PREFIX) : len(KEY_PREFIX) + RANDOM_LENGTH]
    return checksum(random_part) == key[-CHECKSUM_LENGTH:]


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def masked(key: str) -> str:
    """``ck_`` + the first 4 + "…" + the last 4, the only form the console ever shows again."""
    return f"{KEY_PREFIX}{key[3:7]}…{key[-4:]}"


def generate_service_token() -> str:
    return f"{SERVICE_TOKEN_PREFIX}{base62(40)}"


def is_service_token(token: str) -> bool:
    return isinstance(token, str) and bool(_SERVICE_RE.match(token))
