"""A real Janus for tests: started by bin/janus-run (the script `make run` and operators use)
on free ports with fresh secrets, stopped after. Nothing here is a stand-in for Janus."""

import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class JanusServer:
    name: str
    process: subprocess.Popen
    directory: Path
    entry: dict  # one settings.JANUS_INSTANCES entry

    @property
    def log(self) -> str:
        path = self.directory / "janus.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def janus_installed() -> bool:
    return shutil.which("janus") is not None


def start_janus(name: str) -> JanusServer:
    http, admin, ws = free_port(), free_port(), free_port()
    rtp = 20000 + secrets.randbelow(200) * 200  # a range of its own, most likely
    directory = Path(tempfile.mkdtemp(prefix=f"janus-{name}-"))
    entry = {
        "name": name,
        "url": f"http://127.0.0.1:{http}/janus",
        "admin_url": f"http://127.0.0.1:{admin}/admin",
        "ws_url": f"ws://127.0.0.1:{ws}/",
        "api_secret": secrets.token_urlsafe(16),
        "admin_secret": secrets.token_urlsafe(16),
        "admin_key": secrets.token_urlsafe(16),
        "token_secret": secrets.token_urlsafe(16),
    }
    env = {
        **os.environ,
        "JANUS_API_SECRET": entry["api_secret"],
        "JANUS_ADMIN_SECRET": entry["admin_secret"],
        "JANUS_ROOM_ADMIN_KEY": entry["admin_key"],
        "JANUS_TOKEN_SECRET": entry["token_secret"],
        "JANUS_HTTP_PORT": str(http),
        "JANUS_ADMIN_PORT": str(admin),
        "JANUS_WS_PORT": str(ws),
        "JANUS_RTP_PORTS": f"{rtp}-{rtp + 199}",
        "JANUS_CONFIG_DIR": str(directory),
    }
    process = subprocess.Popen(
        [str(ROOT / "bin" / "janus-run")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    server = JanusServer(name=name, process=process, directory=directory, entry=entry)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            error = process.stderr.read().decode(errors="replace") if process.stderr else ""
            raise RuntimeError(f"Janus {name} exited ({process.returncode}): {error}{server.log}")
        try:
            if requests.get(f"{entry['url']}/info", timeout=1).ok:
                return server
        except requests.RequestException:
            pass
        time.sleep(0.05)
    server.stop()
    raise RuntimeError(f"Janus {name} did not answer in 15 s")
