"""The schedule in the FHIR API: the mappers telehealth.fhir serves, registered in
SchedulingConfig.ready. scheduling.fhir builds and scopes; scheduling.fhir_writes books and
cancels."""

from fhir.resources.R4B.appointment import Appointment as FhirAppointment
from fhir.resources.R4B.practitionerrole import PractitionerRole
from fhir.resources.R4B.schedule import Schedule
from fhir.resources.R4B.slot import Slot

from scheduling import fhir, fhir_writes
from telehealth.fhir import registry
from telehealth.fhir.registry import DATE, REFERENCE, TOKEN, Mapper, SearchParam

practitioner_role_mapper = Mapper(
    resource_type="PractitionerRole",
    model=PractitionerRole,
    lookup=fhir.practitioner_role_lookup,
    to_fhir=fhir.practitioner_role_to_fhir,
    search=fhir.practitioner_role_search,
    params={
        "practitioner": SearchParam(REFERENCE, "The provider (Practitioner/id)"),
        "organization": SearchParam(REFERENCE, "The practice (Organization/id)"),
        "active": SearchParam(TOKEN, "true or false"),
    },
)

schedule_mapper = Mapper(
    resource_type="Schedule",
    model=Schedule,
    lookup=fhir.schedule_lookup,
    to_fhir=fhir.schedule_to_fhir,
    search=fhir.schedule_search,
    params={
        "actor": SearchParam(REFERENCE, "The provider (Practitioner/id or PractitionerRole/id)"),
        "active": SearchParam(TOKEN, "true: the provider and the visit type are both active"),
        "date": SearchParam(DATE, "Overlaps the planning horizon (notice … booking horizon)"),
    },
)

slot_mapper = Mapper(
    resource_type="Slot",
    model=Slot,
    lookup=fhir.slot_lookup,
    to_fhir=fhir.slot_to_fhir,
    search=fhir.slot_search,
    params={
        "schedule": SearchParam(REFERENCE, "The schedule (Schedule/id)"),
        "start": SearchParam(
            DATE,
            f"Required, bounded on both sides and at most {fhir.MAX_SLOT_RANGE.days} days "
            "wide (e.g. start=ge2026-12-01&start=lt2026-12-08)",
        ),
        "status": SearchParam(TOKEN, "Only free slots are served"),
    },
)

appointment_mapper = Mapper(
    resource_type="Appointment",
    model=FhirAppointment,
    lookup=fhir.appointment_lookup,
    to_fhir=fhir.appointment_to_fhir,
    search=fhir.appointment_search,
    params={
        "identifier": SearchParam(TOKEN, "The practice's appointment number (system|value)"),
        "patient": SearchParam(REFERENCE, "The patient (Patient/id)"),
        "practitioner": SearchParam(REFERENCE, "The provider (Practitioner/id)"),
        "actor": SearchParam(REFERENCE, "Patient/id, Practitioner/id or PractitionerRole/id"),
        "date": SearchParam(DATE, "The start"),
        "status": SearchParam(TOKEN, "FHIR appointment status (booked, cancelled, …)"),
    },
    last_updated="updated_at",
    phi_patient=lambda appointment: appointment.patient,
    patient_path="patient_id",
    includes={
        "Appointment:patient": fhir.include_patients,
        "Appointment:practitioner": fhir.include_practitioners,
    },
    create=fhir_writes.appointment_create,
    update=fhir_writes.appointment_update,
    version=fhir.version,
)


def register() -> None:
    for mapper in (practitioner_role_mapper, schedule_mapper, slot_mapper, appointment_mapper):
        registry.register(mapper)
