"""Links in messages point at the server actually running. With no SITE_URL the embedded
default follows the HOST and PORT that `bin/run-dev` serves on and exports to its workers;
settings are read in a fresh interpreter, as the web server and each worker start."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import LazySettings

from tests.notify.test_reminders import book, consenting, queued  # noqa: F401  (fixture)
from tests.scheduling.conftest import local, send_now

ROOT = Path(__file__).resolve().parents[2]


def site_url_started_with(environ: dict[str, str], data_dir: Path) -> str:
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in {"SITE_URL", "HOST", "PORT"}
        and not k.startswith(("DJANGO", "PYTEST", "TELEHEALTH"))
    }
    # The settings module alone, as manage.py names it: `manage.py shell` would also set up
    # every app (about 20 times the CPU) for a value the settings module computes on import.
    code = (
        "import os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'telehealth.settings'); "
        "from django.conf import settings; print(settings.SITE_URL)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**base, "DATA_DIR": str(data_dir), **environ},
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        ({}, "http://localhost:8000"),
        ({"PORT": "8123"}, "http://localhost:8123"),
        ({"HOST": "0.0.0.0", "PORT": "8123"}, "http://localhost:8123"),
        ({"HOST": "clinic.lan", "PORT": "8123"}, "http://clinic.lan:8123"),
        ({"HOST": "fd00::5", "PORT": "8123"}, "http://[fd00::5]:8123"),
        ({"PORT": "8123", "SITE_URL": "https://clinic.example.org/"}, "https://clinic.example.org"),
    ],
)
def test_the_embedded_site_url_follows_the_served_host_and_port(
    environ: dict[str, str], expected: str, tmp_path: Path
) -> None:
    assert site_url_started_with(environ, tmp_path) == expected


@pytest.mark.django_db
@pytest.mark.usefixtures("consenting")
def test_a_booking_confirmation_links_to_the_port_served(
    world, video_type, settings: LazySettings, tmp_path: Path
) -> None:
    settings.SITE_URL = site_url_started_with({"PORT": "8123"}, tmp_path)
    appointment = book(world, video_type, local(5, 14))
    messages = [send_now(message) for message in queued(appointment)]
    linked = [
        m for m in messages if m.template in {"appointment.confirmation", "appointment.join_link"}
    ]
    assert {m.template for m in linked} == {"appointment.confirmation", "appointment.join_link"}
    for message in linked:
        assert "http://localhost:8123/" in message.body, message.template
    for message in messages:
        assert "localhost:8000" not in message.body + message.html_body, message.template


def test_the_embedded_default_prints_each_email_as_it_reads(
    settings: LazySettings, capsys: pytest.CaptureFixture[str]
) -> None:
    from telehealth.notify.channels import send_email
    from telehealth.settings import email_settings

    settings.EMAIL_BACKEND = email_settings("")["EMAIL_BACKEND"]
    link = "http://localhost:8123/appointments/manage/" + "x" * 90 + "/"
    send_email(
        to="pat@example.com",
        subject="Cita confirmada",
        body=f"Su cita está confirmada.\nCambiar o cancelar: {link}",
        html="<p>Su cita está confirmada.</p>",
        ics="BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n",
    )
    printed = capsys.readouterr().out
    assert printed.startswith("--- Email to pat@example.com ---\nSubject: Cita confirmada\n")
    assert f"Su cita está confirmada.\nCambiar o cancelar: {link}\n" in printed
    assert "(with: text/html copy, appointment.ics)" in printed
    assert "Content-Type" not in printed
