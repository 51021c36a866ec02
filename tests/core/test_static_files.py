"""Static files in tests are served as in development, through WhiteNoise's finders. The suite
builds WhiteNoise's responders once per configuration (tests/conftest.py): each Client's
middleware must hold what WhiteNoise's own reading of the files would give it, under every
setting that shapes them."""

from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from whitenoise.middleware import WhiteNoiseMiddleware

from tests import conftest

APP_CSS = Path(settings.BASE_DIR) / "static" / "css" / "app.css"


def responders(middleware: WhiteNoiseMiddleware) -> dict:
    """Each URL's responses as data: every alternative's file and headers, or a redirect's."""
    held = {}
    for url, responder in middleware.files.items():
        if hasattr(responder, "alternatives"):
            held[url] = [(path, list(headers)) for _re, path, headers in responder.alternatives]
        else:
            held[url] = responder.response.headers
    return held


def add_test_header(headers, path, url) -> None:
    headers["X-Test-Url"] = url


def new_middleware() -> WhiteNoiseMiddleware:
    return WhiteNoiseMiddleware(get_response=lambda request: None)


@pytest.mark.parametrize(
    ("setting", "value"),
    [
        (None, None),
        ("WHITENOISE_MAX_AGE", 1234),
        ("WHITENOISE_CHARSET", "latin-1"),
        ("WHITENOISE_ALLOW_ALL_ORIGINS", False),
        ("WHITENOISE_MIMETYPES", {".css": "text/x-test"}),
        ("WHITENOISE_ADD_HEADERS_FUNCTION", add_test_header),
        ("WHITENOISE_IMMUTABLE_FILE_TEST", r"/css/"),
    ],
)
def test_each_client_holds_what_whitenoise_would_read(settings, monkeypatch, setting, value):
    new_middleware()  # the configuration before the change is held first
    if setting:
        setattr(settings, setting, value)
    shared = responders(new_middleware())
    with monkeypatch.context() as unshared:
        unshared.setattr(
            WhiteNoiseMiddleware, "add_files_from_finders", conftest._add_files_from_finders
        )
        assert shared == responders(new_middleware())


def test_every_client_serves_the_files():
    for _ in range(2):
        answer = Client().get("/static/css/app.css")
        assert answer.status_code == 200
        assert answer.getvalue() == APP_CSS.read_bytes()
