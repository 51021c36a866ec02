"""Reads of people: every query of patients goes through these, scoped to the acting user."""

import operator
from datetime import date, datetime
from functools import reduce

from django.db.models import BooleanField, Exists, ExpressionWrapper, OuterRef, Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django_otp import device_classes

from telehealth.accounts.models import (
    BreakGlassGrant,
    CareTeamMember,
    Patient,
    Practice,
    Provider,
    Role,
    User,
)
from telehealth.accounts.policy import CONFIRMED_DEVICE_ATTR
from telehealth.audit.models import AuditEvent


class BreakGlassRequired(Exception):
    """A clinician of the patient's practice, outside the care team, asked for the chart."""

    def __init__(self, patient: Patient):
        self.patient = patient


def _active_grants(user: User):
    return BreakGlassGrant.objects.filter(
        clinician=user, patient=OuterRef("pk"), expires_at__gt=timezone.now()
    )


def patients_visible_to(user: User) -> QuerySet[Patient]:
    """Patients whose demographics this user may see.

    Patients: themselves. Clinicians: their care team's patients and any under an active
    emergency grant. Front desk and admins: their practice's patients."""
    patients = Patient.objects.all()
    if not user.is_authenticated or not user.is_active:
        return patients.none()
    if user.role == Role.PATIENT:
        return patients.filter(user=user)
    if user.practice_id is None:
        return patients.none()
    patients = patients.filter(practice_id=user.practice_id)
    if user.role == Role.CLINICIAN:
        on_team = CareTeamMember.objects.filter(clinician=user, patient=OuterRef("pk"))
        return patients.filter(Q(Exists(on_team)) | Q(Exists(_active_grants(user))))
    if user.role in (Role.FRONT_DESK, Role.PRACTICE_ADMIN):
        return patients
    return patients.none()


def access_patient(*, user: User, patient_id: int) -> Patient:
    """The one door to a patient record: 404 for anyone who may not see it.

    A clinician of the same practice who is outside the care team gets BreakGlassRequired,
    so the view can offer emergency access instead of a dead end."""
    try:
        return get_object_or_404(patients_visible_to(user), pk=patient_id)
    except Http404:
        if user.is_authenticated and user.role == Role.CLINICIAN and user.practice_id:
            patient = Patient.objects.filter(pk=patient_id, practice_id=user.practice_id).first()
            if patient is not None:
                raise BreakGlassRequired(patient) from None
        raise


def active_break_glass(*, user: User, patient: Patient) -> BreakGlassGrant | None:
    return (
        BreakGlassGrant.objects.filter(
            clinician=user, patient=patient, expires_at__gt=timezone.now()
        )
        .order_by("-expires_at")
        .first()
    )


def break_glass_expiry(*, user: User, patient: Patient) -> datetime | None:
    """When the emergency access this user holds to the patient ends; None without one. A live
    view that may rest on it (a socket) re-checks access at that moment."""
    if user.role != Role.CLINICIAN:
        return None
    grant = active_break_glass(user=user, patient=patient)
    return grant.expires_at if grant is not None else None


def is_on_care_team(*, user: User, patient: Patient) -> bool:
    return CareTeamMember.objects.filter(clinician=user, patient=patient).exists()


def search_patients(*, user: User, query: str = "") -> QuerySet[Patient]:
    patients = patients_visible_to(user).select_related("practice")
    query = query.strip()
    if query:
        patients = patients.filter(
            Q(legal_name__icontains=query) | Q(preferred_name__icontains=query)
        )
    return patients.order_by("legal_name")


def break_glass_grants_for_review(*, user: User) -> QuerySet[BreakGlassGrant]:
    if user.role != Role.PRACTICE_ADMIN or user.practice_id is None:
        return BreakGlassGrant.objects.none()
    return BreakGlassGrant.objects.filter(patient__practice_id=user.practice_id).select_related(
        "clinician", "patient", "reviewed_by"
    )


def access_break_glass_grant(*, user: User, grant_id: int) -> BreakGlassGrant:
    return get_object_or_404(break_glass_grants_for_review(user=user), pk=grant_id)


def patient_audit_trail(*, user: User, patient_id: int) -> tuple[Patient, QuerySet[AuditEvent]]:
    """An accounting of disclosures: every recorded access to one patient. Admins only."""
    if user.role != Role.PRACTICE_ADMIN:
        raise Http404
    patient = access_patient(user=user, patient_id=patient_id)
    events = AuditEvent.objects.about_patient(patient).order_by("-occurred_at", "-id")
    return patient, events


def returning_patient(
    *, practice: Practice, date_of_birth: date, phone: str = "", email: str = ""
) -> Patient | None:
    """The practice's patient with this date of birth and this phone or email, for forms that
    anyone may fill in (booking, web chat). Contacts are matched only through their blind
    indexes; this is the one place that knows how."""
    probe = Patient(practice=practice)
    probe.set_contact(phone=phone, email=email)
    same_contact = Q()
    if probe.phone_index:
        same_contact |= Q(phone_index=probe.phone_index)
    if probe.email_index:
        same_contact |= Q(email_index=probe.email_index)
    if not same_contact:
        return None
    return (
        Patient.objects.filter(practice=practice, date_of_birth=date_of_birth)
        .filter(same_contact)
        .order_by("pk")
        .first()
    )


def practices_for_visitors(limit: int = 50) -> list[Practice]:
    """The practices a visitor to the sign-in page may book with, by name."""
    return list(Practice.objects.order_by("name")[:limit])


def email_in_use(email: str) -> bool:
    """Whether an account already signs in with this email (matched on its blind index)."""
    return User.objects.with_email(email).exists()


def _practice_id_of(user: User) -> int | None:
    """The practice a signed-in user works in or is a patient of."""
    if not user.is_authenticated or not user.is_active:
        return None
    if user.role == Role.PATIENT:
        patient = Patient.objects.filter(user=user).only("practice_id").first()
        return patient.practice_id if patient else None
    return user.practice_id


def providers_visible_to(user: User) -> QuerySet[Provider]:
    """The clinicians of the user's own practice (patients: the practice that cares for them)."""
    practice_id = _practice_id_of(user)
    if practice_id is None:
        return Provider.objects.none()
    return Provider.objects.filter(practice_id=practice_id).select_related("user")


def practices_visible_to(user: User) -> QuerySet[Practice]:
    """The user's own practice, the only one whose details they may read."""
    practice_id = _practice_id_of(user)
    if practice_id is None:
        return Practice.objects.none()
    return Practice.objects.filter(pk=practice_id)


def session_user(*, user_id) -> User | None:
    """The user a session names, with what every request then asks about, in one query: the
    practice (staff) or patient record and its practice (the time zone and language
    middleware), and whether they have a confirmed second factor (the MFA policy; see
    policy.has_confirmed_device)."""
    confirmed_device = reduce(
        operator.or_,
        (
            Q(Exists(model.objects.filter(user=OuterRef("pk"), confirmed=True)))
            for model in device_classes()
        ),
    )
    return (
        User.objects.select_related("practice", "patient__practice")
        .annotate(
            **{
                CONFIRMED_DEVICE_ATTR: ExpressionWrapper(
                    confirmed_device, output_field=BooleanField()
                )
            }
        )
        .filter(pk=user_id)
        .first()
    )
