"""Licensure once the visit has started: a second clinician entering the room, the patient
moving during the visit, and who admitted the patient (the clinician billed)."""

import pytest

from telehealth.accounts import services as accounts
from telehealth.accounts.models import CareTeamReason, Provider
from tests.visits.test_consumers import make_visit
from visits import selectors, services
from visits.models import Visit


def second_clinician(world, *states: str):
    """Dr Second on the patient's care team, a provider licensed in `states`."""
    Provider.objects.create(
        user=world.other_clinician,
        practice=world.practice,
        slug="second",
        display_name="Dr Second",
        npi="1245319599",
        licensed_states=list(states),
        time_zone="America/New_York",
    )
    accounts.care_team_add(
        patient=world.patient,
        clinician=world.other_clinician,
        reason=CareTeamReason.ASSIGNED,
        by=None,
    )
    return world.other_clinician


def started(world, video_type) -> Visit:
    """A Massachusetts video visit that Dr Alpha (licensed in MA) admitted."""
    visit = make_visit(world, video_type)
    services.patient_arrives(visit=visit)
    services.location_confirm(visit=visit, state="MA", at_home=True)
    services.clinician_joins(visit=visit, user=world.clinician)
    return services.admit(visit=visit, by=world.clinician)


def room_url(visit: Visit) -> str:
    return f"/visits/{visit.pk}/room/"


# --- Who admitted the patient (the clinician billed) ---------------------------------------


@pytest.mark.django_db
def test_admission_records_who_admitted_and_billing_renders_them(world, video_type):
    colleague = second_clinician(world, "MA")
    visit = make_visit(world, video_type)  # booked with Dr Alpha
    services.patient_arrives(visit=visit)
    services.location_confirm(visit=visit, state="MA", at_home=True)
    assert selectors.rendering_clinician(visit) == world.clinician.provider  # not admitted yet
    services.clinician_joins(visit=visit, user=colleague)
    services.admit(visit=visit, by=colleague)
    visit.refresh_from_db()
    assert visit.admitted_by == colleague
    assert selectors.rendering_clinician(visit) == colleague.provider
    services.admit(visit=visit, by=world.clinician)  # a readmission does not change it
    visit.refresh_from_db()
    assert visit.admitted_by == colleague
