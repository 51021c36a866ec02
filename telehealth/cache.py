"""Django's Redis cache with one client, so one connection pool, per process and server list.

Django keeps a cache object per thread and per asynchronous context, and under ASGI every
request runs in a context of its own: the stock backend then built a client, a connection pool
and a new TCP connection to Redis for each request (bench_http counted one connection
received by Redis per signed-in request), paying the connect and the handshake every time and
leaving the socket for the garbage collector. Pools are thread-safe and reset themselves in a
forked child, so every cache object of the process can share one."""

import threading
from typing import Any

from django.core.cache.backends.redis import RedisCache, RedisCacheClient
from django.utils.functional import cached_property

_clients: dict[tuple, RedisCacheClient] = {}
_clients_lock = threading.Lock()


class SharedPoolRedisCache(RedisCache):
    # Set by Django's __init__ (not in its type stubs).
    _servers: list[str]
    _options: dict[str, Any]
    _class: type[RedisCacheClient]

    @cached_property
    def _cache(self) -> RedisCacheClient:
        key = (self._class, tuple(self._servers), repr(sorted(self._options.items())))
        with _clients_lock:
            client = _clients.get(key)
            if client is None:
                client = _clients[key] = self._class(self._servers, **self._options)
        return client
