"""The signed-in user as every request reads them (user row, practice or patient record, confirmed
second-factor devices), kept in each process and checked against tokens held in the shared
cache, so a signed-in request costs one cache read (MGET) here instead of database queries.

The snapshot stays in the process: it holds the decrypted email, a patient's name and the TOTP
secrets, none of which belong in Redis. What the shared cache holds is a random token per user
(and one for all practices); a change that can end a session or alter what it may reach replaces
the token, and every process reloads that user on their next request. The token is replaced at
once and again after commit: a request between the two may cache the row as it was before the
commit, tagged with the first token, and the second replacement discards it.

Only with a cache every process shares (Redis). With the per-process local-memory cache one
process could not tell another about a change, so each request reads the database
(settings.SESSION_USER_CACHE is off)."""

import logging
import pickle
import secrets
import time

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django_otp import devices_for_user

from telehealth.accounts.models import User
from telehealth.accounts.policy import CONFIRMED_DEVICES_ATTR
from telehealth.accounts.selectors import session_user

# Long enough to outlive any session; a token evicted earlier is replaced by a new one on the
# next read, which only costs a reload.
TOKEN_SECONDS = 2 * 24 * 60 * 60
ALL_PRACTICES = "session-user:practices"
# A bound on memory, not a tuning knob: past it the process starts over.
MAX_SNAPSHOTS = 20_000
# A bound on a missed replacement (Redis unreachable while a change was saved): a snapshot is
# read again from the database after this long whatever the tokens say.
SNAPSHOT_SECONDS = 60

logger = logging.getLogger(__name__)

# user id -> (user token, practices token, loaded at (monotonic), pickled user). Pickled, so
# every request gets its own objects: a view that changes request.user (or its practice)
# without saving, or a concurrent request's OTP state, cannot leak into the next request.
_snapshots: dict[int, tuple[str, str, float, bytes]] = {}


def _key(user_id: int) -> str:
    return f"session-user:{user_id}"


def _replace_tokens(keys: list[str]) -> None:
    try:
        cache.set_many({key: secrets.token_hex(8) for key in keys}, TOKEN_SECONDS)
    except Exception:
        # The change itself must not fail because Redis is away (an admin deactivating an
        # account, a sign-in). Other processes reread it within SNAPSHOT_SECONDS; this one now.
        logger.exception("could not replace session-user tokens %s", keys)
        _snapshots.clear()


def _forget(keys: list[str]) -> None:
    if not settings.SESSION_USER_CACHE:
        return
    _replace_tokens(keys)
    transaction.on_commit(lambda: _replace_tokens(keys))


def forget_user(user_id: int | None) -> None:
    """Every process reads this user afresh on their next request."""
    if user_id is not None:
        _forget([_key(user_id)])


def forget_all_practices() -> None:
    """A practice changed (its time zone, its name): every signed-in user is read afresh."""
    _forget([ALL_PRACTICES])


def _tokens(user_id: int) -> tuple[str, str] | None:
    """This user's token and the practices' one, created if missing (first use, eviction);
    None if the cache cannot answer."""
    keys = [_key(user_id), ALL_PRACTICES]
    try:
        tokens = cache.get_many(keys)
        if len(tokens) < len(keys):
            for key in keys:
                if key not in tokens:
                    cache.add(key, secrets.token_hex(8), TOKEN_SECONDS)
            tokens = cache.get_many(keys)  # another process may have added first
    except Exception:  # Redis down: the database still answers, as before this cache
        return None
    if len(tokens) < len(keys):
        return None
    return tokens[keys[0]], tokens[keys[1]]


def _load(user_id: int) -> User | None:
    user = session_user(user_id=user_id)
    if user is not None:
        devices = {device.persistent_id: device for device in devices_for_user(user)}
        setattr(user, CONFIRMED_DEVICES_ATTR, devices)
    return user


def signed_in_user(user_id: int) -> User | None:
    """The user a session names, from this process's snapshot while their token is unchanged."""
    if not settings.SESSION_USER_CACHE:
        return session_user(user_id=user_id)
    tokens = _tokens(user_id)
    if tokens is None:
        return session_user(user_id=user_id)
    held = _snapshots.get(user_id)
    if held is not None and held[:2] == tokens and time.monotonic() - held[2] < SNAPSHOT_SECONDS:
        return pickle.loads(held[3])  # noqa: S301 (bytes this process pickled)
    user = _load(user_id)
    if user is None:
        _snapshots.pop(user_id, None)
        return None
    if len(_snapshots) >= MAX_SNAPSHOTS:
        _snapshots.clear()
    _snapshots[user_id] = (*tokens, time.monotonic(), pickle.dumps(user))
    return user
