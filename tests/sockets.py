"""The WebSocket test client every socket test uses.

channels' WebsocketCommunicator waits one second for a connection, a frame or a close. On CI's
two cores, with PostgreSQL and the Redis channel layer behind each consumer, a frame now and then
takes longer, and correct tests failed with TimeoutError. This one waits up to ten seconds for
what must arrive (a broken consumer still fails, only later); `receive_nothing`, which asserts an
absence, keeps its short wait."""

from channels.testing import WebsocketCommunicator

WAIT = 10  # seconds


class Communicator(WebsocketCommunicator):
    async def connect(self, timeout: float = WAIT):
        return await super().connect(timeout)

    async def receive_from(self, timeout: float = WAIT):
        return await super().receive_from(timeout)

    async def receive_json_from(self, timeout: float = WAIT):
        return await super().receive_json_from(timeout)

    async def disconnect(self, code: int = 1000, timeout: float = WAIT):
        return await super().disconnect(code, timeout)
