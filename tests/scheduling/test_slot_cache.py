"""The public booking page and slots API read open slots through a short-lived per-provider
cache: repeat views skip the slot queries; every booking, cancellation, move, availability
rule and time-off change shows at once; a slot taken behind the cache's back still ends in
"just taken" at booking. Also: the busy-block search uses the exclusion constraint's index on
PostgreSQL, and both pages have pinned query counts."""

from datetime import datetime, time, timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from scheduling import selectors, services, slot_cache
from scheduling.models import (
    Appointment,
    AvailabilityException,
    AvailabilityRule,
    BookedVia,
)
from telehealth.accounts.models import Provider
from tests.scheduling.conftest import local, slot_links, video_visit_at
from tests.scheduling.test_pages import booking_data


@pytest.fixture
def world(module_world):
    return module_world  # built once for the module (tests/conftest.py)


pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_cache():
    """Each test starts with no cached slots, page or catalogue. The database rolls back after
    each test but the cache does not: a page cached after an earlier test's booking would
    still be keyed by the tokens that test left, and (SQLite reuses ids after a rollback, and
    this module shares one world) match this test's provider."""
    cache.clear()
    slot_cache._catalogs.clear()


def page_url():
    return reverse("scheduling:book", args=["alpha"])


def page_params(days_ahead: int = 3):
    return {"type": "video", "tz": "America/New_York", "from": local(days_ahead, 0).date()}


def api_params(days_ahead: int = 3):
    return {
        "practice": "alpha",
        "appointment_type": "video",
        "start": local(days_ahead, 0).date().isoformat(),
        "days": 7,
        "time_zone": "America/New_York",
    }


def shown(client, days_ahead: int = 3, **params) -> set[datetime]:
    """The open starts the booking page offers."""
    page = client.get(page_url(), {**page_params(days_ahead), **params})
    assert page.status_code == 200
    return {datetime.fromisoformat(link["start"]) for link in slot_links(page)}


def listed(client, days_ahead: int = 3) -> set[str]:
    """The open starts the slots API lists."""
    response = client.get("/api/v1/scheduling/slots", api_params(days_ahead))
    assert response.status_code == 200
    return {row["start"] for row in response.json()["slots"]}


def iso(moment) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def count_queries(client, url, params) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url, params).status_code == 200
    return len(captured.captured_queries)


def book(world, video_type, start):
    return services.appointment_book(
        provider=world.clinician.provider,
        patient=world.patient,
        appointment_type=video_type,
        start=start,
        by=None,
        via=BookedVia.STAFF,
    )


# Query counts. Cold (nothing cached): the practice, its bookable types, their active
# providers, then per provider its rules and time off (one UNION) and busy blocks. After a
# booking change, only the slot queries of the provider it touched. Warm (a repeat within the
# minute): none. (Each was one more before the rules and time off were read together.)
PAGE_QUERIES_COLD = 5
API_QUERIES_COLD = 5
SLOT_QUERIES_PER_PROVIDER = 2
QUERIES_WARM = 0


def test_booking_page_query_count_is_pinned_cold_and_warm(client, world, video_type):
    cache.clear()
    assert count_queries(client, page_url(), page_params()) == PAGE_QUERIES_COLD
    assert count_queries(client, page_url(), page_params()) == QUERIES_WARM
    book(world, video_type, local(3, 10))
    assert count_queries(client, page_url(), page_params()) == SLOT_QUERIES_PER_PROVIDER


def test_slots_api_query_count_is_pinned_cold_and_warm(client, world, video_type):
    url = "/api/v1/scheduling/slots"
    cache.clear()
    assert count_queries(client, url, api_params()) == API_QUERIES_COLD
    assert count_queries(client, url, api_params()) == QUERIES_WARM
    book(world, video_type, local(3, 10))
    assert count_queries(client, url, api_params()) == SLOT_QUERIES_PER_PROVIDER


def test_cached_view_shows_the_same_times_as_a_fresh_one(client, world, video_type):
    first, again = shown(client), shown(client)
    assert first and again == first
    assert listed(client) == {iso(s) for s in first}


def test_a_query_with_parameters_the_page_never_links_to_shows_the_same_times(
    client, world, video_type
):
    # Such pages are not cached (made-up queries cannot fill the cache) but read the same
    # slots, and the page's own links keep what the visitor came with.
    odd = {**page_params(), "utm_source": "mail", "prefer": "never"}
    first = client.get(page_url(), odd)
    assert first.status_code == 200
    offered = {datetime.fromisoformat(link["start"]) for link in slot_links(first)}
    assert offered and offered == shown(client)
    assert b"utm_source=mail" in first.content
    start = local(3, 10)
    book(world, video_type, start)
    again = client.get(page_url(), odd)
    assert start not in {datetime.fromisoformat(link["start"]) for link in slot_links(again)}


def test_a_booking_removes_its_time_at_once(client, world, video_type):
    start = local(3, 10)
    assert start in shown(client) and iso(start) in listed(client)
    book(world, video_type, start)
    assert start not in shown(client)
    assert iso(start) not in listed(client)


def test_a_cancellation_frees_its_time_at_once(client, world, video_type):
    start = local(3, 10)
    appointment = book(world, video_type, start)
    assert start not in shown(client) and iso(start) not in listed(client)
    services.appointment_cancel(appointment=appointment, by=None, reason="")
    assert start in shown(client)
    assert iso(start) in listed(client)


def test_a_reschedule_frees_the_old_time_and_takes_the_new(client, world, video_type):
    old, new = local(3, 10), local(4, 11)
    appointment = book(world, video_type, old)
    before = shown(client)
    assert old not in before and new in before
    services.appointment_reschedule(appointment=appointment, start=new, by=None)
    after = shown(client)
    assert old in after and new not in after


def test_an_availability_rule_change_shows_at_once(client, world, video_type):
    start = local(3, 17)  # 17:00, inside the 08:00-18:00 rules
    assert start in shown(client)
    weekday = start.astimezone(local(3, 0).tzinfo).weekday()
    rule = AvailabilityRule.objects.get(provider=world.clinician.provider, weekday=weekday)
    rule.end_time = time(12)
    rule.save()
    assert start not in shown(client) and iso(start) not in listed(client)
    rule.delete()
    assert not {s for s in shown(client) if s.date() == start.date()}


def test_time_off_shows_at_once_and_so_does_its_removal(client, world, video_type):
    start = local(3, 10)
    assert start in shown(client)
    off = AvailabilityException.objects.create(
        provider=world.clinician.provider,
        date=local(3, 0).date(),
        kind=AvailabilityException.Kind.UNAVAILABLE,
    )
    assert start not in shown(client) and iso(start) not in listed(client)
    off.delete()
    assert start in shown(client)


def test_a_direct_status_change_shows_at_once(client, world, video_type):
    start = local(3, 10)
    appointment = video_visit_at(world, video_type, start)
    assert start not in shown(client)
    appointment.status = "cancelled"
    appointment.save(update_fields=["status"])
    assert start in shown(client)


def test_a_slot_taken_behind_the_cache_still_ends_in_just_taken(client, world, video_type):
    start = local(3, 10)
    assert start in shown(client)
    # Another server's booking whose cache invalidation has not arrived: bulk_create sends
    # no signal, so the cached page keeps offering the time.
    Appointment.objects.bulk_create(
        [
            Appointment(
                practice=world.practice,
                provider=world.clinician.provider,
                patient=world.patient,
                appointment_type=video_type,
                start=start,
                end=start + timedelta(minutes=20),
                blocked_start=start,
                blocked_end=start + timedelta(minutes=30),
                modality="video",
                booked_via="online",
            )
        ]
    )
    assert start in shown(client)
    response = client.post(
        reverse("scheduling:book-details", args=["alpha"]), booking_data(video_type, start)
    )
    assert response.status_code == 409
    assert b"just taken" in response.content
    assert Appointment.objects.count() == 1


def second_provider(world, video_type) -> Provider:
    second = Provider.objects.create(
        user=world.other_clinician,
        practice=world.practice,
        slug="doc2",
        display_name="Dr Second",
        npi="1987654328",
        licensed_states=["MA"],
        time_zone="America/New_York",
    )
    AvailabilityRule.objects.bulk_create(
        AvailabilityRule(provider=second, weekday=d, start_time=time(8), end_time=time(18))
        for d in range(7)
    )
    video_type.providers.add(second)
    return second


def test_a_booking_recomputes_only_that_providers_slots(client, world, video_type):
    second_provider(world, video_type)
    cache.clear()
    assert count_queries(client, page_url(), page_params()) == 3 + 2 * SLOT_QUERIES_PER_PROVIDER
    assert count_queries(client, page_url(), page_params()) == QUERIES_WARM
    book(world, video_type, local(3, 10))
    assert count_queries(client, page_url(), page_params()) == SLOT_QUERIES_PER_PROVIDER


def test_an_appointment_moved_to_another_provider_frees_the_old_providers_time(
    client, world, video_type
):
    second = second_provider(world, video_type)
    start = local(3, 10)
    appointment = book(world, video_type, start)
    assert start not in shown(client, provider="doc")
    assert start in shown(client, provider="doc2")
    # As the admin's change form saves it: a row loaded fresh, its provider changed.
    moved = Appointment.objects.get(pk=appointment.pk)
    moved.provider = second
    moved.save()
    assert start in shown(client, provider="doc")
    assert start not in shown(client, provider="doc2")


def test_availability_moved_to_another_provider_leaves_the_old_provider_at_once(
    client, world, video_type
):
    second = second_provider(world, video_type)
    start = local(3, 17)
    off = AvailabilityException.objects.create(
        provider=world.clinician.provider,
        date=local(3, 0).date(),
        kind=AvailabilityException.Kind.UNAVAILABLE,
    )
    assert start not in shown(client, provider="doc")
    assert start in shown(client, provider="doc2")
    off = AvailabilityException.objects.get(pk=off.pk)
    off.provider = second
    off.save()
    assert start in shown(client, provider="doc")
    assert start not in shown(client, provider="doc2")
    weekday = start.astimezone(local(3, 0).tzinfo).weekday()
    rule = AvailabilityRule.objects.get(provider=world.clinician.provider, weekday=weekday)
    rule.provider = second
    rule.save()
    assert start not in shown(client, provider="doc")


def test_catalog_edits_show_at_once(client, world, video_type):
    assert shown(client)
    video_type.providers.remove(world.clinician.provider)
    assert not shown(client)
    video_type.providers.add(world.clinician.provider)
    assert shown(client)
    video_type.bookable_online = False
    video_type.save()
    page = client.get(page_url(), page_params())
    assert b"Video visit" not in page.content and not slot_links(page)
    assert client.get("/api/v1/scheduling/slots", api_params()).status_code == 404
    video_type.bookable_online = True
    video_type.save()
    provider = world.clinician.provider
    provider.is_active = False
    provider.save()
    assert not shown(client)
    assert listed(client) == set()


def test_zone_list_is_read_once():
    assert selectors.known_time_zones() is selectors.known_time_zones()
    assert "America/New_York" in selectors.known_time_zones()
    assert "Mars/Olympus_Mons" not in selectors.known_time_zones()


def test_busy_blocks_use_the_exclusion_constraints_index_on_postgresql(world, video_type):
    if connection.vendor != "postgresql":
        pytest.skip("the GiST index exists on PostgreSQL only")
    start = local(3, 10)
    book(world, video_type, start)
    # A provider with a long history: two years of past visits, none holding time any more.
    first = local(-730, 9)
    Appointment.objects.bulk_create(
        Appointment(
            practice=world.practice,
            provider=world.clinician.provider,
            patient=world.patient,
            appointment_type=video_type,
            start=first + timedelta(days=n // 8, minutes=30 * (n % 8)),
            end=first + timedelta(days=n // 8, minutes=30 * (n % 8) + 20),
            blocked_start=first + timedelta(days=n // 8, minutes=30 * (n % 8)),
            blocked_end=first + timedelta(days=n // 8, minutes=30 * (n % 8) + 20),
            modality="video",
            booked_via="staff",
            status="completed",
        )
        for n in range(8 * 700)
    )
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE scheduling_appointment")
    with CaptureQueriesContext(connection) as captured:
        found = selectors.busy_blocks(
            provider=world.clinician.provider,
            start=start - timedelta(hours=1),
            end=start + timedelta(hours=1),
        )
    assert len(found) == 1
    sql = captured.captured_queries[-1]["sql"]
    assert "&&" in sql and "tstzrange" in sql
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN {sql}")
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert "appointment_no_overlap" in plan, plan
