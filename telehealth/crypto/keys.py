"""Keys for PHI at rest: MultiFernet over FIELD_ENCRYPTION_KEYS and the blind-index HMAC."""

import hashlib
import hmac
from functools import lru_cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


@lru_cache(maxsize=8)
def _fernet_for(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise ValueError("FIELD_ENCRYPTION_KEYS is empty")
    return MultiFernet([Fernet(k.encode()) for k in keys])


def fernet() -> MultiFernet:
    """Encrypts with the first key and decrypts with any (read on each call: keys may rotate)."""
    return _fernet_for(tuple(settings.FIELD_ENCRYPTION_KEYS))


def primary_fernet() -> Fernet:
    return Fernet(settings.FIELD_ENCRYPTION_KEYS[0].encode())


def encrypt_bytes(data: bytes) -> bytes:
    return fernet().encrypt(data)


def decrypt_bytes(token: bytes) -> bytes:
    return fernet().decrypt(token)


def is_under_primary_key(token: bytes) -> bool:
    try:
        primary_fernet().decrypt(token)
    except InvalidToken:
        return False
    return True


def blind_index(value: str) -> str:
    """A keyed HMAC for exact-match lookups of an encrypted value. Normalise before calling."""
    key = settings.BLIND_INDEX_KEY.encode()
    return hmac.new(key, value.encode(), hashlib.sha256).hexdigest()
