"""A headless participant of a Janus VideoRoom, as a browser would be: it connects to the
WebSocket the join answer names, with the signed token, and publishes or subscribes with
aiortc (host candidates; Janus uses the machine's own address, never loopback)."""

import asyncio
import json
import secrets
from typing import Any

import websockets
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import AudioStreamTrack, VideoStreamTrack
from websockets.typing import Subprotocol

PLUGIN = "janus.plugin.videoroom"


class JanusSocket:
    def __init__(self, ws, token: str):
        self.ws = ws
        self.token = token
        self.inbox: list[dict] = []
        self.arrived = asyncio.Event()
        self.reader = asyncio.ensure_future(self._read())
        self.session: int | None = None

    @classmethod
    async def open(cls, url: str, token: str) -> "JanusSocket":
        ws = await websockets.connect(url, subprotocols=[Subprotocol("janus-protocol")])
        return cls(ws, token)

    async def _read(self):
        async for raw in self.ws:
            self.inbox.append(json.loads(raw))
            self.arrived.set()

    async def wait_for(self, match, timeout: float = 10) -> dict:
        async def scan():
            while True:
                for message in self.inbox:
                    if match(message):
                        self.inbox.remove(message)
                        return message
                self.arrived.clear()
                await self.arrived.wait()

        return await asyncio.wait_for(scan(), timeout)

    async def send(self, message: dict, *, final=("success", "error", "event")) -> dict:
        transaction = secrets.token_hex(6)
        body = {**message, "transaction": transaction, "token": self.token}
        if self.session is not None:
            body.setdefault("session_id", self.session)
        await self.ws.send(json.dumps(body))
        return await self.wait_for(
            lambda m: m.get("transaction") == transaction and m.get("janus") in final
        )

    async def create_session(self) -> dict:
        reply = await self.send({"janus": "create"})
        if reply["janus"] == "success":
            self.session = reply["data"]["id"]
        return reply

    async def attach(self) -> int:
        reply = await self.send({"janus": "attach", "plugin": PLUGIN})
        assert reply["janus"] == "success", reply
        return reply["data"]["id"]

    async def message(self, handle: int, body: dict, jsep: dict | None = None) -> dict:
        message: dict[str, Any] = {"janus": "message", "handle_id": handle, "body": body}
        if jsep is not None:
            message["jsep"] = jsep
        return await self.send(message)

    async def close(self):
        self.reader.cancel()
        await self.ws.close()


def plugin_data(reply: dict) -> dict:
    return reply.get("plugindata", {}).get("data", {})


class Publisher:
    """Joins as a publisher with the feed id the app gave, sends audio (mid 0) and video."""

    def __init__(self, socket: JanusSocket):
        self.socket = socket
        self.pc = RTCPeerConnection()
        self.handle = 0

    async def publish(self, *, room: int, pin: str, feed: int, display: str) -> dict:
        await self.socket.create_session()
        self.handle = await self.socket.attach()
        joined = await self.socket.message(
            self.handle,
            {
                "request": "join",
                "ptype": "publisher",
                "room": room,
                "pin": pin,
                "id": feed,
                "display": display,
            },
        )
        assert plugin_data(joined).get("videoroom") == "joined", joined
        self.pc.addTrack(AudioStreamTrack())
        self.pc.addTrack(VideoStreamTrack())
        await self.pc.setLocalDescription(await self.pc.createOffer())
        offer = self.pc.localDescription
        configured = await self.socket.message(
            self.handle,
            {"request": "configure", "audio": True, "video": True},
            {"type": offer.type, "sdp": offer.sdp, "trickle": False},
        )
        assert plugin_data(configured).get("configured") == "ok", configured
        answer = configured["jsep"]
        await self.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))
        await self.socket.wait_for(lambda m: m.get("janus") == "webrtcup", timeout=15)
        return plugin_data(joined)

    async def close(self):
        await self.pc.close()


class Subscriber:
    def __init__(self, socket: JanusSocket):
        self.socket = socket
        self.pc = RTCPeerConnection()
        self.tracks: list = []
        self.pc.on("track", self.tracks.append)
        self.handle = 0

    async def subscribe(self, *, room: int, pin: str, feed: int, private_id: int | None = None):
        """`private_id`: the one Janus gave the subscriber's own publisher, which ties the
        subscription to it (what the room page sends)."""
        await self.socket.create_session()
        handle = self.handle = await self.socket.attach()
        join: dict[str, Any] = {
            "request": "join",
            "ptype": "subscriber",
            "room": room,
            "pin": pin,
            "streams": [{"feed": feed}],
        }
        if private_id is not None:
            join["private_id"] = private_id
        attached = await self.socket.message(handle, join)
        assert plugin_data(attached).get("videoroom") == "attached", attached
        offer = attached["jsep"]
        await self.pc.setRemoteDescription(RTCSessionDescription(offer["sdp"], offer["type"]))
        await self.pc.setLocalDescription(await self.pc.createAnswer())
        answer = self.pc.localDescription
        started = await self.socket.message(
            handle, {"request": "start"}, {"type": answer.type, "sdp": answer.sdp}
        )
        assert plugin_data(started).get("started") == "ok", started

    async def first_video_frame(self, timeout: float = 15):
        video = next(t for t in self.tracks if t.kind == "video")
        return await asyncio.wait_for(video.recv(), timeout)

    async def close(self):
        await self.pc.close()
