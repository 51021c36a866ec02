"""Static files in tests are served as in development, through WhiteNoise's finders. The suite
builds WhiteNoise's responders once per configuration (tests/conftest.py): each Client must
still serve every file the finders list, and another configuration gets responders of its own."""

from pathlib import Path

from django.conf import settings
from django.test import Client
from whitenoise.middleware import WhiteNoiseMiddleware

from tests import conftest

APP_CSS = Path(settings.BASE_DIR) / "static" / "css" / "app.css"


def scanned_by_whitenoise() -> dict:
    """The files a middleware instance holds when WhiteNoise reads the finders itself."""
    middleware = WhiteNoiseMiddleware(get_response=lambda request: None)
    middleware.files = {}
    conftest._add_files_from_finders(middleware)
    return middleware.files


def test_every_client_serves_every_file_the_finders_list():
    assert set(WhiteNoiseMiddleware(get_response=lambda request: None).files) == set(
        scanned_by_whitenoise()
    )
    for _ in range(2):
        answer = Client().get("/static/css/app.css")
        assert answer.status_code == 200
        assert answer.getvalue() == APP_CSS.read_bytes()


def test_another_configuration_gets_its_own_responders(settings):
    before = Client().get("/static/css/app.css")["Cache-Control"]
    settings.WHITENOISE_MAX_AGE = 1234
    after = Client().get("/static/css/app.css")["Cache-Control"]
    assert "max-age=1234" in after
    assert after != before
