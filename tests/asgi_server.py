"""The real ASGI app (HTTP and WebSocket) served by uvicorn in a thread of the test process,
against the test database. Django's live_server speaks WSGI only."""

import socket
import threading
import time

import uvicorn


class AsgiServer:
    def __init__(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        from telehealth.asgi import application

        config = uvicorn.Config(
            application,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
            ws="auto",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://localhost:{self.port}"

    def __enter__(self) -> "AsgiServer":
        _fresh_channel_layer()
        self.thread.start()
        deadline = time.monotonic() + 10
        while not self.server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        _fresh_channel_layer()
        _renew_connection_pool()


def _fresh_channel_layer() -> None:
    """Each server gets the channel layer a new process would have, and leaves none behind.
    The Redis layer counts the receives in flight on one event loop; a server stopped with
    sockets open leaves that count on its dead loop, and every consumer of a later test would
    then fail with "Two event loops are trying to receive() on one channel layer at once!"."""
    from channels.layers import channel_layers

    channel_layers.backends.clear()


def _renew_connection_pool() -> None:
    """Start the next server on a fresh PostgreSQL pool. A request the browser abandons when
    its page closes (a poll, a live refresh) can end without Django's request_finished, and
    its worker thread then keeps a pooled connection checked out; a few such servers in one
    run would starve the pool. The old pool closes its idle connections now and each stray
    one when it comes back (the test's own included, which reconnects on its next query)."""
    from django.db import connections

    for connection in connections.all(initialized_only=True):
        close_pool = getattr(connection, "close_pool", None)  # PostgreSQL's wrapper only
        if close_pool is not None and getattr(connection, "pool", None) is not None:
            close_pool()
