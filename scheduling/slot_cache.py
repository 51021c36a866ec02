"""A short-lived cache of each provider's open slots, for the public booking page and the slots
API (read-mostly, hit by everyone). Only those reads use it: the booking checks read the
database, so a slot taken meanwhile still ends in "just taken".

Entries are keyed by a per-provider version token. Any write that changes a provider's slots
(an appointment booked, cancelled, moved or changed, an availability rule or time off edited,
the provider edited) replaces the token at once and again after commit: the first makes the
writer's own transaction read fresh slots, the second drops what a reader computed from the
database as it was before the commit. Entries also expire after TTL seconds."""

import uuid
from collections.abc import Callable, Iterable
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save

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


def _provider_changed(sender, instance, **kwargs) -> None:
    invalidate(instance.pk)


def _schedule_changed(sender, instance, **kwargs) -> None:
    if instance.provider_id is not None:
        invalidate(instance.provider_id)


def connect() -> None:
    from scheduling.models import Appointment, AvailabilityException, AvailabilityRule
    from telehealth.accounts.models import Provider

    handlers = [(Provider, _provider_changed)] + [
        (model, _schedule_changed)
        for model in (Appointment, AvailabilityRule, AvailabilityException)
    ]
    for model, handler in handlers:
        for signal in (post_save, post_delete):
            signal.connect(handler, sender=model, dispatch_uid=f"slot-cache-{model.__name__}")
