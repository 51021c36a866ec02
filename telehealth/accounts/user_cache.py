"""The signed-in user as every request reads them (user row, practice or patient record, confirmed
second-factor devices), kept in each process and checked against tokens held in the shared
cache, so a signed-in request costs no database query. The tokens are read in the same MGET as
the session itself when the process has read that session before (telehealth.accounts.sessions):
one round trip to Redis for a warm signed-in request.

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
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Final

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

# What the session store (telehealth.accounts.sessions) read of a user's tokens with the session
# itself: (user id, tokens); CACHE_DOWN when that read failed; None when it did not ask.
CACHE_DOWN: Final = "cache-down"
ReadWithSession = tuple[int, tuple[str, str]] | str | None
# The session of the request whose user is being read (AuthenticationMiddleware sets it around
# that read only, so it never outlives the request).
_session: ContextVar[Any] = ContextVar("session_user_session", default=None)


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


def token_keys(user_id: int) -> list[str]:
    """The cache keys of this user's tokens, for the session store to read with the session;
    none when the snapshots are off."""
    return [_key(user_id), ALL_PRACTICES] if settings.SESSION_USER_CACHE else []


def tokens_from(user_id: int, found: dict[str, Any]) -> tuple[str, str] | None:
    """This user's tokens among values read from the cache, if both were there."""
    mine, practices = found.get(_key(user_id)), found.get(ALL_PRACTICES)
    return None if mine is None or practices is None else (mine, practices)


@contextmanager
def session_being_read(session: object) -> Iterator[None]:
    """While the request's user is read: the tokens its session was read with apply."""
    reset = _session.set(session)
    try:
        yield
    finally:
        _session.reset(reset)


def _tokens_read_with_session(user_id: int) -> tuple[str, str] | None:
    """The tokens read with this request's session if they are this user's, else a read of them
    now; None if the cache cannot answer (that read or this one failed)."""
    read: ReadWithSession = getattr(_session.get(), "user_tokens", None)
    if read == CACHE_DOWN:
        return None  # do not wait on Redis twice in one request
    if isinstance(read, tuple) and read[0] == user_id:
        return read[1]
    return _tokens(user_id)


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
    tokens = _tokens_read_with_session(user_id)
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
