"""The client's address, which the audit trail and the sign-in lockout rely on, comes from
X-Forwarded-For only when a configured proxy sent it.

The served tests start uvicorn with the options of each way the project runs it (Procfile,
bin/run-dev, docker-compose.yml) and sign in through it with a forged header."""

import http.cookiejar
import os
import re
import socket
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import uvicorn
import yaml
from django.test import RequestFactory, override_settings
from uvicorn.main import main as uvicorn_cli

from telehealth.audit.models import Action, AuditEvent
from tests.core.test_production_settings import SECRETS, manage, production_settings

ROOT = Path(__file__).resolve().parents[2]
FORGED = "203.0.113.9"
PROXY = "10.20.30.40"


def procfile_command() -> str:
    for line in (ROOT / "Procfile").read_text().splitlines():
        if line.startswith("web:"):
            return line.removeprefix("web:").strip()
    raise AssertionError("Procfile has no web process")


def run_dev_command() -> str:
    script = (ROOT / "bin/run-dev").read_text().replace("\\\n", " ")
    found = re.search(r"^\S*uvicorn .*?(?=&$)", script, re.MULTILINE)
    assert found, "bin/run-dev starts no uvicorn"
    return found.group(0).strip()


def compose_command() -> str:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    script = compose["services"]["web"]["command"][-1]
    command = script[script.index("uvicorn") :]
    # Compose's own interpolation: "$$" is a dollar sign for the container's shell.
    return command.replace("$$", "$")


def shell_words(command: str, env: dict[str, str]) -> list[str]:
    """The command's arguments after the shell expanded them, as the process manager runs it."""
    result = subprocess.run(
        ["bash", "-c", 'eval "set -- $COMMAND"; printf "%s\\0" "$@"'],
        env={"PATH": os.environ["PATH"], **env, "COMMAND": command},
        capture_output=True,
        text=True,
        check=True,
    )
    return result.stdout.split("\0")[:-1]


def served_config(command: str, env: dict[str, str], application, port: int) -> uvicorn.Config:
    """A uvicorn Config from the command's own options (and environment, which uvicorn reads
    too); only the socket and the worker count are the test's."""
    words = shell_words(command, env)
    assert words[0].endswith("uvicorn"), words
    params = uvicorn_cli.make_context("uvicorn", words[1:]).params
    # uvicorn.Config reads FORWARDED_ALLOW_IPS from the environment when no option is given.
    saved = os.environ.get("FORWARDED_ALLOW_IPS")
    if "FORWARDED_ALLOW_IPS" in env:
        os.environ["FORWARDED_ALLOW_IPS"] = env["FORWARDED_ALLOW_IPS"]
    try:
        return uvicorn.Config(
            application,
            host="127.0.0.1",
            port=port,
            proxy_headers=params["proxy_headers"],
            forwarded_allow_ips=params["forwarded_allow_ips"],
            log_level="warning",
            lifespan="off",
        )
    finally:
        if saved is None:
            os.environ.pop("FORWARDED_ALLOW_IPS", None)
        else:
            os.environ["FORWARDED_ALLOW_IPS"] = saved


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def failed_sign_in_through(config: uvicorn.Config, email: str) -> None:
    """A wrong password posted with a forged X-Forwarded-For, as any client could send it."""
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 10
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.05)
        base = f"http://localhost:{config.port}/accounts/login/"
        jar = http.cookiejar.CookieJar()
        opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
        forged = {"X-Forwarded-For": FORGED}
        page = opener.open(urllib.request.Request(base, headers=forged), timeout=10).read()
        found = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page)
        assert found is not None
        token = found.group(1)
        body = urllib.parse.urlencode(
            {"csrfmiddlewaretoken": token.decode(), "username": email, "password": "wrong"}
        ).encode()
        request = urllib.request.Request(base, data=body, headers={**forged, "Referer": base})
        with opener.open(request, timeout=10) as response:
            assert response.status == 200
    finally:
        server.should_exit = True
        thread.join(timeout=10)


COMMANDS = {
    "Procfile": procfile_command,
    "bin/run-dev": run_dev_command,
    "docker-compose.yml": compose_command,
}
served = pytest.mark.django_db(transaction=True)


@served
@pytest.mark.parametrize("source", COMMANDS)
def test_forwarded_header_from_an_untrusted_peer_is_ignored(world, source):
    from telehealth.asgi import application

    env = {"FORWARDED_ALLOW_IPS": PROXY, "PORT": "8000", "HOST": "127.0.0.1"}
    config = served_config(COMMANDS[source](), env, application, free_port())
    with override_settings(FORWARDED_ALLOW_IPS=[PROXY]):
        failed_sign_in_through(config, world.patient.user.email)
    event = AuditEvent.objects.get(action=Action.LOGIN_FAILED)
    assert event.ip == "127.0.0.1"


@served
@pytest.mark.parametrize("source", COMMANDS)
def test_forwarded_header_from_a_trusted_proxy_is_honoured(world, source):
    from telehealth.asgi import application

    env = {"FORWARDED_ALLOW_IPS": "127.0.0.1", "PORT": "8000", "HOST": "127.0.0.1"}
    config = served_config(COMMANDS[source](), env, application, free_port())
    with override_settings(FORWARDED_ALLOW_IPS=["127.0.0.1"]):
        failed_sign_in_through(config, world.patient.user.email)
    event = AuditEvent.objects.get(action=Action.LOGIN_FAILED)
    assert event.ip == FORGED


def trusted(config: uvicorn.Config) -> list[str]:
    value = config.forwarded_allow_ips
    entries = value.split(",") if isinstance(value, str) else value
    return sorted(entry.strip() for entry in entries)


@pytest.mark.parametrize("source", ["Procfile", "bin/run-dev"])
def test_by_default_only_this_machine_is_trusted(source, monkeypatch):
    from telehealth.asgi import application

    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    env = {"PORT": "8000", "HOST": "127.0.0.1"}
    config = served_config(COMMANDS[source](), env, application, free_port())
    assert config.proxy_headers
    assert trusted(config) == ["127.0.0.1", "::1"]


def test_compose_trusts_only_the_gateway_of_its_own_network():
    """The host's proxy reaches web's published port through the network's gateway."""
    from telehealth.asgi import application

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    gateway = compose["networks"]["default"]["ipam"]["config"][0]["gateway"]
    setting = compose["x-env"]["FORWARDED_ALLOW_IPS"]
    matched = re.fullmatch(r"\$\{FORWARDED_ALLOW_IPS:-(.*)\}", setting)
    assert matched is not None
    default = matched.group(1)
    assert default == gateway
    config = served_config(
        compose_command(), {"FORWARDED_ALLOW_IPS": default}, application, free_port()
    )
    assert config.proxy_headers
    assert trusted(config) == [gateway]


def address(remote: str, forwarded: str | None = None) -> str | None:
    from telehealth.net import client_address

    headers: dict[str, Any] = {"HTTP_X_FORWARDED_FOR": forwarded} if forwarded is not None else {}
    return client_address(RequestFactory().get("/", REMOTE_ADDR=remote, **headers))


@override_settings(FORWARDED_ALLOW_IPS=[PROXY, "10.99.0.0/16"])
def test_client_address_believes_only_configured_proxies():
    assert address("198.51.100.7", FORGED) == "198.51.100.7"
    assert address(PROXY, FORGED) == FORGED
    assert address(PROXY, f"{FORGED}, 198.51.100.7") == "198.51.100.7"  # the client prepended
    assert address(PROXY, f"{FORGED}, 10.99.3.4") == FORGED  # two proxies in a row
    assert address(PROXY, "not-an-address") == PROXY
    assert address(PROXY) == PROXY
    assert address("garbage") is None


def test_production_refuses_to_trust_every_address():
    result = manage("check", env={**SECRETS, "FORWARDED_ALLOW_IPS": "*"})
    assert result.returncode != 0
    assert "FORWARDED_ALLOW_IPS" in result.stderr


def test_production_starts_with_listed_proxies():
    """The list is read and checked by the settings module alone (the whole start-up is
    checked with the default list in test_production_settings)."""
    result = production_settings(
        "*s.FORWARDED_ALLOW_IPS", env={**SECRETS, "FORWARDED_ALLOW_IPS": "10.0.0.2,fd00::/8"}
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["10.0.0.2", "fd00::/8"]
