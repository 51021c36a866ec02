"""Posting a message by page, API or socket follows one set of rules, because all three call
`services.message_post`: the author kind comes from the role, patients cannot write internal
notes, a patient's emergency words flag the thread, and one rate limit per user counts posts
from every door together."""

import time
from collections.abc import Callable

import pytest
from asgiref.sync import async_to_sync
from django.test import Client

from messaging import services
from messaging.models import Message, Thread
from tests.conftest import sign_in
from tests.visits.test_consumers import connect, cookie_for_user

pytestmark = pytest.mark.django_db(transaction=True)

SENT, FORBIDDEN, RATE_LIMITED = "sent", "forbidden", "rate_limited"


def by_page(thread: Thread, user, body: str, internal: bool) -> str:
    client = sign_in(Client(), user)
    path = "threads" if user.is_patient else "inbox"
    data = {"body": body, **({"internal": "on"} if internal else {})}
    page = client.post(f"/messaging/{path}/{thread.pk}/", data, follow=True)
    assert page.status_code == 200
    text = page.content.decode()
    if "Only staff write internal notes" in text:
        return FORBIDDEN
    if "Too many messages" in text or "many messages in the last hour" in text:
        return RATE_LIMITED
    return SENT


def by_api(thread: Thread, user, body: str, internal: bool) -> str:
    client = sign_in(Client(), user)
    answer = client.post(
        f"/api/v1/messaging/threads/{thread.pk}/messages",
        {"body": body, "internal": internal},
        content_type="application/json",
    )
    outcome = {201: SENT, 403: FORBIDDEN, 429: RATE_LIMITED}[answer.status_code]
    if outcome != SENT:
        assert answer.json()["detail"]
    return outcome


async def _socket_post(thread: Thread, cookie: bytes, body: str, internal: bool) -> str:
    ws, ok, _code = await connect(f"/ws/messaging/threads/{thread.pk}/", cookie)
    assert ok
    await ws.receive_json_from()  # hello
    await ws.send_json_to({"type": "message", "body": body, "internal": internal})
    while True:
        frame = await ws.receive_json_from()
        if frame["type"] == "sent":
            outcome = SENT
            break
        if frame["type"] == "error":
            outcome = frame["code"]
            break
    await ws.disconnect()
    return outcome


def by_socket(thread: Thread, user, body: str, internal: bool) -> str:
    return async_to_sync(_socket_post)(thread, cookie_for_user(user), body, internal)


DOORS: dict[str, Callable[[Thread, object, str, bool], str]] = {
    "page": by_page,
    "api": by_api,
    "socket": by_socket,
}


def posted(thread: Thread, body: str) -> list[Message]:
    """Messages of the thread with this body (bodies are encrypted: no lookup by text)."""
    return [m for m in thread.messages.all() if m.body == body]


@pytest.fixture
def thread(world) -> Thread:
    thread, _message = services.thread_start(
        patient=world.patient, subject="Rash", body="It itches.", by=world.patient.user
    )
    return thread


@pytest.mark.parametrize("door", DOORS)
def test_a_patient_cannot_post_an_internal_note_through_any_door(door, world, thread):
    assert DOORS[door](thread, world.patient.user, "Staff only, please", True) == FORBIDDEN
    assert posted(thread, "Staff only, please") == []


@pytest.mark.parametrize("door", DOORS)
def test_staff_post_internal_notes_through_every_door(door, world, thread):
    assert DOORS[door](thread, world.front_desk, "Check the chart", True) == SENT
    [note] = posted(thread, "Check the chart")
    assert note.internal and note.author_kind == Message.Author.STAFF
    assert note.author == world.front_desk


@pytest.mark.parametrize("door", DOORS)
def test_a_patients_emergency_words_flag_the_thread_whatever_the_door(door, world, thread):
    assert DOORS[door](thread, world.patient.user, "Now I have chest pain", False) == SENT
    thread.refresh_from_db()
    assert thread.urgent and thread.priority == Thread.Priority.HIGH
    [message] = posted(thread, "Now I have chest pain")
    assert message.author_kind == Message.Author.PATIENT and not message.internal
    assert thread.messages.filter(author_kind=Message.Author.SYSTEM).count() == 1


@pytest.mark.parametrize("door", DOORS)
def test_staff_quoting_emergency_words_do_not_flag_the_thread(door, world, thread):
    assert DOORS[door](thread, world.front_desk, "Any chest pain today?", False) == SENT
    thread.refresh_from_db()
    assert not thread.urgent


@pytest.mark.parametrize("last_door", DOORS)
def test_one_rate_limit_counts_the_posts_of_every_door(
    last_door, world, thread, settings, monkeypatch
):
    settings.MESSAGING_RATE = 6
    # The limit counts in fixed windows: an hour-long one, entered well before its end, keeps
    # the posts below in one window (a minute-long one turned over mid-test now and then).
    monkeypatch.setattr(services, "RATE_WINDOW", 3600)
    if time.time() % 3600 > 3540:
        time.sleep(3600 - time.time() % 3600 + 0.1)
    for door in DOORS.values():
        for n in range(2):
            assert door(thread, world.patient.user, f"Question {n}", False) == SENT
    assert DOORS[last_door](thread, world.patient.user, "One more", False) == RATE_LIMITED
    assert posted(thread, "One more") == []
    # the limit is the user's own: staff on the same thread still post
    assert DOORS[last_door](thread, world.front_desk, "We are on it", False) == SENT
