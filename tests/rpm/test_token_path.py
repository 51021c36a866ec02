"""The device API's lean path (telehealth.middleware.TokenAPIMiddleware): a bearer-token
upload skips the browser middleware yet answers as the whole stack does: the same
authentication, refusals, rate limit and headers. Session-authenticated endpoints keep CSRF
whatever headers a request carries."""

import json
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rpm import services
from rpm.models import Reading
from tests.conftest import sign_in
from tests.rpm.test_rpm import bp
from tests.rpm.test_rpm import device as device  # noqa: F401, PLC0414  (a fixture)

pytestmark = pytest.mark.django_db

URL = "/api/v1/rpm/readings"


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


@pytest.fixture(autouse=True)
def no_counted_failures():
    """Failed tokens are counted in the cache, which outlives each test's transaction."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(params=["lean", "full"])
def path(request, settings):
    """Each behaviour holds on the lean path and through the whole middleware stack."""
    if request.param == "full":
        settings.TOKEN_API_PATHS = ()
    return request.param


def post(client, body, *, token="", content_type="application/json", **extra):
    if token:
        extra["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return client.post(URL, data=body, content_type=content_type, secure=True, **extra)


def assert_api_headers(response):
    """What every answer of the device API carries, whichever path served it."""
    csp = response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "unsafe-inline" not in csp
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["Strict-Transport-Security"].startswith("max-age=")
    assert response["Content-Type"].startswith("application/json")


# --- Same answers on both paths ---------------------------------------------------------------


def test_an_upload_is_stored_with_the_api_headers(client, world, device, path):
    response = post(client, json.dumps([bp(timezone.now())]), token=device.token)
    assert response.status_code == 200
    assert response.json()["accepted"] == 2
    assert_api_headers(response)
    assert Reading.objects.filter(device=device).count() == 2


@pytest.mark.parametrize(
    "authorization",
    ["", "Bearer ", "Bearer rpm_not-a-token", "Basic dXNlcjpwYXNz", "Bearer " + "x" * 300],
)
def test_a_missing_or_wrong_token_is_a_401_with_a_message(client, world, authorization, path):
    extra = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
    response = post(client, json.dumps([bp(timezone.now())]), **extra)
    assert response.status_code == 401
    assert response.json() == {"detail": "Unauthorized"}
    assert_api_headers(response)
    assert not Reading.objects.exists()


def test_a_revoked_token_is_a_401(client, world, device, path):
    services.device_revoke(device=device, by=world.clinician)
    response = post(client, json.dumps([bp(timezone.now())]), token=device.token)
    assert response.status_code == 401
    assert not Reading.objects.exists()


@pytest.mark.parametrize(
    ("body", "detail"),
    [
        (b"{not json", "The body is not valid JSON."),
        (
            json.dumps({"readings": [{"type": "glucose", "unit": "mg/dL\u0000"}]}),
            "Text may not contain NUL characters.",
        ),
        ("[" * 40 + "]" * 40, "The JSON is nested too deeply (at most 32 levels)."),
        (
            json.dumps({"something": "else"}),
            'Send a list of readings, {"readings": [...]}, a FHIR Observation or a Bundle of them.',
        ),
    ],
)
def test_an_unusable_body_is_a_400_with_the_reason(client, world, device, body, detail, path):
    response = post(client, body, token=device.token)
    assert response.status_code == 400
    assert response.json() == {"detail": detail}
    assert_api_headers(response)
    assert not Reading.objects.exists()


def test_a_form_body_is_a_400_not_a_500(client, world, device, path):
    response = client.post(
        URL, {"type": "glucose"}, HTTP_AUTHORIZATION=f"Bearer {device.token}", secure=True
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "Send the body as JSON, not as a form."}


def test_nul_in_the_query_is_refused_before_the_view(client, world, device, path):
    response = client.post(
        f"{URL}?x=%00",
        data=json.dumps([bp(timezone.now())]),
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {device.token}",
    )
    assert response.status_code == 400
    assert response.json() == {"detail": "Text may not contain NUL characters."}
    assert not Reading.objects.exists()


def test_a_body_over_the_limit_is_a_413_before_it_is_read(client, world, device, settings, path):
    settings.REQUEST_MAX_BODY_BYTES = 1000
    body = json.dumps([bp(timezone.now() - timedelta(minutes=n)) for n in range(20)])
    assert len(body) > 1000
    response = post(client, body, token=device.token)
    assert response.status_code == 413
    assert "too large" in response.json()["detail"]
    assert not Reading.objects.exists()


def test_bad_items_are_rejected_one_by_one_and_the_rest_stored(client, world, device, path):
    at = timezone.now().isoformat()
    body = json.dumps(
        {
            "readings": [
                {"type": "glucose", "value": 101, "unit": "mg/dL", "measured_at": at},
                {"type": "glucose", "value": "high", "measured_at": at},
                {"type": "glucose", "value": 99, "unit": "furlongs", "measured_at": at},
                {"type": "glucose", "value": 1e400, "measured_at": at},
                {"type": "glucose", "value": 90, "measured_at": "2026-13-40T00:00:00Z"},
            ]
        }
    )
    response = post(client, body, token=device.token)
    assert response.status_code == 200
    answer = response.json()
    assert answer["accepted"] == 1
    assert [r["index"] for r in answer["rejected"]] == [1, 2, 3, 4]
    assert "must be a number" in answer["rejected"][0]["reason"]
    assert "furlongs" in answer["rejected"][1]["reason"]
    assert "finite" in answer["rejected"][2]["reason"]
    assert "ISO 8601" in answer["rejected"][3]["reason"]


def test_the_language_of_the_request_is_spoken(client, world, device, path):
    response = post(client, b"{not json", token=device.token, HTTP_ACCEPT_LANGUAGE="es")
    assert response.status_code == 400
    assert response["Content-Language"] == "es"
    assert response.json()["detail"] != "The body is not valid JSON."


# --- Rate limit -----------------------------------------------------------------------------


def test_too_many_wrong_tokens_from_one_address_get_429_and_right_ones_still_pass(
    client, world, device, settings, path
):
    """Wrong tokens past the limit are told to back off; a right token from the same address
    (another device behind the same gateway) is never refused."""
    settings.RPM_TOKEN_FAILURES_PER_MINUTE = 3
    body = json.dumps([bp(timezone.now())])
    for _attempt in range(3):
        assert post(client, body, token="rpm_guess").status_code == 401
    locked = post(client, body, token="rpm_guess")
    assert locked.status_code == 429
    assert locked.json() == {"detail": "Too many wrong device tokens; try again in a minute."}
    assert_api_headers(locked)
    assert not Reading.objects.exists()
    neighbour = post(client, body, token=device.token)
    assert neighbour.status_code == 200
    assert Reading.objects.count() == 2
    assert post(client, body, token="rpm_guess", REMOTE_ADDR="198.51.100.7").status_code == 401


def test_right_tokens_use_up_no_tries(client, world, device, settings, path):
    settings.RPM_TOKEN_FAILURES_PER_MINUTE = 2
    now = timezone.now()
    for n in range(4):
        body = json.dumps([bp(now - timedelta(minutes=n))])
        assert post(client, body, token=device.token).status_code == 200
    assert post(client, json.dumps([]), token="rpm_guess").status_code == 401


# --- What the lean path leaves out ------------------------------------------------------------


def test_a_session_sent_along_with_a_token_is_ignored(client, world, device):
    """The lean path reads no session: a signed-in browser's cookie neither authenticates the
    upload nor counts as activity (the whole stack would answer with the session's time left)."""
    sign_in(client, world.clinician)
    response = post(client, json.dumps([bp(timezone.now())]), token=device.token)
    assert response.status_code == 200
    assert "X-Session-Seconds-Left" not in response
    assert "Cookie" not in response.get("Vary", "")
    assert "no-store" in response["Cache-Control"]


def test_a_session_cookie_costs_an_upload_no_query(require_postgres, client, world, device):
    now = timezone.now()
    bare = Client()
    # The first upload also marks the device as seen (once a minute): not what is compared.
    first = post(bare, json.dumps([bp(now - timedelta(hours=1))]), token=device.token)
    assert first.status_code == 200
    counts = []
    for n, caller in enumerate((bare, sign_in(client, world.clinician))):
        with CaptureQueriesContext(connection) as queries:
            body = json.dumps([bp(now - timedelta(minutes=n))])
            assert post(caller, body, token=device.token).status_code == 200
        counts.append([q["sql"] for q in queries.captured_queries])
    assert len(counts[0]) == len(counts[1])
    assert not [sql for sql in counts[1] if "django_session" in sql or "accounts_user" in sql]


# --- CSRF stays where sessions are ------------------------------------------------------------


@pytest.fixture
def csrf_client():
    return Client(enforce_csrf_checks=True)


def test_a_session_api_post_without_csrf_is_refused_even_with_a_bearer_header(
    csrf_client, world, device
):
    sign_in(csrf_client, world.patient.user)
    for authorization in ("", f"Bearer {device.token}"):
        extra = {"HTTP_AUTHORIZATION": authorization} if authorization else {}
        response = csrf_client.post(
            "/api/v1/scheduling/appointments/1/cancel",
            data=json.dumps({"reason": "no longer needed"}),
            content_type="application/json",
            **extra,
        )
        assert response.status_code == 403
        assert "CSRF" in response.json()["detail"]


def test_a_page_form_post_without_csrf_is_refused_even_with_a_bearer_header(
    csrf_client, world, device
):
    sign_in(csrf_client, world.clinician)
    response = csrf_client.post(
        f"/rpm/patients/{world.patient.pk}/time/",
        {"kind": "monitoring", "minutes": 5},
        HTTP_AUTHORIZATION=f"Bearer {device.token}",
    )
    assert response.status_code == 403


def test_a_session_alone_does_not_authenticate_a_device_upload(csrf_client, world, device):
    sign_in(csrf_client, world.clinician)
    response = csrf_client.post(
        URL, data=json.dumps([bp(timezone.now())]), content_type="application/json"
    )
    assert response.status_code == 401
    assert not Reading.objects.exists()


def test_a_failing_upload_still_carries_the_security_headers(world, device, path, monkeypatch):
    """An exception in the view is answered inside the lean path, so its 500 gets the same
    headers as any other answer (and as through the whole stack)."""

    def broken(token):
        raise RuntimeError("the database went away")

    monkeypatch.setattr("rpm.services.device_for_token", broken)
    response = post(
        Client(raise_request_exception=False), json.dumps([bp(timezone.now())]), token=device.token
    )
    assert response.status_code == 500
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert response["X-Frame-Options"] == "DENY"
    assert response["X-Content-Type-Options"] == "nosniff"
