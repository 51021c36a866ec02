"""The Redis cache shares one connection pool per process: Django builds a cache object per
thread and asynchronous context, which under ASGI means one per request."""

import threading

import pytest
import redis
from django.core.cache.backends.redis import RedisCache

from telehealth.cache import SharedPoolRedisCache


def connections_received(url: str) -> int:
    return int(redis.Redis.from_url(url).info("stats")["total_connections_received"])


def read_from_fresh_cache_objects(backend: type[RedisCache], url: str, threads: int) -> None:
    """As Django does under ASGI: each request thread builds its own cache object and reads."""
    errors: list[BaseException] = []

    def one_request() -> None:
        try:
            cache = backend(url, {"KEY_PREFIX": "cache-test"})
            for _ in range(5):
                cache.get("absent")
        except BaseException as error:  # noqa: BLE001  # reported below, in the test's thread
            errors.append(error)

    workers = [threading.Thread(target=one_request) for _ in range(threads)]
    for worker in workers:
        worker.start()
        worker.join()  # one after another: each finds the connection the last one gave back
    assert errors == []


def test_cache_objects_of_many_requests_share_one_connection(require_redis):
    read_from_fresh_cache_objects(SharedPoolRedisCache, require_redis, 1)  # the pool exists
    before = connections_received(require_redis)
    read_from_fresh_cache_objects(SharedPoolRedisCache, require_redis, 8)
    # The one connection this function opens to read the count is the only new one.
    assert connections_received(require_redis) - before == 1


def test_django_stock_backend_opens_a_connection_per_cache_object(require_redis):
    """What the shared pool is for (and proof that the count above can fail)."""
    before = connections_received(require_redis)
    read_from_fresh_cache_objects(RedisCache, require_redis, 8)
    assert connections_received(require_redis) - before >= 8


def test_cache_settings_use_the_shared_pool_backend(settings):
    if settings.CACHES["default"]["BACKEND"].endswith("LocMemCache"):
        pytest.skip("no Redis configured: the local-memory cache has no connections")
    assert settings.CACHES["default"]["BACKEND"] == "telehealth.cache.SharedPoolRedisCache"
