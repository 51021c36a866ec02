"""One example of every registered FHIR resource type, made in a given practice for its patient:
the rows the practice-isolation walk (tests/fhir/test_practice_isolation.py) and the access
matrix's FHIR entries (tests/core/test_access_matrix.py) read and search.

`MAKERS[resource_type](side)` writes what the type is served from and returns the resource's
logical id (with the mapper's id_prefix). A computed type (Slot) gets its underlying data, the
provider's availability, and the id of one of the free slots it yields. A type added to the
registry without a maker here fails `test_every_registered_type_has_a_row_maker`."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from telehealth.accounts.models import Patient, Practice, Provider, Role, User
from telehealth.fhir.registry import mapper_for
from tests.conftest import make_staff

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
PHQ9_ANSWERS = {
    **{f"phq9-{n}": ["LA6569-3"] for n in range(1, 10)},
    "phq9-difficulty": ["LA6573-5"],
}
# Slots are looked for on this day (a Slot search needs a bounded window): far enough ahead
# for the minimum notice, within the booking horizon.
SLOT_DAYS_AHEAD = 3


@dataclass
class Side:
    """A practice with a patient on its clinician's care team, the clinician's provider
    record, and a practice admin."""

    practice: Practice
    patient: Patient
    clinician: User
    provider: Provider
    admin: User


def side_a(world) -> Side:
    return Side(
        world.practice, world.patient, world.clinician, world.clinician.provider, world.admin
    )


def side_b(world) -> Side:
    """Practice B as the world has it, with the provider record and admin it lacks."""
    practice = world.outside_practice
    clinician = world.outside_clinician
    provider = Provider.objects.filter(user=clinician).first() or Provider.objects.create(
        user=clinician,
        practice=practice,
        slug="beta-doc",
        display_name="Dr Beta",
        npi="1987654328",
        licensed_states=["MA"],
        time_zone="America/New_York",
    )
    admin = User.objects.filter(practice=practice, role=Role.PRACTICE_ADMIN).first()
    if admin is None:
        admin = make_staff(practice, Role.PRACTICE_ADMIN, "admin@beta.test", "Beta Admin")
    return Side(practice, world.outside_patient, clinician, provider, admin)


def slot_day() -> date:
    return datetime.now(UTC).date() + timedelta(days=SLOT_DAYS_AHEAD)


def slot_window() -> tuple[str, str]:
    """The `start` parameters of a Slot search that finds the slots the Slot maker opens."""
    day = slot_day()
    return f"ge{day.isoformat()}", f"lt{(day + timedelta(days=1)).isoformat()}"


def _id(resource_type: str, row) -> str:
    mapper = mapper_for(resource_type)
    assert mapper is not None, resource_type
    return mapper.resource_id(row)


def _appointment_type(side: Side):
    from scheduling.models import AppointmentType, Modality

    kind, _ = AppointmentType.objects.get_or_create(
        practice=side.practice,
        slug="video",
        defaults={"name": "Video visit", "modality": Modality.VIDEO, "duration_minutes": 20},
    )
    kind.providers.add(side.provider)
    return kind


def _appointment(side: Side):
    from scheduling.models import Appointment

    # An hour after the provider's last one: PostgreSQL refuses overlapping appointments.
    taken = Appointment.objects.filter(provider=side.provider).count()
    start = timezone.now().replace(microsecond=0) + timedelta(days=10, hours=taken)
    return Appointment.objects.create(
        practice=side.practice,
        provider=side.provider,
        patient=side.patient,
        appointment_type=_appointment_type(side),
        start=start,
        end=start + timedelta(minutes=20),
        blocked_start=start,
        blocked_end=start + timedelta(minutes=20),
        modality="video",
        booked_via="staff",
        patient_state="MA",
    )


def appointment(side: Side) -> str:
    return _id("Appointment", _appointment(side))


def claim(side: Side) -> str:
    """A signed visit encounter: a claim once signed (billing.selectors.superbills_for)."""
    from billing.models import ClaimLine, EncounterDiagnosis
    from billing.models import Encounter as BillingEncounter
    from visits.models import Visit

    visit = Visit.objects.create(
        practice=side.practice, patient=side.patient, provider=side.provider
    )
    encounter = BillingEncounter.objects.create(
        practice=side.practice,
        patient=side.patient,
        kind=BillingEncounter.Kind.VISIT,
        source=f"visit:{visit.pk}",
        visit=visit,
        rendering_provider=side.provider,
        date_of_service=date(2026, 3, 2),
        minutes=25,
        modality=BillingEncounter.Modality.VIDEO,
        patient_state="MA",
        patient_at_home=True,
        status=BillingEncounter.Status.SIGNED,
        signed_by=side.clinician,
        signed_at=datetime(2026, 3, 2, 16, tzinfo=UTC),
    )
    EncounterDiagnosis.objects.create(
        encounter=encounter, position=1, code="R21", description="Rash"
    )
    ClaimLine.objects.create(
        encounter=encounter,
        position=1,
        code="99213",
        modifiers=["95"],
        place_of_service="10",
        charge=Decimal("120.00"),
        diagnosis_pointers=[1],
    )
    return _id("Claim", encounter)


def communication(side: Side) -> str:
    from messaging import services

    _thread, message = services.thread_start(
        patient=side.patient,
        subject="Rash on my arm",
        body="It itches since Monday.",
        category="clinical",
        by=side.patient.user,
    )
    return _id("Communication", message)


def _signature(side: Side):
    from intake import services
    from intake.models import ConsentDocument

    services.install_builtin(side.practice)
    version = ConsentDocument.objects.get(practice=side.practice, slug="telehealth").current
    assert version is not None
    return services.consent_sign(
        patient=side.patient, consent=version, signer_name=side.patient.legal_name
    )


def consent(side: Side) -> str:
    return _id("Consent", _signature(side))


def document_reference(side: Side) -> str:
    return _id("DocumentReference", _signature(side))  # "consent-<pk>": the mapper's prefix


def coverage(side: Side) -> str:
    from intake import services

    card = services.insurance_card_save(
        patient=side.patient,
        data={
            "payer": "Blue Cross Blue Shield",
            "member_id": "XYZ123456",
            "group_number": "GRP-77",
            "subscriber_name": side.patient.legal_name,
            "relationship": "self",
        },
        front=SimpleUploadedFile("front.png", PNG, "image/png"),
    )
    return _id("Coverage", card)


def encounter(side: Side) -> str:
    from visits import services

    return _id("Encounter", services.visit_for_appointment(_appointment(side)))


def observation(side: Side) -> str:
    from rpm import services
    from rpm.models import Reading

    services.enroll(
        patient=side.patient,
        program="hypertension",
        clinicians=[side.clinician],
        by=side.clinician,
    )
    device, _token = services.device_create(
        patient=side.patient, kind="pulse_oximeter", by=side.clinician, serial="SN-1"
    )
    reading = Reading.objects.create(
        patient=side.patient,
        device=device,
        vital="heart_rate",
        value=71,
        measured_at=timezone.now().replace(microsecond=0) - timedelta(hours=1),
    )
    return _id("Observation", reading)


def organization(side: Side) -> str:
    return _id("Organization", side.practice)


def patient(side: Side) -> str:
    return _id("Patient", side.patient)


def practitioner(side: Side) -> str:
    return _id("Practitioner", side.provider)


def practitioner_role(side: Side) -> str:
    return _id("PractitionerRole", side.provider)


def _form(side: Side):
    from intake import services
    from intake.models import Form

    services.install_builtin(side.practice)
    return Form.objects.get(practice=side.practice, slug="phq-9")


def questionnaire(side: Side) -> str:
    version = _form(side).current
    assert version is not None
    return _id("Questionnaire", version)


def questionnaire_response(side: Side) -> str:
    from intake import services

    response = services.response_for(patient=side.patient, form=_form(side))
    services.response_save(response=response, raw=PHQ9_ANSWERS, complete=True)
    return _id("QuestionnaireResponse", response)


def _offering(side: Side):
    from scheduling.selectors import ProviderOffering

    kind = _appointment_type(side)
    return ProviderOffering.objects.get(provider=side.provider, appointmenttype=kind)


def schedule(side: Side) -> str:
    return _id("Schedule", _offering(side))


def slot(side: Side) -> str:
    """Slots are computed from availability: open the provider's day, return its first slot."""
    from scheduling.fhir import FreeSlot
    from scheduling.models import AvailabilityRule
    from scheduling.selectors import open_slots

    offering = _offering(side)
    for weekday in range(7):  # 8:00 to 18:00 in New York: within one UTC day
        AvailabilityRule.objects.get_or_create(
            provider=side.provider, weekday=weekday, start_time=time(8), end_time=time(18)
        )
    low = datetime.combine(slot_day(), time(0), tzinfo=UTC)
    found = open_slots(
        provider=side.provider,
        appointment_type=offering.appointmenttype,
        start=low,
        end=low + timedelta(days=1),
    )
    assert found.starts, "the availability opened no slot"
    return FreeSlot(offering, found.starts[0]).id


MAKERS: dict[str, Callable[[Side], str]] = {
    "Appointment": appointment,
    "Claim": claim,
    "Communication": communication,
    "Consent": consent,
    "DocumentReference": document_reference,
    "Coverage": coverage,
    "Encounter": encounter,
    "Observation": observation,
    "Organization": organization,
    "Patient": patient,
    "Practitioner": practitioner,
    "PractitionerRole": practitioner_role,
    "Questionnaire": questionnaire,
    "QuestionnaireResponse": questionnaire_response,
    "Schedule": schedule,
    "Slot": slot,
}


def search_params(resource_type: str) -> dict:
    """The parameters a search of the type cannot go without."""
    return {"start": list(slot_window())} if resource_type == "Slot" else {}
