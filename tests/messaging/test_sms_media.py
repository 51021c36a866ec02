"""Pictures patients text (MMS): Twilio's webhook lists them, a worker fetches them from a
local HTTP server standing in for Twilio's media host (and a second one for its CDN), checks
them like any upload and attaches them to the thread's message, retrying what may pass and
showing staff what did not."""

import base64
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import requests
from django.test import Client
from django.utils import timezone

from messaging import sms_media, tasks
from messaging.models import Attachment, MediaFetch, Message, Thread
from telehealth.accounts.models import Patient
from telehealth.notify import media as notify_media
from telehealth.notify.media import MediaFetchError, fetch_media, media_from_webhook
from telehealth.notify.models import InboundMessage
from tests.conftest import sign_in
from tests.messaging.test_messaging import OWN_PHONE, consent_to_texts
from tests.notify.test_webhooks import post_signed, twilio_settings  # noqa: F401  (autouse)
from tests.threaded_server import serve_in_thread

FIXTURES = Path(__file__).parent.parent / "fixtures" / "media"
JPEG = (FIXTURES / "rash.jpg").read_bytes()
PNG = (FIXTURES / "rash.png").read_bytes()
ACCOUNT_SID = "AC" + "a" * 32
AUTH_TOKEN = "test-twilio-auth-token"  # the webhook tests' token: the same account signs
BASIC = "Basic " + base64.b64encode(f"{ACCOUNT_SID}:{AUTH_TOKEN}".encode()).decode()
MEDIA_PATH = f"/2010-04-01/Accounts/{ACCOUNT_SID}/Messages/MM{'1' * 32}/Media/"
TOO_BIG = b"\xff\xd8\xff\xe0" + b"\x00" * (10 * 1024 * 1024)


class Host:
    """One local HTTP server; `served` lists (path, Authorization header) of each request."""

    def __init__(self, routes):
        self.served: list[tuple[str, str]] = []
        self.failures: dict[str, int] = {}
        self.routes = routes
        host = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (the http.server name)
                host.served.append((self.path, self.headers.get("Authorization", "")))
                status, headers, body = host.routes(self.path, self.headers)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                # A body is bytes, or (bytes, seconds to pause before them) pairs.
                chunks = [(body, 0)] if isinstance(body, bytes) else list(body)
                self.send_header("Content-Length", str(sum(len(c) for c, _ in chunks)))
                self.end_headers()
                for chunk, pause in chunks:
                    time.sleep(pause)
                    self.wfile.write(chunk)
                    self.wfile.flush()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        serve_in_thread(self.server)

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def cdn():
    """Where Twilio's media URLs redirect: it must never see the account's credentials."""
    files = {"/cdn/rash.jpg": JPEG, "/cdn/rash.png": PNG}

    def routes(path, headers):
        if path in files:
            return 200, {"Content-Type": "image/jpeg"}, files[path]
        return 404, {}, b""

    host = Host(routes)
    yield host
    host.close()


@pytest.fixture
def twilio_media(settings, cdn):
    """Twilio's media host: basic auth required; answers per file name after /Media/."""
    failures = {"flaky": 1, "down": 10**6}

    def routes(path, headers):
        name = path.rsplit("/", 1)[-1]
        if headers.get("Authorization") != BASIC:
            return 401, {"WWW-Authenticate": 'Basic realm="Twilio API"'}, b"Unauthorized"
        if name in failures and failures[name] > 0:
            failures[name] -= 1
            return 500, {}, b"Internal error"
        if name in ("photo", "flaky", "down"):
            return 302, {"Location": f"{cdn.origin}/cdn/rash.jpg"}, b""
        if name == "png":
            return 307, {"Location": "/cdn-local/rash.png"}, b""  # a relative redirect
        if name == "html":
            return 200, {"Content-Type": "image/jpeg"}, b"<html><body>Not a picture</body></html>"
        if name == "big":
            return 200, {"Content-Type": "image/jpeg"}, TOO_BIG
        if name == "slow":  # a 10 MB-ish trickle: a chunk every 0.2 s
            return 200, {"Content-Type": "image/jpeg"}, [(JPEG[:1] * 65536, 0.2)] * 20
        if name == "elsewhere":
            return 302, {"Location": "https://media.example.net/rash.jpg"}, b""
        if path == "/cdn-local/rash.png":
            return 200, {"Content-Type": "image/png"}, PNG
        return 404, {}, b""

    host = Host(routes)
    settings.TWILIO_ACCOUNT_SID = ACCOUNT_SID
    settings.TWILIO_AUTH_TOKEN = AUTH_TOKEN
    settings.TWILIO_MEDIA_HOSTS = [host.origin, cdn.origin]
    host.failures = failures
    yield host
    host.close()


@pytest.fixture
def texting_patient(world):
    consent_to_texts(world.patient)
    Patient.objects.filter(pk=world.patient.pk).update(preferred_channel="sms")
    return world.patient


sids = iter(range(10**6))


def mms(client, host, *names, body=""):
    """Twilio's incoming-message webhook for an MMS, with its documented fields."""
    params = {
        "MessageSid": f"MM{next(sids):032d}",
        "AccountSid": ACCOUNT_SID,
        "From": OWN_PHONE,
        "To": "+16175550100",
        "Body": body,
        "NumSegments": "1",
        "NumMedia": str(len(names)),
    }
    for n, name in enumerate(names):
        params[f"MediaUrl{n}"] = f"{host.origin}{MEDIA_PATH}{name}"
        params[f"MediaContentType{n}"] = "image/jpeg"
    return post_signed(client, "/webhooks/twilio/sms", params)


def texted(patient) -> Message:
    return Thread.objects.get(patient=patient).messages.get()


def run_due_later(minutes: int = 61) -> None:
    """The beat sweep, once the backoff has passed."""
    MediaFetch.objects.filter(status="pending").update(
        next_attempt_at=timezone.now() - timedelta(seconds=1)
    )
    tasks.fetch_due_sms_media()


def test_the_webhook_lists_media_by_twilios_field_names():
    found = media_from_webhook(
        {
            "NumMedia": "2",
            "MediaUrl0": "https://api.twilio.com/a",
            "MediaContentType0": "image/jpeg",
            "MediaUrl1": "https://api.twilio.com/b",
            "MediaContentType1": "image/png",
        }
    )
    assert [(m.url, m.content_type) for m in found] == [
        ("https://api.twilio.com/a", "image/jpeg"),
        ("https://api.twilio.com/b", "image/png"),
    ]
    assert media_from_webhook({"NumMedia": "x"}) == []
    assert media_from_webhook({"NumMedia": "0", "MediaUrl0": "https://api.twilio.com/a"}) == []


@pytest.mark.django_db
def test_a_picture_without_words_shows_the_picture_fetched_after_the_webhook_answered(
    client, texting_patient, twilio_media, cdn, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as after_commit:
        response = mms(client, twilio_media, "photo")
    assert response.status_code == 200
    assert twilio_media.served == []  # nothing fetched inside the webhook's request
    message = texted(texting_patient)
    assert message.body == ""
    assert "(empty text)" not in message.body
    assert InboundMessage.objects.get().media[0]["content_type"] == "image/jpeg"

    for callback in after_commit:
        callback()

    attachment = Attachment.objects.get(message=message)
    assert attachment.content_type == "image/jpeg"
    assert attachment.name == "picture-1.jpg"
    assert attachment.file.open("rb").read() == JPEG
    with open(attachment.file.path, "rb") as raw:
        assert JPEG not in raw.read()  # encrypted at rest
    # Credentials to Twilio's host, never to the CDN it redirected to.
    assert twilio_media.served == [(f"{MEDIA_PATH}photo", BASIC)]
    assert cdn.served == [("/cdn/rash.jpg", "")]
    assert MediaFetch.objects.get().status == "fetched"

    sign_in(client, texting_patient.user)
    page = client.get(f"/messaging/threads/{message.thread_id}/").content.decode()
    assert f"/messaging/attachments/{attachment.pk}/" in page
    assert "(empty text)" not in page
    assert client.get(f"/messaging/attachments/{attachment.pk}/").getvalue() == JPEG


@pytest.mark.django_db
def test_words_and_two_pictures_keep_twilios_order(
    client, texting_patient, twilio_media, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        mms(client, twilio_media, "photo", "png", body="My rash today")
    message = texted(texting_patient)
    assert message.body == "My rash today"
    assert [(a.name, a.content_type) for a in message.attachments.order_by("pk")] == [
        ("picture-1.jpg", "image/jpeg"),
        ("picture-2.png", "image/png"),
    ]
    # The relative redirect stays on Twilio's host, so it keeps the credentials.
    assert ("/cdn-local/rash.png", BASIC) in twilio_media.served


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "shown"),
    [
        ("html", "is not a photo or a PDF"),
        ("big", "is larger than 10 MB"),
    ],
)
def test_a_file_refused_by_the_upload_checks_is_shown_to_staff_not_attached(
    client, world, texting_patient, twilio_media, django_capture_on_commit_callbacks, name, shown
):
    with django_capture_on_commit_callbacks(execute=True):
        mms(client, twilio_media, name)
    message = texted(texting_patient)
    fetch = MediaFetch.objects.get(message=message)
    assert fetch.status == "failed" and fetch.attempts == 1  # no retry fixes the file
    assert shown in fetch.last_error
    assert not Attachment.objects.exists()
    sign_in(client, world.front_desk)
    page = client.get(f"/messaging/inbox/{message.thread_id}/").content.decode()
    assert "Picture 1 sent by text could not be fetched" in page
    assert f"/messaging/inbox/pictures/{fetch.pk}/retry/" in page


@pytest.mark.django_db
def test_a_server_error_is_retried_with_backoff_then_the_picture_arrives(
    client, texting_patient, twilio_media, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        mms(client, twilio_media, "flaky")
    fetch = MediaFetch.objects.get()
    assert fetch.status == "pending" and fetch.attempts == 1
    assert "500" in fetch.last_error
    assert fetch.next_attempt_at > timezone.now() + timedelta(seconds=20)  # backoff
    tasks.fetch_due_sms_media()  # not due yet: nothing fetched
    assert len(twilio_media.served) == 1

    run_due_later()
    fetch.refresh_from_db()
    assert fetch.status == "fetched" and fetch.attempts == 2
    assert texted(texting_patient).attachments.get().file.open("rb").read() == JPEG


@pytest.mark.django_db
def test_given_up_pictures_stay_visible_and_staff_can_fetch_them_again(
    client, world, texting_patient, twilio_media, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        mms(client, twilio_media, "down")
    for _ in range(sms_media.MAX_ATTEMPTS):
        run_due_later()
    fetch = MediaFetch.objects.get()
    assert fetch.status == "failed" and fetch.attempts == sms_media.MAX_ATTEMPTS
    assert len(twilio_media.served) == sms_media.MAX_ATTEMPTS
    run_due_later()
    assert len(twilio_media.served) == sms_media.MAX_ATTEMPTS  # given up: no more tries

    sign_in(client, world.front_desk)
    thread_page = f"/messaging/inbox/{fetch.message.thread_id}/"
    assert "could not be fetched" in client.get(thread_page).content.decode()
    twilio_media.failures["down"] = 0  # Twilio is back
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"/messaging/inbox/pictures/{fetch.pk}/retry/")
    assert response.status_code == 302 and response["Location"] == thread_page
    fetch.refresh_from_db()
    assert fetch.status == "fetched"
    page = client.get(thread_page).content.decode()
    assert "could not be fetched" not in page
    assert f"/messaging/attachments/{fetch.attachment_id}/" in page


@pytest.mark.django_db
def test_without_the_account_credentials_twilio_answers_401_and_staff_see_it(
    client, settings, texting_patient, twilio_media, django_capture_on_commit_callbacks
):
    settings.TWILIO_ACCOUNT_SID = ""
    with django_capture_on_commit_callbacks(execute=True):
        mms(client, twilio_media, "photo")
    assert twilio_media.served == [(f"{MEDIA_PATH}photo", "")]  # no half credentials sent
    fetch = MediaFetch.objects.get()
    assert fetch.status == "failed" and "401" in fetch.last_error


@pytest.mark.django_db
def test_media_urls_off_twilios_hosts_are_never_fetched(
    client, texting_patient, twilio_media, cdn, django_capture_on_commit_callbacks
):
    params = {
        "MessageSid": "MM" + "9" * 32,
        "From": OWN_PHONE,
        "To": "+16175550100",
        "Body": "look",
        "NumMedia": "1",
        "MediaUrl0": "http://169.254.169.254/latest/meta-data/",
        "MediaContentType0": "image/jpeg",
    }
    with django_capture_on_commit_callbacks(execute=True):
        post_signed(client, "/webhooks/twilio/sms", params)
    fetch = MediaFetch.objects.get()
    assert fetch.status == "failed" and fetch.last_error == "The media address is not Twilio's."
    assert texted(texting_patient).body == "look"


def test_only_https_or_listed_hosts_are_fetched(settings):
    settings.TWILIO_MEDIA_HOSTS = ["api.twilio.com"]
    for url in (
        "http://api.twilio.com/2010-04-01/x",  # plain HTTP to the right host
        "https://api.twilio.com.evil.example/x",
        "https://evil.example/?https://api.twilio.com/",
        "https://api.twilio.com:8443/x",
        "file:///etc/passwd",
    ):
        with pytest.raises(MediaFetchError) as refused:
            fetch_media(url, max_bytes=100)
        assert refused.value.transient is False


@pytest.mark.django_db
def test_a_redirect_to_plain_http_elsewhere_is_refused(settings, twilio_media):
    settings.TWILIO_MEDIA_HOSTS = [twilio_media.origin]  # the CDN is not listed
    with pytest.raises(MediaFetchError, match="not Twilio's"):
        fetch_media(f"{twilio_media.origin}{MEDIA_PATH}photo", max_bytes=10**6)


@pytest.mark.django_db
def test_only_staff_who_see_the_thread_may_ask_again(client, world, twilio_media):
    from messaging import services
    from telehealth.notify.media import Media

    message = services.sms_received(
        patient=world.patient, body="", media=[Media(f"{twilio_media.origin}/x", "image/jpeg")]
    )
    fetch = MediaFetch.objects.get(message=message)
    MediaFetch.objects.filter(pk=fetch.pk).update(status="failed")
    url = f"/messaging/inbox/pictures/{fetch.pk}/retry/"
    assert Client().post(url).status_code == 302  # to sign in
    assert sign_in(Client(), world.patient.user).post(url).status_code in (403, 404)
    assert sign_in(Client(), world.outside_clinician).post(url).status_code == 404
    assert sign_in(Client(), world.front_desk).get(url).status_code == 405
    fetch.refresh_from_db()
    assert fetch.status == "failed"  # none of them changed it


@pytest.mark.django_db
def test_pictures_on_a_text_no_thread_takes_are_listed_for_the_front_desk(
    client, world, twilio_media, django_capture_on_commit_callbacks
):
    params = {
        "MessageSid": "MM" + "7" * 32,
        "From": "+16175550123",  # patients of two practices share it: no thread takes it
        "To": "+16175550100",
        "Body": "",
        "NumMedia": "2",
        "MediaUrl0": f"{twilio_media.origin}{MEDIA_PATH}photo",
        "MediaContentType0": "image/jpeg",
        "MediaUrl1": f"{twilio_media.origin}{MEDIA_PATH}png",
        "MediaContentType1": "image/png",
    }
    with django_capture_on_commit_callbacks(execute=True):
        post_signed(client, "/webhooks/twilio/sms", params)
    inbound = InboundMessage.objects.get()
    assert inbound.handled_by == "unrouted"
    assert [m["content_type"] for m in inbound.media] == ["image/jpeg", "image/png"]
    assert not MediaFetch.objects.exists() and twilio_media.served == []  # nobody's thread
    sign_in(client, world.front_desk)
    assert (
        "With 2 pictures, kept at the text provider."
        in client.get("/texts/unrouted/").content.decode()
    )


@pytest.mark.django_db
def test_a_picture_with_a_reminder_keyword_goes_to_the_thread_not_the_schedule(
    client, texting_patient, twilio_media, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        mms(client, twilio_media, "photo", body="C")
    assert InboundMessage.objects.get().handled_by == "messaging.thread"
    message = texted(texting_patient)
    assert message.body == "C"
    assert message.attachments.get().content_type == "image/jpeg"


@pytest.mark.django_db
def test_a_redirect_to_an_unlisted_https_host_is_refused(settings, twilio_media):
    settings.TWILIO_MEDIA_REDIRECT_HOSTS = ["*.twiliocdn.com"]
    with pytest.raises(MediaFetchError) as refused:
        fetch_media(f"{twilio_media.origin}{MEDIA_PATH}elsewhere", max_bytes=10**6)
    assert str(refused.value) == (
        "Redirected to a host that is not Twilio's (TWILIO_MEDIA_REDIRECT_HOSTS)."
    )
    assert refused.value.transient is False


def test_redirects_go_only_to_listed_hosts_over_https(settings):
    settings.TWILIO_MEDIA_HOSTS = ["api.twilio.com"]
    settings.TWILIO_MEDIA_REDIRECT_HOSTS = ["*.twiliocdn.com", "s3-external-1.amazonaws.com"]
    for url in (
        "https://media.twiliocdn.com/AC1/abc",
        "https://s3-external-1.amazonaws.com/media.twiliocdn.com/AC1/abc",
        "https://api.twilio.com/2010-04-01/x",
    ):
        assert notify_media.redirect_allowed(url), url
    for url in (
        "http://media.twiliocdn.com/AC1/abc",  # no TLS
        "https://media.twiliocdn.com:8443/x",
        "https://twiliocdn.com.example.net/x",
        "https://eviltwiliocdn.com/x",
        "https://s3.amazonaws.com/x",
        "https://media.example.net/x",
    ):
        assert not notify_media.redirect_allowed(url), url


@pytest.mark.django_db
def test_a_trickling_download_stops_at_the_deadline_well_inside_the_lease(
    monkeypatch, twilio_media
):
    # The last read may overrun the deadline by one read timeout; both fit in the lease.
    assert sms_media.LEASE.total_seconds() > notify_media.DEADLINE + notify_media.TIMEOUT[1]
    monkeypatch.setattr(notify_media, "DEADLINE", 0.5)
    started = time.monotonic()
    with pytest.raises(MediaFetchError, match="took too long") as refused:
        fetch_media(f"{twilio_media.origin}{MEDIA_PATH}slow", max_bytes=10**8)
    assert refused.value.transient is True
    assert time.monotonic() - started < 2  # not the 4 s the trickle would take


def _second_worker_claims_during(monkeypatch, outcome):
    """The first worker's download outlasts its lease: the beat sweep hands the row to a
    second worker, which fetches and attaches it; then the first worker's `outcome` runs."""
    real_fetch = sms_media.fetch_media
    calls = []

    def slow_fetch(url, *, max_bytes):
        calls.append(url)
        if len(calls) == 1:
            MediaFetch.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
            second = sms_media.media_fetch(fetch_id=MediaFetch.objects.get().pk)
            assert second is not None and second.status == "fetched"
            return outcome(url, max_bytes)
        return real_fetch(url, max_bytes=max_bytes)

    monkeypatch.setattr(sms_media, "fetch_media", slow_fetch)
    return calls


@pytest.mark.django_db
def test_a_fetch_that_outlived_its_lease_does_not_attach_the_picture_twice(
    client, monkeypatch, texting_patient, twilio_media, django_capture_on_commit_callbacks
):
    calls = _second_worker_claims_during(
        monkeypatch, lambda url, max_bytes: fetch_media(url, max_bytes=max_bytes)
    )
    with django_capture_on_commit_callbacks(execute=True):
        mms(client, twilio_media, "photo")
    assert len(calls) == 2  # both workers fetched
    assert Attachment.objects.count() == 1
    fetch = MediaFetch.objects.get()
    assert fetch.status == "fetched" and fetch.attempts == 2
    assert fetch.attachment == texted(texting_patient).attachments.get()


@pytest.mark.django_db
def test_a_fetch_that_outlived_its_lease_and_failed_leaves_the_finished_row_alone(
    client, monkeypatch, texting_patient, twilio_media, django_capture_on_commit_callbacks
):
    def broke_off(url, max_bytes):
        raise MediaFetchError("The download broke off.", transient=True)

    _second_worker_claims_during(monkeypatch, broke_off)
    with django_capture_on_commit_callbacks(execute=True):
        mms(client, twilio_media, "photo")
    fetch = MediaFetch.objects.get()
    assert fetch.status == "fetched" and fetch.last_error == "" and fetch.attachment_id
    assert Attachment.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("error", "shown"),
    [
        (requests.ConnectTimeout, "The media host did not answer in time."),
        (requests.ReadTimeout, "The media host did not answer in time."),
        (requests.ConnectionError, "The connection failed."),
    ],
)
def test_staff_see_why_a_fetch_failed_never_the_address(
    client,
    monkeypatch,
    texting_patient,
    twilio_media,
    django_capture_on_commit_callbacks,
    error,
    shown,
):
    def unreachable(url, **kwargs):
        raise error(f"HTTPSConnectionPool(host='x', port=443): Max retries exceeded: {url}")

    monkeypatch.setattr(notify_media.requests, "get", unreachable)
    with django_capture_on_commit_callbacks(execute=True):
        mms(client, twilio_media, "photo")
    fetch = MediaFetch.objects.get()
    assert fetch.status == "pending" and fetch.last_error == shown
    assert MEDIA_PATH not in fetch.last_error


@pytest.mark.django_db
def test_a_server_error_is_shown_by_its_status_alone(
    client, texting_patient, twilio_media, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        mms(client, twilio_media, "flaky")
    assert MediaFetch.objects.get().last_error == "The media host answered 500."
