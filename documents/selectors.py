"""Reads of shared documents, scoped to the acting user (the rule is in the package
docstring). `access_document` is the one door to a document and its file: 404 to anyone else."""

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.shortcuts import get_object_or_404
from django.utils import timezone

from documents.models import Kind, LibraryItem, SharedDocument
from scheduling.models import ACTIVE_STATUSES, Appointment, AppointmentType
from scheduling.selectors import appointments_visible_to
from telehealth.accounts.models import CareTeamMember, Patient, Provider, Role, User
from telehealth.accounts.selectors import patients_visible_to


def kinds_shareable_by(user: User) -> list[str]:
    """The kinds this user may share, see and withdraw (patients: none)."""
    if not user.is_authenticated or user.practice_id is None:
        return []
    if user.role == Role.CLINICIAN:
        return list(Kind.values)
    if user.role in (Role.FRONT_DESK, Role.PRACTICE_ADMIN):
        return [Kind.EDUCATION]
    return []


def may_manage_library(user: User) -> bool:
    return user.role in (Role.CLINICIAN, Role.PRACTICE_ADMIN) and user.practice_id is not None


def documents_visible_to(user: User) -> QuerySet[SharedDocument]:
    documents = SharedDocument.objects.select_related("patient", "library_item", "shared_by")
    if not user.is_authenticated or not user.is_active:
        return documents.none()
    if user.role == Role.PATIENT:
        return documents.filter(patient__user=user, withdrawn_at__isnull=True)
    kinds = kinds_shareable_by(user)
    if not kinds or user.practice_id is None:
        return documents.none()
    return documents.filter(
        practice_id=user.practice_id, patient__in=patients_visible_to(user), kind__in=kinds
    )


def access_document(*, user: User, document_id: int) -> SharedDocument:
    return get_object_or_404(documents_visible_to(user), pk=document_id)


def patient_documents(*, user: User, patient: Patient) -> QuerySet[SharedDocument]:
    """One patient's documents this user may see, newest first (withdrawn ones included for
    staff: the chart shows what was sent and taken back)."""
    return documents_visible_to(user).filter(patient=patient).order_by("-shared_at", "-pk")


def my_documents(*, user: User) -> QuerySet[SharedDocument]:
    return (
        documents_visible_to(user)
        .select_related("shared_by__provider")
        .order_by("-shared_at", "-pk")
    )


def unopened_count(*, user: User) -> int:
    return documents_visible_to(user).filter(first_opened_at__isnull=True).count()


def library_visible_to(user: User) -> QuerySet[LibraryItem]:
    if not user.is_authenticated or user.role == Role.PATIENT or user.practice_id is None:
        return LibraryItem.objects.none()
    return LibraryItem.objects.filter(practice_id=user.practice_id)


def library_offered_to(user: User) -> QuerySet[LibraryItem]:
    """The items that may be shared now: retired ones are not offered."""
    return library_visible_to(user).filter(retired_at__isnull=True)


def access_library_item(*, user: User, item_id: int) -> LibraryItem:
    return get_object_or_404(library_visible_to(user), pk=item_id)


def providers_of_practice(user: User) -> QuerySet[Provider]:
    if user.practice_id is None:
        return Provider.objects.none()
    return Provider.objects.filter(practice_id=user.practice_id, is_active=True)


def appointment_types_of_practice(user: User) -> QuerySet[AppointmentType]:
    if user.practice_id is None:
        return AppointmentType.objects.none()
    return AppointmentType.objects.filter(practice_id=user.practice_id).order_by("name")


def share_candidates(
    *,
    user: User,
    item: LibraryItem,
    query: str = "",
    provider: Provider | None = None,
    visit_type: AppointmentType | None = None,
) -> QuerySet[Patient]:
    """Patients this user may share `item` with, by name, by provider (the provider's care
    team) and by an upcoming visit of a type, each annotated `has_item` (an active share of
    it already). Patients without a portal account are listed too: the page says why they
    are skipped."""
    patients = patients_visible_to(user).filter(practice_id=item.practice_id)
    query = query.strip()
    if query:
        patients = patients.filter(
            Q(legal_name__icontains=query) | Q(preferred_name__icontains=query)
        )
    if provider is not None:
        patients = patients.filter(
            Exists(
                CareTeamMember.objects.filter(clinician_id=provider.user_id, patient=OuterRef("pk"))
            )
        )
    if visit_type is not None:
        patients = patients.filter(
            Exists(
                Appointment.objects.filter(
                    patient=OuterRef("pk"),
                    appointment_type=visit_type,
                    start__gte=timezone.now(),
                    status__in=ACTIVE_STATUSES,
                )
            )
        )
    shared = SharedDocument.objects.filter(
        patient=OuterRef("pk"), library_item=item, withdrawn_at__isnull=True
    )
    return patients.annotate(has_item=Exists(shared)).order_by("legal_name", "pk")


def appointments_to_attach(*, user: User, patient: Patient) -> QuerySet[Appointment]:
    """The patient's appointments a document may be filed under, newest first."""
    return appointments_visible_to(user).filter(patient=patient).order_by("-start")
