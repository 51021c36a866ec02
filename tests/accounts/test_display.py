"""Stored identifiers shown the way people read them: US states by name, time zones by a
readable name with their offset now, phone numbers in national or international format."""

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from telehealth.accounts import display
from telehealth.accounts.models import Practice, Provider
from telehealth.accounts.validation import US_STATES
from tests.conftest import make_patient, sign_in


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


WINTER = datetime(2026, 1, 15, 12, tzinfo=UTC)
SUMMER = datetime(2026, 7, 15, 12, tzinfo=UTC)


def offset_now(name: str) -> str:
    """The expected 'UTC−05:00' computed independently of the code under test."""
    offset = timezone.now().astimezone(ZoneInfo(name)).utcoffset()
    assert offset is not None
    minutes = int(offset.total_seconds()) // 60
    sign = "+" if minutes >= 0 else "\u2212"
    return f"UTC{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


# Pure functions


def test_every_state_code_we_accept_has_a_name():
    assert set(display.US_STATE_NAMES) == US_STATES


def test_state_names_and_unknown_codes():
    assert display.state_name("MA") == "Massachusetts"
    assert display.state_name("ma") == "Massachusetts"
    assert display.state_name("ZZ") == "ZZ"
    assert display.state_name("") == ""


@pytest.mark.parametrize(
    ("name", "at", "label"),
    [
        ("America/New_York", WINTER, "Eastern Time — New York (UTC\u221205:00)"),
        ("America/New_York", SUMMER, "Eastern Time — New York (UTC\u221204:00)"),
        ("America/Phoenix", SUMMER, "Mountain Time — Arizona (UTC\u221207:00)"),
        ("Asia/Kolkata", WINTER, "Kolkata — Asia (UTC+05:30)"),
        (
            "America/Argentina/Buenos_Aires",
            WINTER,
            "Buenos Aires — America / Argentina (UTC\u221203:00)",
        ),
        ("Not/A_Zone", WINTER, "Not/A_Zone"),
    ],
)
def test_zone_labels_name_the_place_and_the_offset_on_that_day(name, at, label):
    assert display.zone_label(name, at=at) == label


def test_zone_choices_put_the_common_us_zones_first_then_west_to_east():
    choices = display.zone_choices(at=WINTER)
    names = [name for name, _label in choices]
    assert names[:3] == ["America/New_York", "America/Chicago", "America/Denver"]
    assert "Etc/GMT+5" not in names and "US/Eastern" not in names
    assert names.index("Pacific/Midway") < names.index("Europe/London") < names.index("Asia/Tokyo")
    assert len(names) == len(set(names))
    kept = display.zone_choices(include=["US/Eastern"], every=False, at=WINTER)
    assert "US/Eastern" in [name for name, _label in kept]


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("+16175550123", "(617) 555-0123"),
        ("+442079460958", "+44 20 7946 0958"),
        ("+14165550100", "+1 416-555-0100"),  # Canada shares +1 but is another country
        ("not a number", "not a number"),
        ("", ""),
    ],
)
def test_phones_are_national_at_home_and_international_otherwise(stored, shown):
    assert display.format_phone(stored) == shown


# Pages


def test_the_chart_shows_the_state_by_name_and_the_phone_formatted(client, world):
    sign_in(client, world.front_desk)
    page = client.get(reverse("accounts:patient-chart", args=[world.patient.pk])).content.decode()
    assert "<dd>Massachusetts</dd>" in page
    assert "(617) 555-0123" in page
    assert "+16175550123" not in page


def test_the_chart_shows_a_foreign_phone_in_international_format(client, world):
    patient = make_patient(
        world.practice, "Ana Abroad", "ana@abroad.test", login=False, phone="+442079460958"
    )
    sign_in(client, world.front_desk)
    page = client.get(reverse("accounts:patient-chart", args=[patient.pk])).content.decode()
    assert "+44 20 7946 0958" in page


def test_the_patient_list_and_staff_booking_show_state_names(client, world, video_type):
    sign_in(client, world.front_desk)
    listing = client.get(reverse("accounts:patient-list")).content.decode()
    assert "<td>Massachusetts</td>" in listing
    booking = client.get(reverse("scheduling:staff-book", args=[world.patient.pk]))
    assert "· Massachusetts</p>" in booking.content.decode()


def test_the_booking_form_lists_states_by_name_with_codes_as_values(client, world, video_type):
    from tests.scheduling.conftest import local

    start = local(3, 10)
    page = client.get(
        reverse("scheduling:book-details", args=["alpha"]),
        {"type": "video", "provider": "doc", "start": start.isoformat(), "tz": "America/Chicago"},
    ).content.decode()
    assert '<option value="MA">Massachusetts</option>' in page
    assert page.index(">Alabama<") < page.index(">Alaska<") < page.index(">Wyoming<")
    chicago = f"Central Time — Chicago ({display.utc_offset('America/Chicago', at=start)})"
    assert chicago in page


def test_the_booking_page_labels_zones_with_their_offset_now(client, world, video_type):
    page = client.get(
        reverse("scheduling:book", args=["alpha"]), {"type": "video", "tz": "Europe/London"}
    ).content.decode()
    assert (
        f'<option value="America/New_York">Eastern Time — New York '
        f"({offset_now('America/New_York')})</option>" in page
    )
    assert f'value="Europe/London" selected>London — Europe ({offset_now("Europe/London")})' in page


def test_the_practice_admin_picks_a_zone_by_readable_name_and_stores_the_iana_name(client, world):
    sign_in(client, world.admin)
    url = reverse("admin:accounts_practice_change", args=[world.practice.pk])
    page = client.get(url).content.decode()
    assert f"Eastern Time — New York ({offset_now('America/New_York')})" in page
    assert f"Tokyo — Asia ({offset_now('Asia/Tokyo')})" in page
    response = client.post(
        url,
        {
            "name": world.practice.name,
            "slug": world.practice.slug,
            "time_zone": "America/Chicago",
            "country": "US",
            "phone": world.practice.phone,
            "address": "",
            "business_hours": "{}",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Practice.objects.get(pk=world.practice.pk).time_zone == "America/Chicago"
    listing = client.get(reverse("admin:accounts_practice_changelist")).content.decode()
    assert f"Central Time — Chicago ({offset_now('America/Chicago')})" in listing
    assert "(617) 555-0100" in listing


def test_an_unknown_zone_posted_to_the_admin_is_a_form_error(client, world):
    sign_in(client, world.admin)
    url = reverse("admin:accounts_practice_change", args=[world.practice.pk])
    response = client.post(
        url,
        {
            "name": world.practice.name,
            "slug": world.practice.slug,
            "time_zone": "Mars/Olympus_Mons",
            "phone": world.practice.phone,
            "business_hours": "{}",
        },
    )
    assert response.status_code == 200
    assert "time_zone" in response.context["adminform"].form.errors
    assert Practice.objects.get(pk=world.practice.pk).time_zone == "America/New_York"


def test_the_provider_admin_offers_licensed_states_by_name_and_stores_codes(client, world):
    provider = world.clinician.provider
    sign_in(client, world.admin)
    url = reverse("admin:accounts_provider_change", args=[provider.pk])
    page = client.get(url).content.decode()
    assert '<option value="MA" selected>Massachusetts</option>' in page
    assert f"Eastern Time — New York ({offset_now('America/New_York')})" in page
    response = client.post(
        url,
        {
            "user": world.clinician.pk,
            "slug": provider.slug,
            "display_name": provider.display_name,
            "specialty": "",
            "npi": provider.npi,
            "licensed_states": ["MA", "RI"],
            "time_zone": "America/New_York",
            "is_active": "on",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert Provider.objects.get(pk=provider.pk).licensed_states == ["MA", "RI"]


def test_a_licensure_refusal_names_the_state(client, world, video_type):
    from tests.scheduling.conftest import local
    from tests.scheduling.test_online_booking import post_booking

    response = post_booking(client, video_type, local(3, 10), state="TX")
    assert response.status_code == 400
    assert "not licensed in Texas" in response.content.decode()


def test_the_staff_thread_header_shows_the_patients_phone_formatted(client, world):
    from messaging import services as messaging

    thread, _ = messaging.thread_start(
        patient=world.patient,
        subject="Refill",
        body="Could I get a refill?",
        category="refill",
        by=world.patient.user,
    )
    sign_in(client, world.front_desk)
    page = client.get(reverse("messaging:staff-thread", args=[thread.pk])).content.decode()
    assert "<dd>(617) 555-0123</dd>" in page


def test_the_staff_schedule_names_its_time_zone(client, world):
    sign_in(client, world.front_desk)
    page = client.get(reverse("scheduling:schedule")).content.decode()
    assert f"Times in Eastern Time — New York ({offset_now('America/New_York')})" in page
