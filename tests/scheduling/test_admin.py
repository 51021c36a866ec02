"""A practice admin configures scheduling in the Django admin, only for their own practice."""

from scheduling.models import AppointmentType
from tests.conftest import sign_in


def test_practice_admin_adds_a_visit_type_to_their_own_practice_only(client, world):
    sign_in(client, world.admin)
    page = client.get("/admin/scheduling/appointmenttype/add/")
    assert page.status_code == 200
    assert b'name="practice"' not in page.content
    offered = set(page.context["adminform"].form.fields["providers"].queryset)
    assert offered == {world.clinician.provider}
    response = client.post(
        "/admin/scheduling/appointmenttype/add/",
        {
            "name": "Follow-up",
            "slug": "follow-up",
            "duration_minutes": 15,
            "modality": "video",
            "buffer_before_minutes": 0,
            "buffer_after_minutes": 0,
            "minimum_notice_minutes": 60,
            "booking_horizon_days": 30,
            "bookable_online": "on",
            "is_active": "on",
            "providers": [world.clinician.provider.pk],
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    assert AppointmentType.objects.get(slug="follow-up").practice == world.practice


def test_practice_admin_cannot_pick_another_practices_provider_for_hours(client, world):
    from telehealth.accounts.models import Provider

    other = Provider.objects.create(
        user=world.outside_clinician,
        practice=world.outside_practice,
        slug="beta",
        display_name="Dr Beta",
        npi="1987654328",
        licensed_states=["MA"],
        time_zone="America/New_York",
    )
    sign_in(client, world.admin)
    response = client.post(
        "/admin/scheduling/availabilityrule/add/",
        {
            "provider": other.pk,
            "weekday": 0,
            "start_time": "09:00",
            "end_time": "12:00",
            "modalities": '["video"]',
        },
    )
    assert response.status_code == 200
    assert "provider" in response.context["adminform"].form.errors
