"""Two aiortc peers, a clinician and a patient, meet through the real consumer served by
uvicorn: offer, answer and ICE (host candidates, carried in the SDP) go over /ws/visits/<id>/,
the peers connect and each receives the other's video frames."""

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription, VideoStreamTrack
from websockets.asyncio.client import connect

from tests.asgi_server import AsgiServer
from tests.visits.test_consumers import cookie_for_user, cookie_with_grant, make_visit
from visits import services

pytestmark = pytest.mark.django_db(transaction=True)


async def next_of(ws, kind: str) -> dict:
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=10))
        if frame["type"] == kind:
            return frame


def peer_connection():
    pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
    pc.addTrack(VideoStreamTrack())
    received = asyncio.get_running_loop().create_future()

    @pc.on("track")
    def on_track(track):
        async def first_frame():
            frame = await track.recv()
            if not received.done():
                received.set_result(frame)

        asyncio.ensure_future(first_frame())

    return pc, received


async def meet(url: str, clinician_cookie: str, patient_cookie: str) -> dict:
    headers = {"Origin": url.replace("ws://", "http://").split("/ws/")[0]}
    async with (
        connect(url, additional_headers={**headers, "Cookie": clinician_cookie}) as doc,
        connect(url, additional_headers={**headers, "Cookie": patient_cookie}) as pat,
    ):
        await next_of(doc, "welcome")
        me = (await next_of(pat, "welcome"))["peer"]
        joined = await next_of(doc, "peer-joined")
        assert joined["from"] == me
        loop = asyncio.get_running_loop()
        began = loop.time()
        pc_doc, doc_got = peer_connection()
        pc_pat, pat_got = peer_connection()
        await pc_doc.setLocalDescription(await pc_doc.createOffer())
        await doc.send(json.dumps({"type": "offer", "to": me, "sdp": pc_doc.localDescription.sdp}))
        offer = await next_of(pat, "offer")
        await pc_pat.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
        await pc_pat.setLocalDescription(await pc_pat.createAnswer())
        await pat.send(
            json.dumps({"type": "answer", "to": offer["from"], "sdp": pc_pat.localDescription.sdp})
        )
        answer = await next_of(doc, "answer")
        await pc_doc.setRemoteDescription(RTCSessionDescription(answer["sdp"], "answer"))
        while {pc_doc.connectionState, pc_pat.connectionState} != {"connected"}:
            await asyncio.sleep(0.02)
            assert loop.time() - began < 15, "peers did not connect"
        connected_after = loop.time() - began
        frames = await asyncio.wait_for(asyncio.gather(doc_got, pat_got), timeout=10)
        await pc_doc.close()
        await pc_pat.close()
        return {"connected_after": connected_after, "frames": frames}


def test_two_aiortc_peers_connect_through_the_consumer(world, video_type):
    visit = make_visit(world, video_type)
    services.patient_arrives(visit=visit)
    services.clinician_joins(visit=visit, user=world.clinician)
    services.admit(visit=visit, by=world.clinician)
    clinician_cookie = cookie_for_user(world.clinician).decode()
    patient_cookie = cookie_with_grant(visit).decode()
    with AsgiServer() as server:
        url = f"ws://localhost:{server.port}/ws/visits/{visit.pk}/"
        # aiortc needs its own event loop, away from the test thread's.
        result = (
            ThreadPoolExecutor(1)
            .submit(asyncio.run, meet(url, clinician_cookie, patient_cookie))
            .result(timeout=60)
        )
    assert result["connected_after"] < 5
    assert all(frame.width > 0 for frame in result["frames"])
