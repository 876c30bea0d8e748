"""Secrets encrypted at rest (an SSO connection's OIDC client secret, later webhook secrets).

A small helper on ``cryptography``'s MultiFernet, keyed by ``settings.FIELD_ENCRYPTION_KEYS``
(the ``FIELD_ENCRYPTION_KEYS`` environment list): the first key encrypts, every key decrypts,
so a new key is put first and the old one kept until ``manage.py rotate_field_keys`` has
re-encrypted every value with it.

Encryption happens at the service boundary, explicitly: a model declares the column as an
``EncryptedTextField`` (a plain text column that only ever holds a Fernet token, which the
rotation command finds by its type), the service stores ``encrypt(secret)`` and the one code
path that needs the secret calls ``decrypt``. Nothing else decrypts, so the secret never
reaches a serializer, a log line, the admin or ``dumpdata``.

``decrypt`` with none of the configured keys raises ``DecryptionError``: it never returns the
stored text as if it were the value.
"""

from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import models


class DecryptionError(Exception):
    """The value was not encrypted by any key in FIELD_ENCRYPTION_KEYS (or was altered)."""


def parse_keys(keys) -> list[Fernet]:
    """The configured keys as Fernets, first one first; refuses an empty or malformed list."""
    if isinstance(keys, str):
        keys = [keys]
    keys = [k.strip() for k in keys or [] if k and k.strip()]
    if not keys:
        raise ImproperlyConfigured("FIELD_ENCRYPTION_KEYS holds no key.")
    fernets = []
    for position, key in enumerate(keys, start=1):
        try:
            fernets.append(Fernet(key.encode()))
        except (ValueError, TypeError):
            raise ImproperlyConfigured(
                f"FIELD_ENCRYPTION_KEYS key #{position} is not a Fernet key "
                "(32 url-safe base64-encoded bytes; make one with "
                "`python -c 'from cryptography.fernet import Fernet; "
                "print(Fernet.generate_key().decode())'`)."
            ) from None
    return fernets


@lru_cache(maxsize=4)
def _fernets_for(keys: tuple[str, ...]) -> tuple[MultiFernet, Fernet]:
    fernets = parse_keys(list(keys))
    return MultiFernet(fernets), fernets[0]


def _fernets() -> tuple[MultiFernet, Fernet]:
    """(all keys, the first key), rebuilt when the setting changes (tests override it)."""
    keys = settings.FIELD_ENCRYPTION_KEYS
    return _fernets_for(tuple([keys] if isinstance(keys, str) else keys))


def _fernet() -> MultiFernet:
    return _fernets()[0]


def encrypt(plaintext: str) -> str:
    """A Fernet token (ASCII text) of ``plaintext`` under the first key."""
    return _fernet().encrypt(plaintext.encode()).decode("ascii")


def decrypt(token: str) -> str:
    try:
        return _fernet().decrypt(token.encode("ascii")).decode()
    except (InvalidToken, UnicodeError, ValueError, TypeError):
        raise DecryptionError(
            "The stored secret cannot be decrypted with FIELD_ENCRYPTION_KEYS."
        ) from None


def rotate(token: str) -> str:
    """The same value encrypted under the first key (raises DecryptionError if no key fits)."""
    try:
        return _fernet().rotate(token.encode("ascii")).decode("ascii")
    except (InvalidToken, UnicodeError, ValueError, TypeError):
        raise DecryptionError(
            "The stored secret cannot be decrypted with FIELD_ENCRYPTION_KEYS."
        ) from None


def is_current(token: str) -> bool:
    """Whether ``token`` is already encrypted under the first key."""
    try:
        _fernets()[1].decrypt(token.encode("ascii"))
    except (InvalidToken, UnicodeError, ValueError, TypeError):
        return False
    return True


class EncryptedTextField(models.TextField):
    """A text column that holds a Fernet token from ``encrypt`` ("" when no secret is set).

    It converts nothing itself (the service encrypts, the one consumer decrypts); it exists so
    that ``rotate_field_keys`` finds every encrypted column by its type.
    """

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        kwargs.setdefault("editable", False)
        super().__init__(*args, **kwargs)
