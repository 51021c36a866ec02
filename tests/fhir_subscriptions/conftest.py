import http.server
import json
import threading
import time
from dataclasses import dataclass, field

import pytest

from telehealth.fhir_subscriptions import services
from telehealth.fhir_subscriptions.topics import APPOINTMENT_CHANGED


@dataclass
class Received:
    headers: dict
    body: bytes


@dataclass
class Receiver:
    """An integration's endpoint: a real HTTP server on a free local port. It answers with the
    queued status codes in turn (200 once they run out) and keeps every request."""

    url: str = ""
    answers: list[int] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)
    delay: float = 0.0  # seconds each answer takes
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def receiver():
    state = Receiver()

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

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/fhir-notifications"
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture
def local_endpoints(settings):
    """The test allowlist: http to this machine, which production refuses."""
    settings.FHIR_NOTIFY_ALLOWED_HOSTS = ["127.0.0.1"]
    return settings


def subscribe(world, url, *, topics=(APPOINTMENT_CHANGED,), practice=None, by=None, name="EHR"):
    return services.subscription_create(
        practice=practice or world.practice,
        by=by or world.admin,
        name=name,
        endpoint=url,
        topics=list(topics),
    )
