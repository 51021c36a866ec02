"""A real coturn (Debian's `turnserver`) for the tests that prove the TURN relay: started once
per test session on free ports with a fresh REST-API shared secret, relaying on the machine's
own address (Chromium does not gather on loopback), and stopped at the end. Tests point the
app's TURN settings at it with `turn_settings`, so the credentials they use are the ones
visits/ice.py mints for browsers."""

import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import missing_service

REALM = "telehealth.test"


@dataclass(frozen=True)
class Coturn:
    host: str
    port: int
    secret: str
    relay_ip: str
    log: Path

    @property
    def url(self) -> str:
        return f"turn:{self.host}:{self.port}?transport=udp"

    def log_text(self) -> str:
        if not self.log.exists():
            return ""
        return self.log.read_bytes().replace(b"\0", b"").decode(errors="replace")


def free_udp_port() -> int:
    """A port free now for both UDP and TCP: coturn listens on both at its listening port (a
    port free for UDP alone was once taken for TCP, and coturn failed to start)."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
            tcp.bind(("127.0.0.1", 0))
            port = tcp.getsockname()[1]
            try:
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
                    udp.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no port free for both UDP and TCP")


def free_port_range(size: int) -> int:
    """The first of `size` consecutive UDP ports that are free now, for coturn's relays."""
    for _ in range(50):
        first = 40000 + secrets.randbelow(20000)
        try:
            for port in range(first, first + size):
                with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                    s.bind(("0.0.0.0", port))
            return first
        except OSError:
            continue
    raise RuntimeError("no free UDP port range for coturn relays")


def own_address() -> str:
    """The machine's address that a UDP socket would leave from (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: only picks the route
            address = s.getsockname()[0]
        except OSError:
            address = "127.0.0.1"
    return address


def answers_stun(host: str, port: int) -> bool:
    """Whether a STUN Binding request to host:port gets a Binding success response."""
    transaction = secrets.token_bytes(12)
    request = b"\x00\x01\x00\x00\x21\x12\xa4\x42" + transaction
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.1)
        try:
            s.sendto(request, (host, port))
            response = s.recv(2048)
        except OSError:  # nothing listening yet (refused) or no answer in time
            return False
    return response[:2] == b"\x01\x01" and response[8:20] == transaction


@pytest.fixture(scope="session")
def coturn(tmp_path_factory):
    binary = shutil.which("turnserver") or ""
    if not binary:
        missing_service("coturn's turnserver is not installed (apt-get install coturn)")
    workdir = tmp_path_factory.mktemp("coturn")
    port = free_udp_port()
    min_port = free_port_range(100)
    relay_ip = own_address()
    server = Coturn(
        host="127.0.0.1",
        port=port,
        secret=secrets.token_urlsafe(24),
        relay_ip=relay_ip,
        log=workdir / "turnserver.log",
    )
    process = subprocess.Popen(
        [
            binary,
            "-n",  # no configuration file: every option is here
            "--listening-ip=127.0.0.1",
            f"--listening-port={port}",
            f"--relay-ip={relay_ip}",
            f"--min-port={min_port}",
            f"--max-port={min_port + 99}",
            "--use-auth-secret",
            f"--static-auth-secret={server.secret}",
            f"--realm={REALM}",
            "--fingerprint",
            "--no-cli",
            "--no-tls",
            "--no-dtls",
            # Both browsers are on this machine; production must not allow loopback peers.
            "--allow-loopback-peers",
            "--no-multicast-peers",
            f"--log-file={server.log}",  # coturn flushes its file, not a piped stdout
            "--simple-log",
            "--verbose",  # logs each allocation with its user
            f"--pidfile={workdir / 'turnserver.pid'}",
            f"--userdb={workdir / 'turndb'}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30  # a loaded machine starts it slowly
        while not answers_stun(server.host, port):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"turnserver did not start:\n{server.log_text()[-2000:]}")
            time.sleep(0.05)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def turn_settings(coturn, settings):
    """The app's TURN settings, pointed at the test coturn."""
    settings.TURN_URLS = [coturn.url]
    settings.TURN_SECRET = coturn.secret
    settings.STUN_URLS = []
    return coturn
