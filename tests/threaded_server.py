"""A test's stand-in HTTP server (an EHR, a subscriber's endpoint, a media host) served from a
thread of the test process."""

import threading
from socketserver import BaseServer

# serve_forever looks for a shutdown request this often. At its default, half a second, each
# stand-in's shutdown waited about 0.4 s, 15 s over the SMS media tests alone.
SHUTDOWN_POLL_SECONDS = 0.01


def serve_in_thread(server: BaseServer) -> threading.Thread:
    """Serve `server` from a daemon thread until `server.shutdown()`."""
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": SHUTDOWN_POLL_SECONDS}, daemon=True
    )
    thread.start()
    return thread
