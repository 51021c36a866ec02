"""The Redis channel layer, with a connection pool that waits for a free connection, and a
receive that ends when it is cancelled.

channels-redis builds redis-py's plain asyncio pool, which raises "Too many connections" the
moment its limit is reached, and grows to the limit in any burst. Thousands of sockets joining
or leaving groups at once (a deploy, a network blip, a busy clinic morning) then fail. A
blocking pool queues those operations for a moment instead.

When a socket closes, channels cancels its consumer's pending `receive`. redis-py sends each
command under `asyncio.wait_for` (when `socket_timeout` is set, as our settings do), and on
Python 3.11 `wait_for` returns the inner result and drops a cancellation that lands as the
inner task completes. The receive then went on blocking in BZPOPMIN, and looped into the next
one, until a message reached its channel: the closed socket's consumer lived on. Here the
cancellation is raised once the pop it landed in returns, at most `BLOCK_SECONDS` later. Not
sooner: the pop's reply may carry a message for another socket of the process, which is safe
only once channels-redis has put it in the channel's backup queue (the next receive puts it
back in front of the channel)."""

import asyncio

from channels_redis.core import RedisChannelLayer
from redis import asyncio as aioredis

# How long a receive blocks in Redis per pop; channels-redis's default is 5. The process's
# sockets share one receive loop, so an idle process makes two commands per BLOCK_SECONDS.
BLOCK_SECONDS = 1


class RedisLayer(RedisChannelLayer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.brpop_timeout = BLOCK_SECONDS

    def create_pool(self, index):
        host = dict(self.hosts[index])
        address = host.pop("address")
        return aioredis.BlockingConnectionPool.from_url(address, **host)

    async def _brpop_with_clean(self, index, channel, timeout):
        task = asyncio.current_task()
        requested = task.cancelling() if task else 0
        member = await super()._brpop_with_clean(index, channel, timeout)
        if task and task.cancelling() > requested:  # a cancellation the send dropped
            raise asyncio.CancelledError
        return member
