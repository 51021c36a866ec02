"""Two uvicorn processes behind one Redis channel layer and one PostgreSQL database: a patient
whose sockets are on process A and a clinician on process B complete a visit (admission, the
aiortc peers' offer and answer, chat both ways, the end), and a provider-status change made
through process A reaches waiting-room sockets spread over both."""

import asyncio
import json
import secrets
from concurrent.futures import ThreadPoolExecutor
from urllib.error import HTTPError
from urllib.parse import urlencode
from urllib.request import HTTPRedirectHandler, Request, build_opener

import pytest
from aiortc import RTCConfiguration, RTCPeerConnection, RTCSessionDescription, VideoStreamTrack
from django.conf import settings
from django.db import connection
from websockets.asyncio.client import connect

from tests.conftest import missing_service, redis_url
from tests.uvicorn_processes import start_processes, stop_processes
from tests.visits.test_consumers import cookie_for_user, cookie_with_grant, make_visit
from visits import services
from visits.models import Visit

pytestmark = pytest.mark.django_db(transaction=True)

WAITING_SOCKETS = 200


@pytest.fixture(scope="module")
def two_processes(django_db_setup, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock():
        if connection.vendor != "postgresql":
            missing_service("two processes need PostgreSQL (set DATABASE_URL)")
        if not redis_url():
            missing_service("two processes need the Redis channel layer (set REDIS_URL)")
        servers = start_processes(["a", "b"], tmp_path_factory.mktemp("uvicorn"))
    yield servers
    stop_processes(servers)


async def next_of(ws, kind: str, timeout: float = 15) -> dict:
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=timeout))
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


async def visit_across(a, b, visit_id: int, patient_cookie: str, clinician_cookie: str) -> dict:
    def headers(server, cookie):
        return {"Origin": server.http, "Cookie": cookie}

    room = f"/ws/visits/{visit_id}/"
    async with (
        connect(f"{a.ws}{room}waiting/", additional_headers=headers(a, patient_cookie)) as waiting,
        connect(f"{b.ws}{room}", additional_headers=headers(b, clinician_cookie)) as doc,
    ):
        assert (await next_of(waiting, "status"))["admitted"] is False
        await next_of(doc, "welcome")
        await doc.send(json.dumps({"type": "admit"}))
        await next_of(doc, "admitted")
        await next_of(waiting, "admitted")  # sent by B, heard on A
        async with connect(f"{a.ws}{room}", additional_headers=headers(a, patient_cookie)) as pat:
            welcome = await next_of(pat, "welcome")
            assert welcome["ice_transport_policy"] == "all"  # direct when it can, by default
            me = welcome["peer"]
            assert (await next_of(doc, "peer-joined"))["from"] == me
            pc_doc, doc_got = peer_connection()
            pc_pat, pat_got = peer_connection()
            await pc_doc.setLocalDescription(await pc_doc.createOffer())
            await doc.send(
                json.dumps({"type": "offer", "to": me, "sdp": pc_doc.localDescription.sdp})
            )
            offer = await next_of(pat, "offer")
            await pc_pat.setRemoteDescription(RTCSessionDescription(offer["sdp"], "offer"))
            await pc_pat.setLocalDescription(await pc_pat.createAnswer())
            answer = {"type": "answer", "to": offer["from"], "sdp": pc_pat.localDescription.sdp}
            await pat.send(json.dumps(answer))
            await pc_doc.setRemoteDescription(
                RTCSessionDescription((await next_of(doc, "answer"))["sdp"], "answer")
            )
            frames = await asyncio.wait_for(asyncio.gather(doc_got, pat_got), timeout=20)
            states = {pc_doc.connectionState, pc_pat.connectionState}

            await pat.send(json.dumps({"type": "chat", "body": "Typed on process A"}))
            heard_on_b = await next_of(doc, "chat")
            assert (await next_of(pat, "chat"))["body"] == "Typed on process A"  # everyone's
            await doc.send(json.dumps({"type": "chat", "body": "Typed on process B"}))
            heard_on_a = await next_of(pat, "chat")
            await doc.send(json.dumps({"type": "end"}))
            await next_of(pat, "ended")
            await pc_doc.close()
            await pc_pat.close()
    return {"frames": frames, "states": states, "heard_on_b": heard_on_b, "heard_on_a": heard_on_a}


def test_patient_on_one_process_and_clinician_on_the_other_complete_a_visit(
    world, video_type, two_processes
):
    a, b = two_processes
    visit = make_visit(world, video_type)
    services.patient_arrives(visit=visit)
    services.clinician_joins(visit=visit, user=world.clinician)
    patient_cookie = cookie_with_grant(visit).decode()
    clinician_cookie = cookie_for_user(world.clinician).decode()
    result = (
        ThreadPoolExecutor(1)
        .submit(asyncio.run, visit_across(a, b, visit.pk, patient_cookie, clinician_cookie))
        .result(timeout=90)
    )
    assert result["states"] == {"connected"}
    assert all(frame.width > 0 for frame in result["frames"])
    assert result["heard_on_b"]["body"] == "Typed on process A"
    assert result["heard_on_b"]["name"] == "Pat Alpha"
    assert result["heard_on_a"]["body"] == "Typed on process B"
    visit = Visit.objects.get(pk=visit.pk)
    assert visit.state == Visit.State.ENDED
    assert sorted(visit.chat.values_list("body", flat=True)) == [
        "Typed on process A",
        "Typed on process B",
    ]
    assert visit.appointment is not None and visit.appointment.status == "completed"


class KeepRedirects(HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # the response itself (a 302) is what the test reads


def post_status(server, cookie: str, appointment_id: int, text: str) -> int:
    """The clinician's form post through `server`, with a CSRF token of our own (the cookie
    and the header agree, as a browser's do)."""
    token = secrets.token_hex(16)
    request = Request(
        f"{server.http}/visits/appointments/{appointment_id}/status/",
        data=urlencode({"status": text}).encode(),
        headers={
            "Cookie": f"{cookie}; {settings.CSRF_COOKIE_NAME}={token}",
            "X-CSRFToken": token,
            "Content-Type": "application/x-www-form-urlencoded",
        },
        method="POST",
    )
    try:
        with build_opener(KeepRedirects).open(request, timeout=30) as response:
            return response.status
    except HTTPError as error:
        return error.code


async def waiting_fan_out(servers, path: str, cookie: str, post) -> list[dict]:
    sockets = []
    for start in range(0, WAITING_SOCKETS, 50):
        batch = await asyncio.gather(
            *(
                connect(
                    f"{servers[i % 2].ws}{path}",
                    additional_headers={"Origin": servers[i % 2].http, "Cookie": cookie},
                    open_timeout=30,
                    ping_interval=None,
                )
                for i in range(start, start + 50)
            )
        )
        sockets += batch
    try:
        for ws in sockets:
            await next_of(ws, "status")
        await asyncio.to_thread(post)
        return await asyncio.gather(*(next_of(ws, "provider-status") for ws in sockets))
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


def test_provider_status_reaches_waiting_sockets_on_both_processes(
    world, video_type, two_processes
):
    a, b = two_processes
    visit = make_visit(world, video_type)
    services.patient_arrives(visit=visit)
    path = f"/ws/visits/{visit.pk}/waiting/"
    clinician_cookie = cookie_for_user(world.clinician).decode()
    codes: list[int] = []

    def post() -> None:
        codes.append(post_status(a, clinician_cookie, visit.appointment.pk, "Running 5 min late"))

    frames = (
        ThreadPoolExecutor(1)
        .submit(asyncio.run, waiting_fan_out([a, b], path, cookie_with_grant(visit).decode(), post))
        .result(timeout=120)
    )
    assert codes == [302]
    assert len(frames) == WAITING_SOCKETS
    assert {frame["text"] for frame in frames} == {"Running 5 min late"}
