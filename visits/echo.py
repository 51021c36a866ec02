"""The device check's server peer: an aiortc connection that sends the browser's own audio
and video back and answers data-channel pings, so the page can show whether media flowed and
the round-trip time. Each echo lives at most ECHO_SECONDS; at most MAX_ECHOES at once per
process (encoding video back is CPU work)."""

import asyncio
import contextlib

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRelay

ECHO_SECONDS = 20
MAX_ECHOES = 4

_running: set[RTCPeerConnection] = set()


class EchoBusy(Exception):
    pass


def _configuration(ice_servers: list[dict]) -> RTCConfiguration:
    return RTCConfiguration(
        iceServers=[
            RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
            for s in ice_servers
        ]
    )


async def echo_answer(*, sdp: str, ice_servers: list[dict]) -> str:
    """Answer a browser's offer with an echoing peer; returns the answer SDP (with its
    candidates: aiortc does not trickle)."""
    if len(_running) >= MAX_ECHOES:
        raise EchoBusy
    pc = RTCPeerConnection(_configuration(ice_servers))
    _running.add(pc)
    relay = MediaRelay()

    @pc.on("track")
    def on_track(track):
        pc.addTrack(relay.subscribe(track))

    @pc.on("datachannel")
    def on_datachannel(channel):
        channel.on("message", channel.send)  # ping → pong, unchanged

    @pc.on("connectionstatechange")
    async def on_state():
        if pc.connectionState in ("failed", "closed"):
            await _close(pc)

    try:
        await pc.setRemoteDescription(RTCSessionDescription(sdp=sdp, type="offer"))
        await pc.setLocalDescription(await pc.createAnswer())
    except Exception:
        await _close(pc)
        raise
    asyncio.get_running_loop().call_later(ECHO_SECONDS, lambda: asyncio.ensure_future(_close(pc)))
    return pc.localDescription.sdp


async def _close(pc: RTCPeerConnection) -> None:
    _running.discard(pc)
    with contextlib.suppress(Exception):
        await pc.close()
