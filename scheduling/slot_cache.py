"""A short-lived cache of each provider's open slots, for the public booking page and the slots
API (read-mostly, hit by everyone). Only those reads use it: the booking checks read the
database, so a slot taken meanwhile still ends in "just taken".

Entries are keyed by a per-provider version token. Any write that changes a provider's slots
(an appointment booked, cancelled, moved or changed, an availability rule or time off edited,
the provider edited) replaces the token at once and again after commit: the first makes the
writer's own transaction read fresh slots, the second drops what a reader computed from the
database as it was before the commit. Entries also expire after TTL seconds.

Built on those entries, and keyed by the same tokens: what a page made of them (the booking
page's grid, the slots API's body), and the booking catalog (a practice, its bookable types
and their providers) under one token that any edit of those rows replaces: kept in each
process's memory, as it is read on every request and changes only by an admin's hand."""

import hashlib
import time
import uuid
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_init, post_save

TTL = 60


def _version_key(provider_id: int) -> str:
    return f"slots:version:{provider_id}"


def versions(provider_ids: Iterable[int]) -> dict[int, str]:
    """The current token of each provider, one cache round trip when all are known."""
    keys = {provider_id: _version_key(provider_id) for provider_id in provider_ids}
    found = cache.get_many(list(keys.values()))
    tokens = {}
    for provider_id, key in keys.items():
        if key not in found:
            cache.add(key, uuid.uuid4().hex, timeout=None)
            found[key] = cache.get(key) or uuid.uuid4().hex  # evicted at once: a miss
        tokens[provider_id] = found[key]
    return tokens


def _bump(provider_id: int) -> None:
    cache.set(_version_key(provider_id), uuid.uuid4().hex, timeout=None)


def invalidate(provider_id: int) -> None:
    """Drop the provider's cached slots now and once the current transaction commits."""
    _bump(provider_id)
    transaction.on_commit(lambda: _bump(provider_id))


def get_many(keys: dict[Any, str], compute: Callable[[Any], Any]) -> dict[Any, Any]:
    """`keys` maps an item to its cache key; items missing from the cache are computed and
    stored. One round trip to read, one to write the misses."""
    found = cache.get_many(list(keys.values()))
    values = {}
    missing = {}
    for item, key in keys.items():
        if key in found:
            values[item] = found[key]
        else:
            values[item] = missing[key] = compute(item)
    if missing:
        cache.set_many(missing, timeout=TTL)
    return values


T = TypeVar("T")


def remember(*, provider_ids: Iterable[int], parts: tuple, compute: Callable[[], T]) -> T:
    """A value made from these providers' slots, cached with their tokens as they were before
    it was computed, under `parts` (everything else it depends on, the minute included when
    the clock matters). A hit is one round trip: the tokens and the entry together."""
    ids = sorted(set(provider_ids))
    digest = hashlib.blake2b(repr((ids, parts)).encode(), digest_size=16).hexdigest()
    key = f"slots:view:{digest}"
    version_keys = [_version_key(provider_id) for provider_id in ids]
    found = cache.get_many([*version_keys, key])
    entry = found.get(key)
    if entry is not None and entry[0] == [found.get(k) for k in version_keys]:
        return entry[1]
    tokens = versions(ids)
    value = compute()
    cache.set(key, ([tokens[provider_id] for provider_id in ids], value), timeout=TTL)
    return value


CATALOG_VERSION_KEY = "booking:catalog:version"
# slug -> (token, catalog, when read): each process keeps the catalogs it served, and uses one
# only while the shared token is unchanged, and for TTL seconds at most.
_catalogs: dict[str, tuple[str, Any, float]] = {}
MAX_CATALOGS = 1000


def catalog(slug: str, compute: Callable[[str], T | None]) -> T | None:
    """The booking catalog of practice `slug`: compute(token) on a miss; None (an unknown
    practice) is not kept. One round trip, for the token."""
    token = cache.get(CATALOG_VERSION_KEY)
    if token is None:
        cache.add(CATALOG_VERSION_KEY, uuid.uuid4().hex, timeout=None)
        token = cache.get(CATALOG_VERSION_KEY) or uuid.uuid4().hex
    now = time.monotonic()
    kept = _catalogs.get(slug)
    if kept is not None and kept[0] == token and now - kept[2] < TTL:
        return kept[1]
    value = compute(token)
    if value is not None:
        if len(_catalogs) >= MAX_CATALOGS:
            _catalogs.clear()
        _catalogs[slug] = (token, value, now)
    return value


def _bump_catalog() -> None:
    cache.set(CATALOG_VERSION_KEY, uuid.uuid4().hex, timeout=None)


def _catalog_changed(sender, **kwargs) -> None:
    # Practices, types and providers are edited by admins, rarely: one token for them all.
    _bump_catalog()
    transaction.on_commit(_bump_catalog)


def _provider_changed(sender, instance, **kwargs) -> None:
    invalidate(instance.pk)
    _catalog_changed(sender)


def _remember_provider(sender, instance, **kwargs) -> None:
    # The provider a row was loaded with: a row moved to another provider frees the old
    # provider's time too. (Deferred: None, and only the new provider is known.)
    instance._slot_cache_provider_id = instance.__dict__.get("provider_id")


def _schedule_changed(sender, instance, **kwargs) -> None:
    before = getattr(instance, "_slot_cache_provider_id", None)
    for provider_id in {before, instance.provider_id} - {None}:
        invalidate(provider_id)
    instance._slot_cache_provider_id = instance.provider_id


def connect() -> None:
    from scheduling.models import (
        Appointment,
        AppointmentType,
        AvailabilityException,
        AvailabilityRule,
    )
    from telehealth.accounts.models import Practice, Provider

    handlers: list[tuple[Any, Callable[..., None]]] = [
        (Provider, _provider_changed),
        (Practice, _catalog_changed),
        (AppointmentType, _catalog_changed),
    ]
    for model in (Appointment, AvailabilityRule, AvailabilityException):
        handlers.append((model, _schedule_changed))
        post_init.connect(
            _remember_provider, sender=model, dispatch_uid=f"slot-cache-init-{model.__name__}"
        )
    for model, handler in handlers:
        for signal in (post_save, post_delete):
            signal.connect(handler, sender=model, dispatch_uid=f"slot-cache-{model.__name__}")
    m2m_changed.connect(
        _catalog_changed,
        sender=AppointmentType.providers.through,
        dispatch_uid="slot-cache-type-providers",
    )
