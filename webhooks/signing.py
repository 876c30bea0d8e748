"""Standard Webhooks signing (https://www.standardwebhooks.com), with the
``standardwebhooks`` package.

A secret is ``whsec_`` + base64 of 24 random bytes. Each attempt is signed at the moment it
is sent: ``webhook-signature`` is ``v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">``,
and during a rotation's overlap one such signature per secret, separated by a space.
"""

import base64
import secrets
from datetime import UTC, datetime

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
SECRET_BYTES = 24


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def signed_headers(*, msg_id: str, body: str, secrets_: list[str], at: datetime) -> dict:
    """The three Standard Webhooks headers for ``body`` signed with each of ``secrets_``."""
    at = at.astimezone(UTC)
    signatures = [
        Webhook(secret).sign(msg_id=msg_id, timestamp=at, data=body) for secret in secrets_
    ]
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": " ".join(signatures),
    }
