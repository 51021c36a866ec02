"""The Redis cache shares one connection pool per process: Django builds a cache object per
thread and asynchronous context, which under ASGI means one per request."""

import threading
import uuid

import pytest
import redis
from django.core.cache.backends.redis import RedisCache

from telehealth.cache import SharedPoolRedisCache


def connections_named(url: str, name: str) -> int:
    """Connections open now under this client name (only this test's caches use it)."""
    return sum(1 for client in redis.Redis.from_url(url).client_list() if client["name"] == name)


def cache_objects_of_requests(backend: type[RedisCache], url: str, name: str, requests: int):
    """As Django does under ASGI: each request's thread builds its own cache object and reads,
    one request after another (each finds the connection the last one gave back). The objects
    are returned, so that none is collected with its connections while they are counted."""
    caches: list[RedisCache] = []
    errors: list[BaseException] = []

    def one_request() -> None:
        try:
            cache = backend(url, {"KEY_PREFIX": "cache-test", "OPTIONS": {"client_name": name}})
            caches.append(cache)
            for _ in range(5):
                cache.get("absent")
        except BaseException as error:  # noqa: BLE001  # reported below, in the test's thread
            errors.append(error)

    for _ in range(requests):
        worker = threading.Thread(target=one_request)
        worker.start()
        worker.join()
    assert errors == []
    return caches


def test_cache_objects_of_many_requests_share_one_connection(require_redis):
    name = f"shared-{uuid.uuid4().hex[:8]}"
    caches = cache_objects_of_requests(SharedPoolRedisCache, require_redis, name, 8)
    assert len({id(cache._cache) for cache in caches}) == 1
    assert connections_named(require_redis, name) == 1


def test_django_stock_backend_opens_a_connection_per_cache_object(require_redis):
    """What the shared pool is for (and proof that the count above can fail)."""
    name = f"stock-{uuid.uuid4().hex[:8]}"
    caches = cache_objects_of_requests(RedisCache, require_redis, name, 8)
    assert connections_named(require_redis, name) == 8
    del caches


def test_cache_settings_use_the_shared_pool_backend(settings):
    if settings.CACHES["default"]["BACKEND"].endswith("LocMemCache"):
        pytest.skip("no Redis configured: the local-memory cache has no connections")
    assert settings.CACHES["default"]["BACKEND"] == "telehealth.cache.SharedPoolRedisCache"
