"""The Redis channel layer, with a connection pool that waits for a free connection, over
connections that do not lose a cancellation.

channels-redis builds redis-py's plain asyncio pool, which raises "Too many connections" the
moment its limit is reached, and grows to the limit in any burst. Thousands of sockets joining
or leaving groups at once (a deploy, a network blip, a busy clinic morning) then fail. A
blocking pool queues those operations for a moment instead.

When a socket closes, channels cancels its consumer's pending `receive`. redis-py sends each
command under `asyncio.wait_for`, and on Python 3.11 `wait_for` returns the inner result and
drops a cancellation that lands as the inner task completes. The receive then went on blocking
in BZPOPMIN, and looped into the next one, for good: the closed socket's consumer never ended
and kept a pooled connection. `CancelSafeSend` raises the dropped cancellation after the send.
"""

import asyncio

from channels_redis.core import RedisChannelLayer
from redis import asyncio as aioredis


class CancelSafeSend:
    async def send_packed_command(self, command, check_health=True):
        task = asyncio.current_task()
        requested = task.cancelling() if task else 0
        await super().send_packed_command(command, check_health)  # type: ignore[misc]
        if task and task.cancelling() > requested:
            # The command went out and its reply will never be read: the connection must
            # not go back to the pool carrying it.
            await self.disconnect(nowait=True)  # type: ignore[attr-defined]
            raise asyncio.CancelledError


_cancel_safe: dict[type, type] = {}


def cancel_safe(connection_class: type) -> type:
    """The pool's connection class (plain, TLS or Unix socket, as the URL says), cancel-safe."""
    if connection_class not in _cancel_safe:
        name = f"CancelSafe{connection_class.__name__}"
        _cancel_safe[connection_class] = type(name, (CancelSafeSend, connection_class), {})
    return _cancel_safe[connection_class]


class RedisLayer(RedisChannelLayer):
    def create_pool(self, index):
        host = dict(self.hosts[index])
        address = host.pop("address")
        pool = aioredis.BlockingConnectionPool.from_url(address, **host)
        pool.connection_class = cancel_safe(pool.connection_class)
        return pool
