"""The Redis channel layer, with a connection pool that waits for a free connection.

channels-redis builds redis-py's plain asyncio pool, which raises "Too many connections" the
moment its limit is reached, and grows to the limit in any burst. Thousands of sockets joining
or leaving groups at once (a deploy, a network blip, a busy clinic morning) then fail. A
blocking pool queues those operations for a moment instead."""

from channels_redis.core import RedisChannelLayer
from redis import asyncio as aioredis


class RedisLayer(RedisChannelLayer):
    def create_pool(self, index):
        host = dict(self.hosts[index])
        address = host.pop("address")
        return aioredis.BlockingConnectionPool.from_url(address, **host)
