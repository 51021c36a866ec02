"""TURN credentials the app mints, against a real coturn (tests/coturn.py): they allocate a
relay that carries data, and coturn refuses an expired one or one signed with another secret
(401). The browser side is tests/e2e/test_visit_relay.py."""

import asyncio
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
from aioice import stun
from aioice.turn import create_turn_endpoint

from tests.coturn import coturn, turn_settings  # noqa: F401 (fixtures)
from visits.ice import ice_servers


def minted_turn_server() -> dict:
    servers = ice_servers(user_id="patient-7")
    assert len(servers) == 1, servers
    return servers[0]


async def allocate(server, credentials: dict):
    return await create_turn_endpoint(
        asyncio.DatagramProtocol,
        server_addr=(server.host, server.port),
        username=credentials["username"],
        password=credentials["credential"],
    )


def test_minted_credentials_allocate_a_relay_that_carries_data(turn_settings):  # noqa: F811
    credentials = minted_turn_server()
    assert credentials["urls"] == [turn_settings.url]
    expiry, user = credentials["username"].split(":")
    assert user == "patient-7"

    async def scenario() -> tuple[tuple[str, int], bytes, tuple[str, int]]:
        peer = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        peer.bind((turn_settings.relay_ip, 0))
        peer.setblocking(False)
        transport, _ = await allocate(turn_settings, credentials)
        try:
            relayed = transport.get_extra_info("sockname")
            # sendto asks coturn for a permission to the peer, then relays the data to it.
            transport.sendto(b"through the relay", peer.getsockname())
            loop = asyncio.get_running_loop()
            data, source = await asyncio.wait_for(loop.sock_recvfrom(peer, 2048), timeout=5)
            return relayed, data, source
        finally:
            transport.close()
            peer.close()

    relayed, data, source = asyncio.run(scenario())
    assert relayed[0] == turn_settings.relay_ip
    assert data == b"through the relay"
    assert source == relayed  # the peer saw the relay, not the client


@pytest.mark.parametrize(
    "change",
    [
        {"TURN_CREDENTIAL_SECONDS": -60},  # expired a minute ago
        {"TURN_SECRET": "not-the-shared-secret"},
    ],
    ids=["expired", "wrong-secret"],
)
def test_coturn_refuses_expired_or_forged_credentials(
    turn_settings,  # noqa: F811
    settings,
    change,
):
    for name, value in change.items():
        setattr(settings, name, value)
    credentials = minted_turn_server()

    async def scenario() -> None:
        transport, _ = await allocate(turn_settings, credentials)
        transport.close()

    with pytest.raises(stun.TransactionFailed) as refused:
        asyncio.run(scenario())
    assert refused.value.response.attributes["ERROR-CODE"][0] == 401
    assert f"Cannot find credentials of user <{credentials['username']}>" in (
        turn_settings.log_text()
    )


@pytest.mark.parametrize(
    "policy, turn_urls, refusal",
    [
        ("relay", "turn:turn.example.org:3478", None),
        ("all", "", None),
        ("none", "", 'ICE_TRANSPORT_POLICY must be "all" or "relay"'),
        ("relay", "", "ICE_TRANSPORT_POLICY=relay needs TURN_URLS"),
    ],
)
def test_ice_transport_policy_is_all_or_relay(policy, turn_urls, refusal, tmp_path):
    """A typo must not start a deployment whose browsers would silently ignore it, nor relay
    only without a relay."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST", "DJANGO"))}
    env.update(
        ICE_TRANSPORT_POLICY=policy,
        TURN_URLS=turn_urls,
        DATA_DIR=str(tmp_path),
        TELEHEALTH_TESTING="1",
    )
    result = subprocess.run(
        [sys.executable, "-c", "import telehealth.settings as s; print(s.ICE_TRANSPORT_POLICY)"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if refusal:
        assert result.returncode != 0
        assert refusal in result.stderr
    else:
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == policy
