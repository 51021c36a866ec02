"""Every page shows times in the viewer's zone (their practice's), never the server's UTC.

The pages come from the URL resolver through the access matrix, so a new page is covered as
soon as it has an access entry."""

import re
from collections.abc import Iterator
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.template.defaultfilters import time as time_filter
from django.test import Client
from django.utils import timezone, translation

from scheduling.models import Appointment
from telehealth.accounts.models import Role
from tests.conftest import World, sign_in
from tests.core.test_access_matrix import ROUTES, Access, make_appointment, object_id, url_for
from visits import services as visit_services


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


# Pages that show the visit with its time of day, to whoever may open them.
LISTING_PAGES = {"visits:today", "scheduling:schedule", "scheduling:staff-move"}


def instant_on_another_utc_day(zone: ZoneInfo) -> datetime:
    """A moment today in `zone` that falls on another day in UTC (7:45 p.m. in New York is
    00:45 UTC tomorrow; 8:45 a.m. in Tokyo is 23:45 UTC yesterday). Its minute is a quarter
    of an hour away from now's, so stamps of "now" on the pages never read like it."""
    now = timezone.now()
    minute = 45 if now.minute < 30 else 15
    today = timezone.localtime(now, zone).date()
    for day, hour in ((today + timedelta(days=1), 0), (today - timedelta(days=1), 23)):
        candidate = datetime.combine(day, time(hour, minute), UTC)
        if candidate.astimezone(zone).date() == today:
            return candidate
    raise AssertionError(f"{zone} shares its day with UTC")


def shown(moment: datetime, zone: ZoneInfo | None = None) -> list[str]:
    """How a page writes this moment's time of day: the project's format and the 24-hour one."""
    local = moment.astimezone(zone or UTC)
    with translation.override("en"):
        return [time_filter(local, "TIME_FORMAT"), time_filter(local, "H:i")]


def visible_text(html: str) -> str:
    """The page's text without tags, so machine-readable ISO stamps in attributes don't count."""
    return re.sub(r"<[^>]+>", " ", html)


def assert_not_shown(renderings: list[str], text: str, page: str) -> None:
    for wrong in renderings:
        # "00:45" but not "10:45" or "00:45:15"
        assert not re.search(rf"(?<![\d:]){re.escape(wrong)}(?![\d:])", text), (page, wrong)


def move_to(appointment: Appointment, start: datetime) -> Appointment:
    length = appointment.end - appointment.start
    appointment.start = appointment.blocked_start = start
    appointment.end = appointment.blocked_end = start + length
    appointment.save(update_fields=["start", "end", "blocked_start", "blocked_end"])
    return appointment


def ids_for(world: World, access: Access, appointment: Appointment) -> dict[str, int]:
    """The route's object: the visit at the awkward hour where the route takes one."""
    if access.obj == "appointment":
        return {"appointment_id": appointment.pk}
    if access.obj == "visit":
        return {"visit_id": appointment.visit.pk}
    return object_id(world, access, outsider=False)


def pages_for(role: str) -> list[str]:
    return sorted(
        name
        for name, access in ROUTES.items()
        if access.method == "get"
        and access.json is None
        and not access.public
        and role in access.roles
    )


def page_texts(
    client: Client, world: World, role: str, appointment: Appointment
) -> Iterator[tuple[str, str]]:
    sign_in(client, world.user_for(role))
    for name in pages_for(role):
        access = ROUTES[name]
        response = client.get(
            url_for(name, access, ids_for(world, access, appointment)), HTTP_ACCEPT="text/html"
        )
        assert response.status_code in access.ok, (name, response.status_code)
        if response.status_code == 200 and response["Content-Type"].startswith("text/html"):
            yield name, visible_text(response.content.decode())


@pytest.fixture(params=["America/New_York", "Asia/Tokyo"])
def late_visit(request: pytest.FixtureRequest, world: World) -> Appointment:
    """A visit today in the practice's zone whose UTC time falls on another day."""
    world.practice.time_zone = request.param
    world.practice.save(update_fields=["time_zone"])
    appointment = move_to(
        make_appointment(world.patient), instant_on_another_utc_day(world.practice.zone)
    )
    visit = visit_services.visit_for_appointment(appointment)
    visit_services.clinician_joins(visit=visit, user=world.clinician)
    appointment.refresh_from_db()
    return appointment


@pytest.mark.parametrize("role", [Role.CLINICIAN, Role.FRONT_DESK, Role.PRACTICE_ADMIN])
def test_staff_pages_show_visit_times_in_the_practice_zone(
    client: Client, world: World, late_visit: Appointment, role: str
) -> None:
    utc, local = shown(late_visit.start), shown(late_visit.start, world.practice.zone)
    listed: set[str] = set()
    for name, text in page_texts(client, world, role, late_visit):
        assert_not_shown(utc, text, name)
        if name in LISTING_PAGES:
            assert local[0] in text, (name, local[0])
            listed.add(name)
    assert listed == LISTING_PAGES & set(pages_for(role))


def test_patient_pages_show_times_in_their_practice_zone(
    client: Client, world: World, late_visit: Appointment
) -> None:
    utc, local = shown(late_visit.start), shown(late_visit.start, world.practice.zone)
    for name, text in page_texts(client, world, Role.PATIENT, late_visit):
        assert_not_shown(utc, text, name)
        if name == "scheduling:mine" and late_visit.start > timezone.now():
            assert local[0] in text  # past visits are listed by date only


def test_the_zone_is_the_server_default_again_after_the_request(
    client: Client, world: World, late_visit: Appointment
) -> None:
    sign_in(client, world.front_desk)
    client.get(url_for("visits:today", ROUTES["visits:today"], {}))
    assert timezone.get_current_timezone_name() == "UTC"
