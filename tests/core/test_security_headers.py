import pytest
from django.test import override_settings

from tests.conftest import sign_in


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


PAGES = [
    "/accounts/login/",
    "/healthz",
    "/accounts/password-reset/",
    "/api/openapi.json",
    "/does-not-exist/",
]


@pytest.mark.parametrize("path", PAGES)
def test_security_headers_on_every_response(client, db, path):
    response = client.get(path, secure=True)
    csp = response["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert response["Strict-Transport-Security"].startswith("max-age=")
    assert "includeSubDomains" in response["Strict-Transport-Security"]
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"


def test_signed_in_pages_carry_the_headers_too(client, world):
    sign_in(client, world.clinician)
    response = client.get(f"/patients/{world.patient.pk}/", secure=True)
    assert response.status_code == 200
    assert "frame-ancestors 'none'" in response["Content-Security-Policy"]
    assert "Strict-Transport-Security" in response


def test_pages_have_no_inline_script_or_style(client, world):
    sign_in(client, world.admin)
    for path in ["/", "/patients/", f"/patients/{world.patient.pk}/", "/accounts/security/"]:
        html = client.get(path).content.decode()
        assert "<script>" not in html and '<script type="text/javascript">' not in html
        assert " style=" not in html and "<style" not in html
        assert " onclick=" not in html


@override_settings(SECURE_SSL_REDIRECT=True)
def test_plain_http_is_redirected_when_ssl_redirect_is_on(client, db):
    response = client.get("/accounts/login/")
    assert response.status_code == 301
    assert response["Location"].startswith("https://")


def test_the_policy_header_is_the_one_django_csp_builds_from_the_settings(client, db):
    """Built once per process (telehealth.middleware.CSPMiddleware), the same string django-csp
    builds on every response."""
    from csp.utils import build_policy

    response = client.get("/accounts/login/")
    assert response["Content-Security-Policy"] == build_policy()
    assert "Content-Security-Policy-Report-Only" not in response


def test_a_changed_policy_setting_applies_to_the_next_response(client, db):
    policy = {"DIRECTIVES": {"default-src": ["'self'"], "img-src": ["https://img.example"]}}
    with override_settings(
        CONTENT_SECURITY_POLICY=policy,
        CONTENT_SECURITY_POLICY_REPORT_ONLY={"DIRECTIVES": {"script-src": ["'none'"]}},
    ):
        response = client.get("/accounts/login/")
    # django-csp orders the directives as a set iterates: compare them as a set.
    directives = set(response["Content-Security-Policy"].split("; "))
    assert directives == {"default-src 'self'", "img-src https://img.example"}
    report_only = set(response["Content-Security-Policy-Report-Only"].split("; "))
    assert report_only == {"default-src 'self'", "script-src 'none'"}  # django-csp's default
    assert "frame-ancestors 'none'" in client.get("/accounts/login/")["Content-Security-Policy"]


def test_an_excluded_prefix_gets_no_policy(client, db):
    from csp.utils import build_policy

    policy = {"EXCLUDE_URL_PREFIXES": ["/healthz"], "DIRECTIVES": {"default-src": ["'self'"]}}
    with override_settings(CONTENT_SECURITY_POLICY=policy):
        assert "Content-Security-Policy" not in client.get("/healthz")
        assert client.get("/accounts/login/")["Content-Security-Policy"] == build_policy()
