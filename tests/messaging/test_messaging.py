"""Messaging through its boundaries: pages, API, sockets, SMS webhooks and the outbox."""

import threading
import uuid
from datetime import datetime, timedelta

import pytest
from asgiref.sync import sync_to_async
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import close_old_connections, connection
from django.test import Client
from django.utils import timezone

from messaging import services
from messaging.models import Attachment, Message, MessagingSettings, Rule, Thread
from telehealth.accounts.models import Patient
from telehealth.notify.models import OutboundMessage
from tests.conftest import sign_in
from tests.notify.test_webhooks import text, twilio_settings  # noqa: F401  (autouse fixture)
from tests.visits.test_consumers import connect, cookie_for_user

PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def thread(world):
    thread, _ = services.thread_start(
        patient=world.patient,
        subject="Rash on my arm",
        body="It itches since Monday.",
        category="clinical",
        by=world.patient.user,
    )
    return thread


OWN_PHONE = "+16175550188"  # the world's patients of two practices share the default number


def consent_to_texts(patient, phone=OWN_PHONE):
    patient.set_contact(phone=phone, email=patient.email)
    patient.sms_consent, patient.sms_consent_at = True, timezone.now()
    patient.save()


def staff_reply(thread, user, body, **kwargs):
    return services.message_post(thread=thread, body=body, by=user, **kwargs)


# --- Access --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_patient_reads_only_their_own_threads_and_attachments(client, world, thread):
    message = staff_reply(
        thread, world.front_desk, "See attached", files=[SimpleUploadedFile("a.pdf", PDF)]
    )
    attachment = message.attachments.get()
    sign_in(client, world.patient.user)
    assert client.get(f"/messaging/threads/{thread.pk}/").status_code == 200
    assert client.get(f"/messaging/attachments/{attachment.pk}/").status_code == 200
    assert client.get(f"/api/v1/messaging/threads/{thread.pk}/messages").status_code == 200
    sign_in(client, world.other_patient.user)
    assert client.get(f"/messaging/threads/{thread.pk}/").status_code == 404
    assert client.get(f"/messaging/attachments/{attachment.pk}/").status_code == 404
    assert client.get(f"/api/v1/messaging/threads/{thread.pk}/messages").status_code == 404
    assert client.get("/api/v1/messaging/threads").json() == []
    assert Client().get(f"/messaging/attachments/{attachment.pk}/").status_code == 302


@pytest.mark.django_db
def test_front_desk_sees_the_inbox_and_clinicians_their_patients_or_assignments(
    client, world, thread
):
    sign_in(client, world.front_desk)
    assert b"Rash on my arm" in client.get("/messaging/inbox/").content
    sign_in(client, world.other_clinician)  # not on the care team
    assert b"Rash on my arm" not in client.get("/messaging/inbox/").content
    assert client.get(f"/messaging/inbox/{thread.pk}/").status_code == 404
    services.assign(thread=thread, by=world.front_desk, assignee=world.other_clinician, team=None)
    assert client.get(f"/messaging/inbox/{thread.pk}/").status_code == 200
    sign_in(client, world.outside_clinician)
    assert client.get(f"/messaging/inbox/{thread.pk}/").status_code == 404
    with pytest.raises(services.MessagingError):
        services.assign(
            thread=thread, by=world.front_desk, assignee=world.outside_clinician, team=None
        )


@pytest.mark.django_db
def test_internal_notes_never_reach_the_patient_by_page_api_or_sms(client, world, thread):
    consent_to_texts(world.patient)
    staff_reply(thread, world.front_desk, "Ask @doc about the cream", internal=True)
    staff_reply(thread, world.front_desk, "A nurse will call you today.")
    sign_in(client, world.patient.user)
    page = client.get(f"/messaging/threads/{thread.pk}/").content.decode()
    assert "A nurse will call you today." in page
    assert "cream" not in page
    api = client.get(f"/api/v1/messaging/threads/{thread.pk}/messages").json()
    assert [m["body"] for m in api] == ["It itches since Monday.", "A nurse will call you today."]
    refused = client.post(
        f"/api/v1/messaging/threads/{thread.pk}/messages",
        {"body": "sneaky", "internal": True},
        content_type="application/json",
    )
    assert refused.status_code == 403
    sms = OutboundMessage.objects.filter(template="messaging.message")
    assert [m.body for m in sms] == ["Alpha Health: A nurse will call you today."]
    note = Message.objects.get(internal=True)
    assert list(note.mentions.all()) == [world.clinician]  # @doc is doc@alpha.test
    sign_in(client, world.clinician)
    assert b"cream" in client.get(f"/messaging/inbox/{thread.pk}/").content
    mentions = client.get("/messaging/inbox/?view=mentions").content
    assert b"Rash on my arm" in mentions


@pytest.mark.django_db
def test_a_patient_cannot_write_an_internal_note(world, thread):
    with pytest.raises(services.MessagingError):
        services.message_post(thread=thread, body="x", by=world.patient.user, internal=True)


# --- Sockets -------------------------------------------------------------------------------


async def thread_socket(thread, user):
    ws, ok, code = await connect(
        f"/ws/messaging/threads/{thread.pk}/", await sync_to_async(cookie_for_user)(user)
    )
    return ws, ok, code


@pytest.mark.django_db(transaction=True)
async def test_sockets_admit_the_patient_and_practice_staff_only(world, thread):
    for user, allowed in [
        (world.patient.user, True),
        (world.front_desk, True),
        (world.other_patient.user, False),
        (world.outside_clinician, False),
        (world.other_clinician, False),  # not on this patient's care team
    ]:
        ws, ok, code = await thread_socket(thread, user)
        assert ok is allowed, user
        if ok:
            hello = await ws.receive_json_from()
            assert hello["type"] == "hello" and hello["last_seq"] == 1
            await ws.disconnect()
    ws, ok, code = await connect(f"/ws/messaging/threads/{thread.pk}/", None)
    assert not ok and code == 4401


@pytest.mark.django_db(transaction=True)
async def test_live_messages_typing_reads_and_internal_notes_by_socket(world, thread):
    patient, ok1, _ = await thread_socket(thread, world.patient.user)
    desk, ok2, _ = await thread_socket(thread, world.front_desk)
    assert ok1 and ok2
    await patient.receive_json_from()
    await desk.receive_json_from()

    await patient.send_json_to({"type": "typing"})
    typing = await desk.receive_json_from()
    assert typing["type"] == "typing" and typing["side"] == "patient"

    await desk.send_json_to({"type": "message", "body": "Internal: check chart", "internal": True})
    assert (await desk.receive_json_from())["type"] in ("sent", "message")
    await desk.send_json_to({"type": "message", "body": "Can you send a photo?", "client_id": "7"})
    frames = [await desk.receive_json_from() for _ in range(3)]
    kinds = sorted(f["type"] for f in frames)
    assert kinds == ["message", "message", "sent"] or kinds == ["message", "sent", "sent"]
    live = await patient.receive_json_from()
    assert live["type"] == "message" and live["body"] == "Can you send a photo?"
    assert live["seq"] == 3 and live["internal"] is False
    assert await patient.receive_nothing(timeout=0.3)  # the internal note never came

    await patient.send_json_to({"type": "read", "seq": 3})
    seen = []
    while True:
        frame = await desk.receive_json_from()
        seen.append(frame)
        if frame["type"] == "read":
            break
    assert frame == {
        "type": "read",
        "seq": 3,
        "by": "patient",
        "user": world.patient.user.pk,
        "thread": thread.pk,
    }
    await patient.send_json_to({"type": "message", "body": "x", "internal": True})
    assert (await patient.receive_json_from())["code"] == "forbidden"
    await patient.send_json_to({"type": "sync", "after": "zero"})
    assert (await patient.receive_json_from())["code"] == "bad_frame"
    await patient.disconnect()
    await desk.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_a_reconnecting_client_catches_up_without_gaps_or_duplicates(world, thread):
    patient, ok, _ = await thread_socket(thread, world.patient.user)
    assert ok
    assert (await patient.receive_json_from())["last_seq"] == 1
    await patient.disconnect()
    for n in range(3):  # while the patient is away
        await sync_to_async(staff_reply)(thread, world.front_desk, f"Reply {n}")
    await sync_to_async(staff_reply)(thread, world.front_desk, "Staff only", internal=True)
    patient, ok, _ = await thread_socket(thread, world.patient.user)
    hello = await patient.receive_json_from()
    assert hello["last_seq"] == 4  # the newest the patient may see, not the note at 5
    await patient.send_json_to({"type": "sync", "after": 1})
    replayed = []
    while True:
        frame = await patient.receive_json_from()
        if frame["type"] == "synced":
            break
        replayed.append(frame)
    assert [(f["seq"], f["body"]) for f in replayed] == [
        (2, "Reply 0"),
        (3, "Reply 1"),
        (4, "Reply 2"),
    ]
    assert frame["last_seq"] == 4 and frame["more"] is False
    await patient.disconnect()


@pytest.mark.django_db(transaction=True)
async def test_socket_messages_are_rate_limited(world, thread, monkeypatch):
    # One window for the whole test: 22 sends on a loaded machine can straddle a minute's edge.
    window = uuid.uuid4().hex  # and one no earlier run has counted in
    monkeypatch.setattr("telehealth.ratelimit._bucket", lambda key, _w: f"ratelimit:{key}:{window}")
    patient, ok, _ = await thread_socket(thread, world.patient.user)
    await patient.receive_json_from()
    codes = []
    for n in range(22):
        await patient.send_json_to({"type": "message", "body": f"m{n}"})
        while True:
            frame = await patient.receive_json_from()
            if frame["type"] in ("sent", "error"):
                codes.append(frame.get("code", "sent"))
                break
    assert codes.count("sent") == 20 and codes[-1] == "rate_limited"
    await patient.disconnect()


@pytest.mark.django_db(transaction=True)
def test_concurrent_posts_get_consecutive_sequence_numbers(world, require_postgres):
    thread, _ = services.thread_start(
        patient=world.patient, subject="Busy", body="first", by=world.patient.user
    )
    errors = []

    def post(n):
        try:
            staff_reply(Thread.objects.get(pk=thread.pk), world.front_desk, f"reply {n}")
        except Exception as exc:  # noqa: BLE001 - the assertion below shows it
            errors.append(exc)
        finally:
            close_old_connections()
            connection.close()

    workers = [threading.Thread(target=post, args=(n,)) for n in range(8)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert errors == []
    seqs = list(Message.objects.filter(thread=thread).values_list("seq", flat=True))
    assert seqs == list(range(1, 10))
    assert Thread.objects.get(pk=thread.pk).last_seq == 9


# --- SMS bridge, rules, after hours, urgent guard ----------------------------------------


@pytest.mark.django_db
def test_sms_bridge_both_ways(client, world):
    consent_to_texts(world.patient)
    Patient.objects.filter(pk=world.patient.pk).update(preferred_channel="sms")
    response = text(client, "Can I get my lab results?", sender=OWN_PHONE)
    assert response.status_code == 200
    thread = Thread.objects.get(patient=world.patient)
    assert thread.origin == "sms"
    assert thread.messages.get().via == "sms"
    text(client, "Also my refill", sender=OWN_PHONE)  # continues the same thread
    assert thread.messages.count() == 2
    text(
        client, "C", sender=OWN_PHONE
    )  # a reminder reply stays with scheduling (no appointment: not a message)
    assert thread.messages.count() == 2
    reply = staff_reply(thread, world.front_desk, "Results are normal.")
    sms = OutboundMessage.objects.get(template="messaging.message")
    assert sms.body == "Alpha Health: Results are normal."
    reply.refresh_from_db()
    assert reply.sms == sms


@pytest.mark.django_db
def test_unknown_numbers_stay_unrouted(client, world):
    text(client, "hello", sender="+16175550777")
    assert not Thread.objects.exists()


@pytest.mark.django_db
def test_rules_route_and_answer_and_after_hours_replies_once(world, settings):
    Rule.objects.create(
        practice=world.practice,
        name="Refills",
        keywords=["refill"],
        reply="Refills take two business days.",
        set_category="refill",
        set_assignee=world.clinician,
    )
    thread, _ = services.thread_start(
        patient=world.patient, subject="Meds", body="I need a REFILL of lisinopril", by=None
    )
    thread.refresh_from_db()
    assert thread.category == "refill" and thread.assignee == world.clinician
    assert thread.messages.filter(author_kind="system").get().body.startswith("Refills take")

    world.practice.business_hours = {d: [["08:00", "17:00"]] for d in services.DAYS}
    world.practice.save()
    night = datetime(2026, 11, 24, 23, 30, tzinfo=world.practice.zone)
    assert services.is_open(world.practice, night) is False
    settings.TIME_ZONE = "UTC"
    from unittest import mock

    with mock.patch("django.utils.timezone.now", return_value=night):
        other, _ = services.thread_start(
            patient=world.other_patient, subject="Hi", body="Question", by=None
        )
        services.message_post(thread=other, body="And another", by=world.other_patient.user)
    replies = other.messages.filter(author_kind="system")
    assert replies.count() == 1
    assert "closed" in replies.get().body
    MessagingSettings.objects.create(practice=world.practice, after_hours_reply_on=False)
    with mock.patch("django.utils.timezone.now", return_value=night):
        quiet, _ = services.thread_start(patient=world.patient, subject="x", body="y", by=None)
    assert not quiet.messages.filter(author_kind="system").exists()


@pytest.mark.django_db
def test_emergency_words_flag_the_thread_and_warn_the_patient(client, world):
    sign_in(client, world.patient.user)
    response = client.post(
        "/messaging/new/",
        {
            "category": "clinical",
            "subject": "Help",
            "body": "I have Chest   Pain since an hour",
        },
        follow=True,
    )
    thread = Thread.objects.get()
    assert thread.urgent and thread.priority == "high"
    assert b"call 911 now" in response.content
    assert "911" in thread.messages.get(author_kind="system").body
    assert services.emergency_terms_in("my chestpain", world.practice) == []
    sign_in(client, world.front_desk)
    assert b"Urgent" in client.get("/messaging/inbox/?view=urgent").content


# --- Attachments ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_renamed_executable_is_refused_and_nothing_is_written(client, world, thread):
    sign_in(client, world.patient.user)
    exe = SimpleUploadedFile("scan.pdf", b"MZ\x90\x00" + b"\x00" * 200, "application/pdf")
    response = client.post(
        f"/messaging/threads/{thread.pk}/", {"body": "my scan", "attachments": [exe]}, follow=True
    )
    assert b"not a photo or a PDF" in response.content
    assert thread.messages.count() == 1 and not Attachment.objects.exists()


@pytest.mark.django_db
def test_attachments_are_sniffed_encrypted_and_served_safely(client, world, thread, settings):
    sign_in(client, world.patient.user)
    photo = SimpleUploadedFile("rash.jpg", PNG, "image/jpeg")  # a PNG named .jpg
    client.post(f"/messaging/threads/{thread.pk}/", {"body": "", "attachments": [photo]})
    attachment = Attachment.objects.get()
    assert attachment.content_type == "image/png"
    with open(attachment.file.path, "rb") as raw:
        assert PNG not in raw.read()  # encrypted on disk
    served = client.get(f"/messaging/attachments/{attachment.pk}/")
    assert b"".join(served.streaming_content) == PNG
    assert served["Content-Type"] == "image/png"
    assert served["X-Content-Type-Options"] == "nosniff"
    big = SimpleUploadedFile("big.pdf", PDF + b"0" * (10 * 1024 * 1024), "application/pdf")
    response = client.post(
        f"/messaging/threads/{thread.pk}/", {"body": "", "attachments": [big]}, follow=True
    )
    assert b"larger than 10 MB" in response.content


# --- Search, bulk, web chat ----------------------------------------------------------------


@pytest.mark.django_db
def test_search_finds_words_of_encrypted_messages(client, world, thread):
    staff_reply(thread, world.front_desk, "Use hydrocortisone twice daily")
    services.thread_start(patient=world.outside_patient, subject="Itch", body="hydrocortisone?")
    sign_in(client, world.front_desk)
    found = client.get("/messaging/inbox/?q=Hydrocortisone").content
    assert b"Rash on my arm" in found and b"Itch" not in found
    assert b"Rash on my arm" in client.get("/messaging/inbox/?q=Pat").content
    assert b"Rash on my arm" not in client.get("/messaging/inbox/?q=ibuprofen").content
    with connection.cursor() as cursor:
        cursor.execute("SELECT body FROM messaging_message")
        assert all("hydrocortisone" not in row[0] for row in cursor.fetchall())


@pytest.mark.django_db
def test_bulk_message_previews_then_queues_to_reachable_patients(client, world, video_type):
    from tests.visits.test_consumers import make_visit

    make_visit(world, video_type)
    make_visit(world, video_type, world.other_patient)
    consent_to_texts(world.patient)  # the other patient gave no consent
    sign_in(client, world.front_desk)
    # The form's dates are the practice's days; the UTC date is a day ahead in its evenings.
    day = timezone.localdate(timezone=world.practice.zone)
    form = {
        "visit_from": day.isoformat(),
        "visit_to": (day + timedelta(days=2)).isoformat(),
        "channel": "sms",
        "body": "Hi {patient_first_name}, the office opens at 10 tomorrow.",
    }
    preview = client.post("/messaging/bulk/", form)
    assert b"1 of 2 patients will get it." in preview.content
    assert b"Hi Pat, the office opens at 10 tomorrow." in preview.content
    assert not OutboundMessage.objects.filter(template="messaging.bulk").exists()
    client.post("/messaging/bulk/", {**form, "confirm": "send"})
    sent = OutboundMessage.objects.get(template="messaging.bulk")
    assert sent.patient == world.patient
    assert sent.body == "Alpha Health: Hi Pat, the office opens at 10 tomorrow."
    sign_in(client, world.clinician)
    assert client.get("/messaging/bulk/").status_code == 403


@pytest.mark.django_db
def test_web_chat_starts_a_thread_that_goes_on_by_text(client, world):
    MessagingSettings.objects.create(
        practice=world.practice, website_origins=["https://alpha.example.org"]
    )
    page = client.get("/messaging/chat/alpha/")
    assert "frame-ancestors 'self' https://alpha.example.org" in page["Content-Security-Policy"]
    assert "X-Frame-Options" not in page
    bad = client.post("/messaging/chat/alpha/", {"name": "Sam", "phone": "12"})
    assert bad.status_code == 400
    response = client.post(
        "/messaging/chat/alpha/",
        {
            "name": "Sam New",
            "date_of_birth": "1990-04-04",
            "phone": "(617) 555-0444",
            "body": "Do you take new patients?",
            "consent": "on",
        },
    )
    assert response.status_code == 200 and b"We got your message" in response.content
    thread = Thread.objects.get(origin="web_chat")
    assert thread.patient.legal_name == "Sam New" and thread.patient.sms_consent
    ack = OutboundMessage.objects.get(template="messaging.message")
    assert ack.channel == "sms" and "reply by text" in ack.body


@pytest.mark.django_db
def test_bulk_refuses_unknown_merge_tokens(client, world):
    sign_in(client, world.front_desk)
    day = timezone.localdate().isoformat()
    response = client.post(
        "/messaging/bulk/",
        {"visit_from": day, "visit_to": day, "channel": "sms", "body": "Hi {name}"},
    )
    assert response.status_code == 400
    assert b"Unknown merge tokens: {name}" in response.content


@pytest.mark.django_db
def test_saved_replies_are_filled_in_for_the_threads_patient(client, world, thread):
    from django.core.exceptions import ValidationError

    from messaging.models import SavedReply

    SavedReply.objects.create(
        practice=world.practice,
        title="Call us",
        body="Hi {patient_first_name}, call {practice_phone}.",
    )
    sign_in(client, world.front_desk)
    page = client.get(f"/messaging/inbox/{thread.pk}/").content.decode()
    assert 'value="Hi Pat, call (617) 555-0100."' in page
    with pytest.raises(ValidationError):
        SavedReply(practice=world.practice, title="Bad", body="Hello {nickname}").full_clean()


@pytest.mark.django_db(transaction=True)
async def test_a_mentioned_colleague_hears_of_it_live(world, thread):
    me, ok, _ = await connect("/ws/me/", await sync_to_async(cookie_for_user)(world.clinician))
    assert ok
    await sync_to_async(staff_reply)(thread, world.front_desk, "@doc please look", internal=True)
    assert await me.receive_json_from() == {"type": "mention", "thread": thread.pk, "by": "Desk"}
    await me.disconnect()


@pytest.mark.django_db
def test_assigning_to_a_malformed_choice_is_refused_politely(client, world, thread):
    sign_in(client, world.front_desk)
    response = client.post(f"/messaging/inbox/{thread.pk}/assign/", {"assignee": "user:abc"})
    assert response.status_code == 302
    thread.refresh_from_db()
    assert thread.assignee is None


# --- What a patient learns of internal notes ------------------------------------------------


@pytest.mark.django_db
def test_an_internal_note_alone_shows_the_patient_no_new_reply_on_the_page(client, world, thread):
    older, _ = services.thread_start(
        patient=world.patient, subject="Older question", body="Hi", by=world.patient.user
    )
    Thread.objects.filter(pk=older.pk).update(last_message_at=timezone.now() - timedelta(days=1))
    staff_reply(Thread.objects.get(pk=older.pk), world.front_desk, "Chart checked", internal=True)
    staff_reply(thread, world.front_desk, "Ask @doc about the cream", internal=True)
    sign_in(client, world.patient.user)
    page = client.get("/messaging/").content.decode()
    assert "New reply" not in page and "thread-list__item--unread" not in page
    assert page.index("Rash on my arm") < page.index("Older question")  # notes move nothing up
    staff_reply(thread, world.front_desk, "A nurse will call you today.")
    assert "New reply" in client.get("/messaging/").content.decode()
    client.get(f"/messaging/threads/{thread.pk}/")
    assert "New reply" not in client.get("/messaging/").content.decode()


@pytest.mark.django_db
def test_an_internal_note_alone_moves_nothing_in_the_patients_api(client, world, thread):
    staff_reply(thread, world.front_desk, "Ask @doc about the cream", internal=True)
    sign_in(client, world.patient.user)
    [listed] = client.get("/api/v1/messaging/threads").json()
    assert listed["last_seq"] == 1
    sign_in(client, world.front_desk)
    [listed] = client.get("/api/v1/messaging/threads").json()
    assert listed["last_seq"] == 2


@pytest.mark.django_db(transaction=True)
async def test_an_internal_note_alone_moves_nothing_in_the_patients_socket_hello(world, thread):
    doc, ok, _ = await thread_socket(thread, world.clinician)
    assert ok and (await doc.receive_json_from())["last_seq"] == 1
    await doc.send_json_to({"type": "read", "seq": 1})  # the doctor read the question
    await doc.send_json_to({"type": "ping"})
    assert (await doc.receive_json_from())["type"] == "pong"
    await sync_to_async(staff_reply)(thread, world.front_desk, "Check the chart", internal=True)
    assert (await doc.receive_json_from())["internal"] is True

    patient, ok, _ = await thread_socket(thread, world.patient.user)
    assert ok
    hello = await patient.receive_json_from()
    assert hello["last_seq"] == 1 and hello["other_read"] == 1
    await doc.send_json_to({"type": "read", "seq": 2})  # and then the note
    await doc.send_json_to({"type": "ping"})
    assert (await doc.receive_json_from())["type"] == "pong"
    assert await patient.receive_nothing(timeout=0.3)  # no receipt hints at the note
    await patient.disconnect()

    patient, ok, _ = await thread_socket(thread, world.patient.user)
    hello = await patient.receive_json_from()
    assert hello["last_seq"] == 1 and hello["other_read"] == 1
    desk, ok, _ = await thread_socket(thread, world.front_desk)
    assert ok and (await desk.receive_json_from())["last_seq"] == 2  # staff see it all
    for ws in (patient, desk, doc):
        await ws.disconnect()


@pytest.mark.django_db
def test_a_patient_reads_only_as_far_as_they_can_see(client, world, thread):
    from messaging.models import ReadPosition

    staff_reply(thread, world.front_desk, "Check the chart", internal=True)
    sign_in(client, world.front_desk)
    client.get(f"/messaging/inbox/{thread.pk}/")
    sign_in(client, world.patient.user)
    page = client.get(f"/messaging/threads/{thread.pk}/").content.decode()
    assert 'data-other-read="1"' in page
    assert ReadPosition.objects.get(thread=thread, user=world.patient.user).seq == 1


# --- Staff without a practice ----------------------------------------------------------------


@pytest.fixture
def admin_without_practice(world):
    from tests.conftest import make_staff

    return make_staff(None, "practice_admin", "lost@alpha.test", "Lost Admin")


@pytest.fixture
def superuser(world):
    from django_otp.plugins.otp_totp.models import TOTPDevice

    from telehealth.accounts.models import User

    user = User.objects.create_superuser("root@platform.test", "x" * 20, full_name="Root")
    TOTPDevice.objects.create(user=user, name="test", confirmed=True)
    return user


@pytest.mark.django_db
@pytest.mark.parametrize("who", ["admin_without_practice", "superuser"])
def test_staff_without_a_practice_get_403_from_the_practice_pages(
    client, world, thread, who, request
):
    sign_in(client, request.getfixturevalue(who))
    day = timezone.localdate().isoformat()
    for method, url, data in [
        ("get", "/messaging/bulk/", {}),
        ("post", "/messaging/bulk/", {"visit_from": day, "visit_to": day, "body": "Hi"}),
        ("get", "/messaging/inbox/", {}),
        ("get", f"/messaging/inbox/{thread.pk}/", {}),
        ("post", f"/messaging/inbox/{thread.pk}/assign/", {"assignee": ""}),
        ("post", f"/messaging/inbox/{thread.pk}/status/", {"status": "closed"}),
        ("get", f"/messaging/patients/{world.patient.pk}/new/", {}),
    ]:
        assert getattr(client, method)(url, data).status_code == 403, url


@pytest.mark.django_db
def test_an_admin_without_a_practice_cannot_manage_saved_replies_rules_or_teams(
    client, world, admin_without_practice, superuser
):
    from django.contrib.auth.models import Permission

    from messaging.models import SavedReply

    # Messaging settings are not among a practice admin's default permissions; grant them.
    admin_without_practice.user_permissions.add(
        *Permission.objects.filter(content_type__app_label="messaging")
    )
    sign_in(client, admin_without_practice)
    for model in ("savedreply", "rule", "team", "messagingsettings"):
        assert client.get(f"/admin/messaging/{model}/").status_code == 403, model
        assert client.get(f"/admin/messaging/{model}/add/").status_code == 403, model
    added = client.post("/admin/messaging/savedreply/add/", {"title": "Hi", "body": "Hello"})
    assert added.status_code == 403 and not SavedReply.objects.exists()
    sign_in(client, superuser)  # the platform's superusers choose the practice on the form
    assert client.get("/admin/messaging/savedreply/add/").status_code == 200
