"""The session store with a shared cache (Redis): Django's cached_db, reading the session and
the signed-in user's snapshot tokens (user_cache) in one MGET, so a warm signed-in request
makes one round trip to Redis instead of two.

The tokens are keyed by user id, which is inside the session: the store remembers which user
each session key it has read belongs to (`_users`) and asks for that user's tokens with the
session. The guess only chooses which keys to read: the tokens are used only if the session read
with them names that same user (auth reads the user id from the session, then
user_cache.signed_in_user compares it), so a wrong or stale guess costs a second round trip and
never the wrong user's tokens. A process that has not read the session yet (its first request,
or one routed to another worker until now) reads the tokens separately, as before.

Redis away: the session is read from the database and, unlike Django's cached_db, writing it
back to the cache is skipped, not raised; the user is then read from the database too, without
asking Redis again (user_cache.CACHE_DOWN)."""

import logging

from django.conf import settings
from django.contrib.auth import SESSION_KEY, get_user_model
from django.contrib.sessions.backends.cached_db import SessionStore as CachedDBStore
from django.contrib.sessions.backends.db import SessionStore as DBStore
from django.core.cache import DEFAULT_CACHE_ALIAS
from django.core.exceptions import ValidationError

from telehealth.accounts import user_cache

logger = logging.getLogger(__name__)

# A bound on memory, not a tuning knob: past it the process starts over.
MAX_SESSIONS = 50_000
# session key -> the user id the session named when this process last read it.
_users: dict[str, int] = {}


def _session_user_id(data: dict) -> int | None:
    raw = data.get(SESSION_KEY)
    if raw is None:
        return None
    try:
        return get_user_model()._meta.pk.to_python(raw)  # as django.contrib.auth reads it
    except ValidationError:
        return None


class SessionStore(CachedDBStore):
    def __init__(self, session_key: str | None = None) -> None:
        super().__init__(session_key)
        # What the load read of the user's snapshot tokens, for user_cache.signed_in_user:
        # (user id, tokens), user_cache.CACHE_DOWN, or None (not read with the session).
        self.user_tokens: user_cache.ReadWithSession = None

    def load(self) -> dict:
        key = self.cache_key
        guess = _users.get(self._session_key or "")
        keys = [key]
        if guess is not None and settings.SESSION_CACHE_ALIAS == DEFAULT_CACHE_ALIAS:
            keys += user_cache.token_keys(guess)
        self.user_tokens = None
        try:
            found = self._cache.get_many(keys)  # type: ignore[attr-defined]  # cached_db's
        except Exception:
            logger.warning("session cache unreachable, reading the session from the database")
            self.user_tokens = user_cache.CACHE_DOWN
            found = {}
        data = found.get(key)
        if data is None:
            data = self._load_from_database(key)
        user_id = _session_user_id(data)
        if user_id is None or self._session_key is None:
            return data
        if len(_users) >= MAX_SESSIONS:
            _users.clear()
        _users[self._session_key] = user_id
        if user_id == guess and self.user_tokens is None:
            tokens = user_cache.tokens_from(guess, found)
            if tokens is not None:
                self.user_tokens = (user_id, tokens)
        return data

    def _load_from_database(self, key: str) -> dict:
        row = self._get_session_from_db()  # type: ignore[attr-defined]  # db's, unstubbed
        if not row:
            return {}
        data = self.decode(row.session_data)
        if self.user_tokens is not user_cache.CACHE_DOWN:
            age = self.get_expiry_age(expiry=row.expire_date)
            try:
                self._cache.set(key, data, age)  # type: ignore[attr-defined]  # cached_db's
            except Exception:
                logger.warning("could not write the session back to the cache", exc_info=True)
        return data

    def exists(self, session_key: str) -> bool:
        """Whether a new key is taken (asked when a session is created): the database is the
        record, the cache only a quicker first answer, so the check works while Redis is away."""
        try:
            if session_key and (self.cache_key_prefix + session_key) in self._cache:  # type: ignore[attr-defined]
                return True
        except Exception:
            logger.warning("session cache unreachable, checking the key in the database")
        return DBStore.exists(self, session_key)
