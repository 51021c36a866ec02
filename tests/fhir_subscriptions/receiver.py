"""An integration's endpoint for tests: a real HTTP server on a free local port."""

import http.server
import json
import threading
import time
from dataclasses import dataclass, field

from tests.threaded_server import serve_in_thread


@dataclass
class Received:
    headers: dict
    body: bytes


@dataclass
class Receiver:
    """Answers with the queued status codes in turn (200 once they run out) and keeps every
    request. Use as a context manager: it serves from a thread until the block ends."""

    url: str = ""
    answers: list[int] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    delay: float = 0.0  # seconds each answer takes
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: http.server.ThreadingHTTPServer | None = None

    def __enter__(self) -> "Receiver":
        state = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                time.sleep(state.delay)
                with state.lock:
                    state.requests.append(Received(dict(self.headers.items()), body))
                    code = state.answers.pop(0) if state.answers else 200
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps({"ok": code < 300}).encode())

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        serve_in_thread(self.server)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/fhir-notifications"
        return self

    def __exit__(self, *exc) -> None:
        assert self.server is not None
        self.server.shutdown()
        self.server.server_close()
