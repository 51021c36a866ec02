"""Endpoints we refuse to POST to: anything but https on a public address, so a registered
URL cannot reach into the clinic's own network (SSRF). No database, no network: literal
addresses need no name resolution, and `localhost` resolves from /etc/hosts."""

import pytest

from telehealth.fhir_subscriptions.endpoints import endpoint_problem

PUBLIC = "https://93.184.215.14/fhir-notifications"


def test_https_on_a_public_address_is_accepted(settings):
    settings.FHIR_NOTIFY_ALLOWED_HOSTS = []
    assert endpoint_problem(PUBLIC) == ""


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://93.184.215.14/hook", "https"),
        ("ftp://93.184.215.14/hook", "https"),
        ("https://127.0.0.1/hook", "public"),
        ("https://localhost:8443/hook", "public"),
        ("https://10.1.2.3/hook", "public"),
        ("https://192.168.0.10/hook", "public"),
        ("https://169.254.169.254/latest/meta-data", "public"),  # cloud metadata
        ("https://[::1]/hook", "public"),
        ("https://[::ffff:127.0.0.1]/hook", "public"),
        ("https://0.0.0.0/hook", "public"),
        ("https://user:password@93.184.215.14/hook", "user name"),
        ("https:///hook", "host name"),
        ("https://93.184.215.14:99999/hook", "valid URL"),
    ],
)
def test_other_endpoints_are_refused_in_production(settings, url, reason):
    settings.FHIR_NOTIFY_ALLOWED_HOSTS = []
    assert reason in endpoint_problem(url)


def test_the_allowlist_admits_a_local_http_receiver_and_nothing_else(settings):
    settings.FHIR_NOTIFY_ALLOWED_HOSTS = ["127.0.0.1"]
    assert endpoint_problem("http://127.0.0.1:8080/hook") == ""
    assert "public" in endpoint_problem("https://10.1.2.3/hook")
    assert "http" in endpoint_problem("ftp://127.0.0.1/hook")
